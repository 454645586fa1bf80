"""bark-clone serve: a FastAPI service (and one web page) over the same pipeline as the CLI."""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import shutil
import tempfile
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .errors import UserError
from .service import InFlight, JobQueue, ModelHub, QueueFull, ServiceConfig, WavCache

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
UPLOAD_CHUNK = 1 << 20


class ApiError(Exception):
    """An error response: its status and a message for people; every error body is {"error": message}."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, " ".join(str(message).split()), headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Service:
    """The state behind the routes: configuration, models, queue, cache and the speakers folder."""

    def __init__(self, config: ServiceConfig, hub: ModelHub | None = None) -> None:
        self.config = config
        self.hub = hub or ModelHub(config)
        self.jobs = JobQueue(config.workers, config.queue_size)
        self.cache = WavCache(config.cache, config.cache_bytes)
        self.in_flight = InFlight()
        self.names = threading.Lock()  # "does it exist" and "write it" happen together
        config.speakers.mkdir(parents=True, exist_ok=True)

    def checked_name(self, name: str) -> str:
        if not NAME.match(name):
            raise ApiError(400, "a speaker name is 1-64 letters, digits, '-' or '_', starting with a letter or digit")
        return name

    def paths(self, name: str) -> tuple[Path, Path]:
        base = self.config.speakers / self.checked_name(name)
        return base.with_suffix(".npz"), base.with_suffix(".json")

    def existing(self, name: str) -> tuple[Path, Path]:
        npz, sidecar = self.paths(name)
        if not npz.exists():
            raise ApiError(404, f"no speaker named {name!r}")
        return npz, sidecar

    async def run(self, function, key: str | None = None) -> Any:
        """Do model work on the worker pool; 429 when the queue is full; UserError -> 400."""
        try:
            future = (self.in_flight.get_or_submit(key, lambda: self.jobs.submit(function)) if key is not None
                      else self.jobs.submit(function))
        except QueueFull:
            raise ApiError(429, "the server is busy; retry shortly",
                           {"Retry-After": str(self.config.retry_after_seconds)}) from None
        try:
            return await asyncio.wrap_future(future)
        except UserError as error:
            raise ApiError(400, str(error)) from None


def create_app(config: ServiceConfig, hub: ModelHub | None = None) -> FastAPI:
    """The FastAPI application; ``hub`` lets tests share already-built models."""
    service = Service(config, hub)
    app = FastAPI(title="bark-clone", version=__version__,
                  description="Make Bark speaker prompts from recordings and hear Bark speak with them.")
    app.state.service = service

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.message, error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}"
                             for item in error.errors())
        return error_response(422, f"invalid request: {problems}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        return error_response(500, f"internal error: {type(error).__name__}")

    def authorised(request: Request) -> None:
        if config.token is None:
            return
        supplied = request.headers.get("authorization", "")
        if not hmac.compare_digest(supplied.encode(), f"Bearer {config.token}".encode()):
            raise ApiError(401, "missing or wrong bearer token (send Authorization: Bearer TOKEN)",
                           {"WWW-Authenticate": "Bearer"})

    api = APIRouter(dependencies=[Depends(authorised)])

    @api.post("/speakers", status_code=201, summary="Make a speaker from a recording")
    async def create_speaker(request: Request, audio: UploadFile = File(...), name: str = Form(...),
                             max_seconds: float = Form(config.max_prompt_seconds, gt=0, le=60),
                             normalize: bool = Form(True)) -> JSONResponse:
        npz, _ = service.paths(name)
        if npz.exists():
            raise ApiError(409, f"a speaker named {name!r} already exists")
        declared = int(request.headers.get("content-length") or 0)
        if declared > config.max_upload_bytes + 64 * 1024:
            raise ApiError(413, f"the upload is larger than {config.max_upload_bytes // (1024 * 1024)} MB")
        upload = await receive_upload(audio, config)
        try:
            client_name = Path(audio.filename or "upload").name
            sidecar = await service.run(lambda: make_speaker_job(service, name, upload, client_name, max_seconds,
                                                                 normalize))
        finally:
            shutil.rmtree(upload.parent, ignore_errors=True)
        return JSONResponse({"name": name, **sidecar}, status_code=201)

    @api.get("/speakers", summary="List speakers with their metadata")
    async def list_speakers() -> dict[str, Any]:
        speakers = []
        for sidecar in sorted(config.speakers.glob("*.json")):
            if NAME.match(sidecar.stem) and sidecar.with_suffix(".npz").exists():
                speakers.append({"name": sidecar.stem, **json.loads(sidecar.read_text(encoding="utf-8"))})
        return {"speakers": speakers}

    @api.get("/speakers/{name}.npz", summary="Download a speaker prompt", response_class=FileResponse)
    async def download(name: str) -> FileResponse:
        npz, _ = service.existing(name)
        return FileResponse(npz, media_type="application/octet-stream", filename=f"{name}.npz")

    @api.get("/speakers/{name}", summary="A speaker's metadata")
    async def metadata(name: str) -> dict[str, Any]:
        _, sidecar = service.existing(name)
        return {"name": name, **json.loads(sidecar.read_text(encoding="utf-8"))}

    @api.delete("/speakers/{name}", status_code=204, summary="Delete a speaker")
    async def delete(name: str) -> Response:
        with service.names:
            npz, sidecar = service.existing(name)
            npz.unlink()
            sidecar.unlink(missing_ok=True)
        return Response(status_code=204)

    @api.get("/speakers/{name}/preview.wav", summary="Hear the prompt (EnCodec decode)",
             response_class=Response, responses={200: {"content": {"audio/wav": {}}}})
    async def preview(name: str) -> Response:
        npz, _ = service.existing(name)
        key = WavCache.key("preview", npz.read_bytes())
        data = service.cache.get(key)
        if data is None:
            data = await service.run(lambda: preview_job(service, npz, key), key)
        return Response(data, media_type="audio/wav")

    @api.get("/speak/{name}", summary="Bark speaks the text with this speaker", response_class=Response,
             responses={200: {"content": {"audio/wav": {}}}})
    async def speak(name: str, text: str = Query(..., min_length=1, max_length=config.max_text_characters),
                    seed: int = Query(0, ge=0, le=2**31 - 1)) -> Response:
        npz, _ = service.existing(name)
        if not text.strip():
            raise ApiError(400, "the text to speak is empty")
        key = WavCache.key("speak", npz.read_bytes(), text, str(seed), config.bark)
        data = service.cache.get(key)
        if data is not None:
            return Response(data, media_type="audio/wav", headers={"X-Cache": "hit"})
        data = await service.run(lambda: speak_job(service, npz, text, seed, key), key)
        return Response(data, media_type="audio/wav", headers={"X-Cache": "miss"})

    app.include_router(api)
    web = resources.files("bark_clone") / "web"

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse((web / "index.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(directory=str(web)), name="static")
    return app


async def receive_upload(audio: UploadFile, config: ServiceConfig) -> Path:
    """Copy the upload to a private temporary file, refusing (413) anything over the size limit."""
    suffix = Path(audio.filename or "").suffix.lower()
    suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".audio"
    folder = Path(tempfile.mkdtemp(prefix="bark-clone-upload-"))
    target = folder / f"upload{suffix}"
    received = 0
    with open(target, "wb") as handle:
        while chunk := await audio.read(UPLOAD_CHUNK):
            received += len(chunk)
            if received > config.max_upload_bytes:
                shutil.rmtree(folder, ignore_errors=True)
                raise ApiError(413, f"the upload is larger than {config.max_upload_bytes // (1024 * 1024)} MB")
            handle.write(chunk)
    if received == 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise ApiError(400, "the uploaded audio file is empty")
    return target


def make_speaker_job(service: Service, name: str, upload: Path, client_name: str, max_seconds: float,
                     normalize: bool) -> dict:
    """Worker side of POST /speakers: decode (400 if not audio), check the duration, make and write the prompt."""
    from .pipeline import analyse, make_speakers

    models = service.hub.speaker_models()
    try:
        recording = analyse(upload, models.vad, label=client_name)
    except UserError as error:  # the server's temporary path means nothing to the client
        raise UserError(str(error).replace(str(upload), client_name)) from None
    if recording.audio.duration > service.config.max_audio_seconds:
        raise ApiError(413, f"the recording lasts {recording.audio.duration:.0f} s; this server takes at most "
                            f"{service.config.max_audio_seconds:.0f} s")
    speaker = make_speakers([recording], models, max_seconds, normalize)[0]
    npz, sidecar = service.paths(name)
    with service.names:
        if npz.exists():
            raise ApiError(409, f"a speaker named {name!r} already exists")
        speaker.write(npz)
    return speaker.sidecar


def preview_job(service: Service, npz: Path, key: str) -> bytes:
    from .audio import wav_bytes
    from .constants import CODEC_SAMPLE_RATE
    from .models import encodec_decode
    from .prompt import SpeakerPrompt

    prompt = SpeakerPrompt.load(npz)
    data = wav_bytes(encodec_decode(service.hub.speaker_models().encodec, prompt.fine_codes), CODEC_SAMPLE_RATE)
    service.cache.put(key, data)
    return data


def speak_job(service: Service, npz: Path, text: str, seed: int, key: str) -> bytes:
    from .audio import wav_bytes
    from .bark import sample_rate, speak
    from .prompt import SpeakerPrompt

    bark = service.hub.bark()
    data = wav_bytes(speak(bark, SpeakerPrompt.load(npz), text, seed), sample_rate(bark))
    service.cache.put(key, data)
    return data

