"""Consent recordings, as OpenAI's custom-voice API keeps them: ``cons_<hex>`` ids, each a private folder under
``<speakers>/.consents/`` with the recording and a small ``consent.json`` (name, language, created_at, and a
creation sequence that orders them strictly), written atomically and read back as bounded data."""

from __future__ import annotations

import re
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from ..constants import MAX_SIDECAR_BYTES
from ..errors import ApiError

CONSENTS = ".consents"
CONSENT_ID = re.compile(r"cons_[0-9a-f]{24}")
DOCUMENT = "consent.json"
MAX_LABEL = 256  # a consent's name, as OpenAI's API takes it
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}")  # BCP 47, as far as a consent needs


def consent_object(document: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's ``VoiceConsent``."""
    return {"id": document["id"], "object": "audio.voice_consent", "created_at": document["created_at"],
            "name": document["name"], "language": document["language"]}


def check_label(name: str, language: str | None = None) -> None:
    if not name.strip() or len(name) > MAX_LABEL or not name.isprintable():
        raise ApiError(400, f"name must be 1-{MAX_LABEL} printable characters")
    if language is not None and LANGUAGE_TAG.fullmatch(language) is None:
        raise ApiError(400, f"language {language[:40]!r} is not a BCP 47 tag such as en-US")


def sequence_of(document: dict[str, Any]) -> tuple[int, str]:
    """Where a consent stands in creation order (one written before sequences existed: by its second)."""
    sequence = document.get("sequence")
    if not isinstance(sequence, int) or isinstance(sequence, bool):
        created = document.get("created_at")
        sequence = created * 10**9 if isinstance(created, int) and not isinstance(created, bool) else 0
    return sequence, str(document.get("id"))


class ConsentStore:
    """The server's consent recordings: create, read, rename, list in creation order, delete."""

    def __init__(self, speakers_root: Path) -> None:
        self.root = Path(speakers_root) / CONSENTS
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.last_sequence = 0

    def exists(self, consent_id: str) -> bool:
        return CONSENT_ID.fullmatch(consent_id) is not None and (self.root / consent_id / DOCUMENT).is_file()

    def folder(self, consent_id: str) -> Path:
        if CONSENT_ID.fullmatch(consent_id) is None or not (self.root / consent_id / DOCUMENT).is_file():
            raise ApiError(404, f"no consent recording with id {consent_id[:64]!r}")
        return self.root / consent_id

    def create(self, recording: Path, name: str, language: str) -> dict[str, Any]:
        """Keep ``recording`` (moved in) under a new id; the document is written last and marks it complete."""
        from ..files import json_bytes, write_files_atomically

        check_label(name, language)
        consent_id = "cons_" + secrets.token_hex(12)
        folder = self.root / consent_id
        folder.mkdir(mode=0o700)
        shutil.move(str(recording), folder / f"recording{recording.suffix}")
        document = {"id": consent_id, "created_at": int(time.time()), "sequence": self.next_sequence(), "name": name,
                    "language": language}
        write_files_atomically({folder / DOCUMENT: json_bytes(document)}, force=False)
        return document

    def next_sequence(self) -> int:
        """Nanoseconds since the epoch, strictly increasing in this process: OpenAI's ``after`` paging walks the
        consents in this order (whole seconds tie, and a random id breaks a tie in any order)."""
        with self.lock:
            self.last_sequence = max(time.time_ns(), self.last_sequence + 1)
            return self.last_sequence

    def get(self, consent_id: str) -> dict[str, Any]:
        from ..files import read_json_file

        document = read_json_file(self.folder(consent_id) / DOCUMENT, MAX_SIDECAR_BYTES)
        if not isinstance(document, dict) or document.get("id") != consent_id:
            raise ApiError(404, f"no consent recording with id {consent_id!r}")
        return document

    def recording(self, consent_id: str) -> Path:
        found = [path for path in self.folder(consent_id).glob("recording*") if path.is_file()]
        if not found:
            raise ApiError(404, f"consent {consent_id} has no recording")
        return found[0]

    def rename(self, consent_id: str, name: str) -> dict[str, Any]:
        from ..files import json_bytes, write_files_atomically

        check_label(name)
        with self.lock:
            document = {**self.get(consent_id), "name": name}
            write_files_atomically({self.root / consent_id / DOCUMENT: json_bytes(document)}, force=True)
        return document

    def listed(self, after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` consents after the one named ``after``, oldest first; and whether more follow."""
        documents = []
        for folder in self.root.iterdir():
            if CONSENT_ID.fullmatch(folder.name):
                try:
                    documents.append(self.get(folder.name))
                except ApiError:  # deleted meanwhile, or half-written
                    pass
        documents.sort(key=sequence_of)
        ids = [document["id"] for document in documents]
        start = ids.index(after) + 1 if after in ids else 0
        return documents[start: start + limit], start + limit < len(documents)

    def delete(self, consent_id: str) -> None:
        folder = self.folder(consent_id)
        with self.lock:
            (folder / DOCUMENT).unlink(missing_ok=True)  # the marker first: a half-deleted consent is no consent
            shutil.rmtree(folder, ignore_errors=True)
