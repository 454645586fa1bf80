"""OpenAI's audio API next to ours, so applications written for it work unchanged: ``POST /v1/audio/speech`` (any
speaker of this server, or a custom voice ``{"id": ...}``, in OpenAI's formats), custom voices made from a sample
plus a checked consent (``/v1/audio/voice_consents``, ``/v1/audio/voices``) and ``GET /v1/models``. Errors come in
OpenAI's shape (``guard.openai_error``); the bearer token is ``--token``."""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ..errors import ApiError, UserError
from .consents import check_label, consent_object
from .service import Service, get_service
from .speaking import AUDIO, answer_speak, requested_format, text_plan
from .uploads import checked_upload

router = APIRouter(prefix="/v1")
NO_RECOGNIZER = ("this server hears no consent statement, so it makes no custom voice: start it with a speech "
                 "recognizer (--asr MODEL, or --check-words with the default one cached), or with "
                 "--consent-without-words to make voices without that check (docs/openai.md says what it gives up)")
MODEL_ALIASES = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")  # OpenAI's names: each means this server's Bark


class VoiceId(BaseModel):
    id: str = Field(..., min_length=1, max_length=64)


class SpeechBody(BaseModel):
    """OpenAI's speech request. ``model`` is accepted and names this server's Bark whatever it says;
    ``instructions`` is accepted and ignored (Bark takes no style prompt); ``speed`` time-stretches, keeping pitch."""

    model: str = Field(..., min_length=1, max_length=200)
    input: str
    voice: str | VoiceId
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    instructions: str | None = Field(None, max_length=4096)
    stream_format: Literal["audio", "sse"] = "audio"


@router.get("/models", summary="OpenAI: the models this server answers to")
async def models(service: Service = Depends(get_service)) -> dict[str, Any]:
    source = service.config.bark.source  # a folder model by its folder's name: no server path in any answer
    names = (Path(source).name if Path(source).expanduser().exists() else source, *MODEL_ALIASES)
    return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "bark-clone"}
                                       for name in names]}


@router.post("/audio/speech", summary="OpenAI: speech from text", response_class=Response, responses=AUDIO)
async def speech(body: SpeechBody, service: Service = Depends(get_service)) -> Response:
    if body.stream_format == "sse":
        raise ApiError(400, "stream_format sse is not offered; use audio (the bytes are streamed as they are made)")
    name = body.voice.id if isinstance(body.voice, VoiceId) else body.voice
    try:
        plan = text_plan(service, name, body.input, 0)
    except ApiError as error:  # OpenAI answers a too-long input with 400, as its clients expect
        raise ApiError(400 if error.status == 413 else error.status, error.message) from None
    finish = None if body.speed == 1.0 else (lambda samples: stretched(samples, body.speed))
    return await answer_speak(service, plan, stream=True, fmt=requested_format(body.response_format),
                              finish=finish, variant=f"speed={body.speed}")


def stretched(samples, speed: float):
    """Faster or slower by ``speed`` at the same pitch (librosa's phase vocoder time-stretch)."""
    import librosa
    import numpy as np

    return librosa.effects.time_stretch(np.asarray(samples, np.float32), rate=speed).astype(np.float32)


@router.post("/audio/voice_consents", summary="OpenAI: keep a consent recording")
async def create_consent(recording: UploadFile = File(...), name: str = Form(...), language: str = Form(...),
                         service: Service = Depends(get_service)) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    from ..speaking.consent import CONSENT_MAX_SECONDS, check_consent_recording
    from .jobs import client_errors

    check_label(name, language)
    upload = await checked_upload(recording, service)
    try:
        with client_errors(upload, Path(recording.filename or "recording").name, CONSENT_MAX_SECONDS):
            await run_in_threadpool(check_consent_recording, upload)  # decodable, whole, not silent, not too long
        return consent_object(service.consents.create(upload, name, language))
    finally:
        shutil.rmtree(upload.parent, ignore_errors=True)


@router.get("/audio/voice_consents/{consent_id}", summary="OpenAI: a consent recording")
async def get_consent(consent_id: str, service: Service = Depends(get_service)) -> dict[str, Any]:
    return consent_object(service.consents.get(consent_id))


