"""Uploaded audio: copied into a private folder of the server under its size limit, its header checked before any
model work is queued."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from fastapi import UploadFile

from ..errors import ApiError
from .service import Service, ServiceConfig

UPLOAD_CHUNK = 1 << 20


async def receive_upload(audio: UploadFile, config: ServiceConfig, folder: Path) -> Path:
    """Copy the upload into ``folder`` (private to the server), refusing (413) anything over the size limit."""
    suffix = Path(audio.filename or "").suffix.lower()
    suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".audio"
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


async def checked_upload(audio: UploadFile, service: Service) -> Path:
    """The upload in its own private folder (the caller removes ``path.parent``), its audio header checked: a file
    that is not audio, or too long, is a 400/413 naming only the client's file."""
    from ..audio.sound import check_audio_header
    from .jobs import client_errors

    upload = await receive_upload(audio, service.config, service.speakers.upload_folder())
    try:
        with client_errors(upload, Path(audio.filename or "upload").name, service.config.max_audio_seconds):
            check_audio_header(upload, service.config.max_audio_seconds)
    except BaseException:
        shutil.rmtree(upload.parent, ignore_errors=True)
        raise
    return upload
