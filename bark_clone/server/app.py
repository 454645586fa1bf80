"""bark-clone serve: the HTTP routes (one module-level router over a ``Service``) and the web page."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..audio.sound import check_audio_header
from ..constants import MIN_SPEECH_SECONDS, VERSION
from ..errors import ApiError, client_message
from .cache import WavCache
from .guard import MULTIPART_OVERHEAD, OPENAI_PREFIX, SMALL_BODY_BYTES, RequestGuard, openai_error
from .jobs import client_errors, make_speaker_job, preview_job, search_job
from .openai_api import router as openai_router
from .searches import forget as forget_search
from .service import ModelHub, Service, ServiceConfig, get_service
from .speakers import public_document
from .speaking import MAX_SCRIPT_LINES, speak_cache_key  # noqa: F401 (speak_cache_key: part of this module's API)
from .speaking import router as speak_router
from .uploads import receive_upload

DEFAULTS = ServiceConfig()  # the form's documented defaults; each request is checked against its server's config


router = APIRouter()  # the token and body limits are checked in front of it, by guard.RequestGuard


@router.post("/speakers", status_code=201, summary="Make a speaker from a recording")
async def create_speaker(audio: UploadFile = File(...), name: str = Form(...),
                         max_seconds: float = Form(DEFAULTS.max_prompt_seconds, ge=MIN_SPEECH_SECONDS, le=60),
                         normalize: bool = Form(True),
                         search_minutes: float | None = Form(None, gt=0, le=120, description="Also search this many "
                                                             "minutes for a better prompt (status: searching)"),
                         service: Service = Depends(get_service)) -> JSONResponse:
    config = service.config
    npz, _ = service.speakers.paths(name)
    if npz.exists():
        raise ApiError(409, f"a speaker named {name!r} already exists")
    upload = await receive_upload(audio, config, service.speakers.upload_folder())
    try:
        client_name = Path(audio.filename or "upload").name
        with client_errors(upload, client_name, config.max_audio_seconds):  # the header, before any queueing
            check_audio_header(upload, config.max_audio_seconds)
        sidecar = await service.run(lambda: make_speaker_job(service, name, upload, client_name, max_seconds,
                                                             normalize))
        sidecar = public_document(sidecar)
        status = {"status": "ready"}
        forget_search(config.speakers, name)  # an earlier speaker of this name may have left its search's status
        if search_minutes is not None:  # the search keeps the recording in its own folder until it is done
            kept = service.speakers.search_folder(name) / upload.name
            shutil.move(str(upload), kept)
            search = service.start_search(name, lambda progress, stop: search_job(
                service, name, kept, client_name, search_minutes, progress, stop), kept.parent,
                (kept, client_name, search_minutes), minutes=search_minutes)
            status = {"status": "searching", "search": search}
    finally:
        shutil.rmtree(upload.parent, ignore_errors=True)
    return JSONResponse({"name": name, **sidecar, **status}, status_code=201)


@router.get("/speakers", summary="List speakers with their metadata")
async def list_speakers(service: Service = Depends(get_service)) -> dict[str, Any]:
    speakers = []
    for name in service.speakers.names():
        try:
            speakers.append(service.speakers.metadata(name))
        except ApiError:  # deleted while listing
            pass
    return {"speakers": speakers}


@router.get("/speakers/{name}.npz", summary="Download a speaker prompt", response_class=FileResponse)
async def download(name: str, service: Service = Depends(get_service)) -> FileResponse:
    npz, _ = service.speakers.existing(name)
    return FileResponse(npz, media_type="application/octet-stream", filename=f"{name}.npz")


@router.get("/speakers/{name}", summary="A speaker's metadata")
async def metadata(name: str, service: Service = Depends(get_service)) -> dict[str, Any]:
    metadata = service.speakers.metadata(name)
    search = service.search_status(name)
    if search is None:
        return {**metadata, "status": "ready"}
    return {**metadata, "status": search["status"], "search": dict(search)}


@router.delete("/speakers/{name}", status_code=204, summary="Delete a speaker")
async def delete(name: str, service: Service = Depends(get_service)) -> Response:
    service.speakers.delete(name)
    service.cancel_search(name)  # a queued or running search stops, and its private folder goes
    service.stop_streams(name)  # and so does every stream speaking it (each ends broken, not as a shorter WAV)
    return Response(status_code=204)


@router.get("/speakers/{name}/preview.wav", summary="Hear the prompt (its codes decoded)", response_class=Response,
            responses={200: {"content": {"audio/wav": {}}}})
async def preview(name: str, service: Service = Depends(get_service)) -> Response:
    npz, _ = service.speakers.existing(name)
    key = WavCache.key("preview", npz.read_bytes(), str(sorted(service.config.bark.audio_identity().items())))
    data = service.cache.get(key)
    if data is None:
        data = await service.run(lambda: preview_job(service, name, key), key)
    return Response(data, media_type="audio/wav")


def error_response(request: Request, status: int, message: str, headers: dict[str, str] | None = None,
                   param: str | None = None) -> JSONResponse:
    """Our errors are {"error": message}; OpenAI's routes answer in OpenAI's shape (422 becomes its 400). No server
    path reaches a client (``errors.client_message``)."""
    message = client_message(message)
    if request.url.path.startswith(OPENAI_PREFIX):
        status = 400 if status == 422 else status
        return JSONResponse(openai_error(status, message, param), status_code=status, headers=headers)
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def api_error(request: Request, error: ApiError) -> JSONResponse:
    return error_response(request, error.status, error.message, error.headers)


async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    return error_response(request, error.status_code, str(error.detail), getattr(error, "headers", None))


async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = "; ".join(f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}"
                         for item in error.errors())
    first = next(iter(error.errors()), {}).get("loc", ())
    return error_response(request, 422, f"invalid request: {problems}", param=str(first[-1]) if first else None)


async def unexpected(request: Request, error: Exception) -> JSONResponse:
    return error_response(request, 500, f"internal error: {type(error).__name__}")


WEB = resources.files(__package__) / "web"


async def page() -> HTMLResponse:
    return HTMLResponse((WEB / "index.html").read_text(encoding="utf-8"))


def body_limit(config: ServiceConfig, method: str, path: str) -> int:
    """The most bytes a request's body may hold: an upload's limit for POST /speakers, a little for the rest."""
    if method == "POST" and path in ("/speakers", "/v1/audio/voice_consents", "/v1/audio/voices"):
        return config.max_upload_bytes + MULTIPART_OVERHEAD
    if method == "POST" and path in ("/speak", "/v1/audio/speech"):  # JSON: up to 4 UTF-8 bytes a character, escaped, plus the fields
        return max(SMALL_BODY_BYTES, 12 * config.max_text_characters + 1024 + 160 * MAX_SCRIPT_LINES)
    return SMALL_BODY_BYTES


def create_app(config: ServiceConfig, hub: ModelHub | None = None) -> FastAPI:
    """The FastAPI application; ``hub`` lets tests share already-built models."""
    app = FastAPI(title="bark-clone", version=VERSION,
                  description="Make Bark speaker prompts from recordings and hear Bark speak with them.")
    app.state.service = Service(config, hub)
    for error_type, handler in ((ApiError, api_error), (StarletteHTTPException, http_error),
                                (RequestValidationError, invalid_request), (Exception, unexpected)):
        app.add_exception_handler(error_type, handler)
    app.include_router(router)
    app.include_router(speak_router)
    app.include_router(openai_router)
    app.add_middleware(RequestGuard, token=config.token, body_limit=lambda method, path: body_limit(config, method,
                                                                                                    path))
    app.add_api_route("/", page, response_class=HTMLResponse, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(WEB)), name="static")
    return app