class ConsentUpdate(BaseModel):
    name: str = Field(..., min_length=1, max_length=256)


@router.post("/audio/voice_consents/{consent_id}", summary="OpenAI: rename a consent recording")
async def update_consent(consent_id: str, body: ConsentUpdate, service: Service = Depends(get_service)
                         ) -> dict[str, Any]:
    return consent_object(service.consents.rename(consent_id, body.name))


@router.get("/audio/voice_consents", summary="OpenAI: the consent recordings, oldest first")
async def list_consents(after: str | None = Query(None, max_length=64), limit: int = Query(20, ge=1, le=100),
                        service: Service = Depends(get_service)) -> dict[str, Any]:
    documents, more = service.consents.listed(after, limit)
    data = [consent_object(document) for document in documents]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": more}


@router.delete("/audio/voice_consents/{consent_id}", summary="OpenAI: delete a consent recording, and retire the "
               "voices made with it")
async def delete_consent(consent_id: str, service: Service = Depends(get_service)) -> dict[str, Any]:
    service.consents.delete(consent_id)
    for name in service.speakers.names():  # a withdrawn consent ends its voices (they 404 even if one is missed)
        if service.speakers.consent_id(name) == consent_id:
            remove_voice(service, name)
    return {"id": consent_id, "deleted": True, "object": "audio.voice_consent"}


def remove_voice(service: Service, voice_id: str) -> None:
    """Delete a custom voice (404 for any other speaker, which stays untouched) and stop what speaks it."""
    service.speakers.delete(voice_id, custom_voice=True)
    service.cancel_search(voice_id)
    service.stop_streams(voice_id)


@router.post("/audio/voices", summary="OpenAI: a custom voice from a sample and a checked consent")
async def create_voice(audio_sample: UploadFile = File(...), consent: str = Form(..., max_length=64),
                       name: str = Form(...), type: str = Form("audio_sample"),
                       service: Service = Depends(get_service)) -> JSONResponse:
    if type != "audio_sample":
        raise ApiError(400, "only voices from an audio_sample are made here (Bark takes no text prompt for a voice)")
    check_label(name)
    document = service.consents.get(consent)
    if not service.config.consent_without_words and service.hub.words() is None:
        raise ApiError(400, NO_RECOGNIZER)
    upload = await checked_upload(audio_sample, service)
    voice_id = "voice_" + secrets.token_hex(12)
    try:
        created = await service.run(lambda: voice_job(service, voice_id, name, upload, document))
    finally:
        shutil.rmtree(upload.parent, ignore_errors=True)
    return JSONResponse({"id": voice_id, "object": "audio.voice", "created_at": created, "name": name,
                         "type": "audio_sample"})


def voice_job(service: Service, voice_id: str, name: str, sample: Path, consent: dict[str, Any]) -> int:
    """Worker side of a custom voice: the consent checked against the sample, then make-speaker, the checks and
    the voice's name kept in the speaker's metadata. Returns its creation time."""
    from ..prompting.pipeline import analyse, make_speakers
    from ..speaking.consent import check_consent

    models = service.hub.speaker_models()
    words = service.hub.words()
    recording = service.consents.recording(consent["id"])
    try:
        checked = check_consent(recording, sample, models.voice, consent["language"],
                                words.recognizer if words is not None else None,
                                words_required=not service.config.consent_without_words)
        analysed = analyse(sample, models.vad, label="audio_sample", max_seconds=service.config.max_audio_seconds)
    except UserError as error:
        raise ApiError(400, str(error)) from None
    speaker = make_speakers([analysed], models, service.config.max_prompt_seconds)[0]
    created = int(time.time())
    speaker.sidecar.update(consent={"id": consent["id"], "name": consent["name"], **checked},
                           openai={"name": name, "created_at": created, "type": "audio_sample"})
    service.speakers.write(voice_id, speaker)
    return created


@router.delete("/audio/voices/{voice_id}", summary="OpenAI: delete a custom voice that this route made (its consent "
               "stays)")
async def delete_voice(voice_id: str, service: Service = Depends(get_service)) -> dict[str, Any]:
    remove_voice(service, voice_id)
    return {"id": voice_id, "deleted": True, "object": "audio.voice.deleted"}
