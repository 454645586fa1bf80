"""The server's speakers folder: safe names, npz + json pairs that appear whole, repair after a crash, private
upload space, and sidecars without the server's own paths."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import ApiError, UserError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # a speaker's name, also its file name (matched whole)
UPLOADS = ".uploads"  # private to the server: uploads wait here for their job, and are removed after it
SEARCHES = ".search"  # a speaker's recording and search state while a search runs for it
LOCKS = ".locks"  # one lock file per speaker name: two processes never write the same speaker at once
PROCESS = f"{socket.gethostname()}-{os.getpid()}"  # uploads and searches live in a folder of their process
STALE_SECONDS = 300  # a temporary file or lone sidecar this old was left by a crash, not by a replica mid-write


def valid_name(name: str) -> bool:
    return NAME.fullmatch(name) is not None


def public_document(value: Any) -> Any:
    """A sidecar as a client may see it: every absolute path (a model folder, a source file) cut to its last part."""
    if isinstance(value, dict):
        return {key: public_document(item) for key, item in value.items()}
    if isinstance(value, list):
        return [public_document(item) for item in value]
    if isinstance(value, str) and os.path.isabs(value) and len(value) > 1:
        return Path(value).name
    return value


class SpeakerFolder:
    """``<name>.npz`` + ``<name>.json`` pairs. The json is written first and the npz last, so an npz marks a
    complete speaker; ``repair`` removes what a crash left half-written."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.lock = threading.Lock()  # "does it exist" and "write it" happen together
        self.root.mkdir(parents=True, exist_ok=True)

    def paths(self, name: str) -> tuple[Path, Path]:
        if not valid_name(name):
            raise ApiError(400, "a speaker name is 1-64 letters, digits, '-' or '_', starting with a letter or digit")
        base = self.root / name
        return base.with_suffix(".npz"), base.with_suffix(".json")

    def existing(self, name: str) -> tuple[Path, Path]:
        """The speaker's prompt and sidecar: ``NAME.npz`` and ``NAME.json``, or a voice folder ``NAME/``'s own."""
        npz, sidecar = self.paths(name)
        if not npz.is_file() and self.is_voice(name):
            if not (self.root / name / "prompt.npz").is_file():
                raise ApiError(400, f"speaker {name!r} is a voice folder without its prompt.npz")
            return self.root / name / "prompt.npz", self.root / name / "prompt.json"
        if not npz.is_file():
            raise ApiError(404, f"no speaker named {name!r}")
        return npz, sidecar

    def has(self, name: str) -> bool:
        """Whether a speaker ``name`` (a prompt or a voice folder) is in the folder."""
        return valid_name(name) and (self.paths(name)[0].is_file() or self.is_voice(name))

    def is_voice(self, name: str) -> bool:
        """A voice folder (train-voice's, copied into the speakers folder): a prompt with its adapters."""
        from ..voices.folder import is_voice_folder

        return valid_name(name) and is_voice_folder(self.root / name)

    def read_voice(self, name: str):
        """The speaker's voice folder, checked (``Voice``), or None for a plain prompt; 400 for a broken one."""
        from ..voices.folder import load_voice

        if not self.is_voice(name) or self.paths(name)[0].is_file():
            return None
        try:
            return load_voice(self.root / name)
        except UserError:
            raise ApiError(400, f"speaker {name!r} is a voice folder that cannot be used") from None

    def names(self) -> list[str]:
        prompts = {path.stem for path in self.root.glob("*.npz") if valid_name(path.stem) and path.is_file()}
        voices = {path.name for path in self.root.iterdir() if path.is_dir() and self.is_voice(path.name)}
        return sorted(prompts | voices)

    def metadata(self, name: str) -> dict[str, Any]:
        """The speaker's sidecar for clients (``{}`` when only the npz exists, e.g. one copied in by hand)."""
        from ..constants import MAX_SIDECAR_BYTES
        from ..files import read_json_file

        _, sidecar = self.existing(name)
        document = read_json_file(sidecar, MAX_SIDECAR_BYTES)
        return {"name": name, **public_document(document if isinstance(document, dict) else {})}

    def is_custom_voice(self, name: str) -> bool:
        """A plain speaker (not a voice folder) whose sidecar records OpenAI's voice creation."""
        from ..constants import MAX_SIDECAR_BYTES
        from ..files import read_json_file

        npz, sidecar = self.paths(name)
        if not npz.is_file():
            return False
        document = read_json_file(sidecar, MAX_SIDECAR_BYTES)
        return isinstance(document, dict) and isinstance(document.get("openai"), dict)

    def consent_id(self, name: str) -> str | None:
        """The consent a custom voice was made with (None for any other speaker)."""
        if not self.is_custom_voice(name):
            return None
        consent = self.metadata(name).get("consent")
        return str(consent.get("id")) if isinstance(consent, dict) and consent.get("id") else None

    def read_prompt(self, name: str):
        """The speaker's prompt; 404 (naming only the speaker) if it disappeared, e.g. deleted while queued."""
        from ..prompting.format import SpeakerPrompt

        npz, _ = self.existing(name)
        try:
            return SpeakerPrompt.load(npz)
        except UserError:
            if not npz.exists():
                raise ApiError(404, f"no speaker named {name!r}") from None
            raise ApiError(400, f"speaker {name!r} is not a usable prompt") from None

    def write(self, name: str, speaker) -> None:
        """Write the pair (409 if the name is taken): json first, npz last."""
        from ..files import json_bytes, write_files_atomically

        npz, sidecar = self.paths(name)
        with self.writing(name):
            if npz.exists():
                raise ApiError(409, f"a speaker named {name!r} already exists")
            write_files_atomically({sidecar: json_bytes(speaker.sidecar)}, force=True)
            write_files_atomically({npz: speaker.prompt.npz_bytes()}, force=False)

    def replace(self, name: str, prompt, sidecar: dict[str, Any]) -> bool:
        """Give an existing speaker a new prompt and sidecar (a search's result); False if it was deleted."""
        from ..files import json_bytes, write_files_atomically

        npz, path = self.paths(name)
        with self.writing(name):
            if not npz.exists():
                return False
            write_files_atomically({path: json_bytes(sidecar)}, force=True)
            write_files_atomically({npz: prompt.npz_bytes()}, force=True)
            return True

    @contextlib.contextmanager
    def writing(self, name: str):
        """Hold ``name`` for writing, in this process and across processes sharing the folder (filelock): a
        speaker another process is writing is a 409 to retry, never two writers at once."""
        from filelock import FileLock, Timeout

        self.paths(name)  # the name is checked before it becomes a file name
        (self.root / LOCKS).mkdir(mode=0o700, exist_ok=True)
        lock = FileLock(self.root / LOCKS / f"{name}.lock")
        try:
            lock.acquire(timeout=5)
        except Timeout:
            raise ApiError(409, f"speaker {name!r} is being written by another request; retry shortly") from None
        try:
            with self.lock:
                yield
        finally:
            lock.release()

    def search_folder(self, name: str) -> Path:
        """A fresh private folder for one speaker's search (its recording and state)."""
        folder = self.root / SEARCHES / PROCESS / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, mode=0o700)
        return folder

    def delete(self, name: str, custom_voice: bool = False) -> None:
        """Remove a speaker: its pair, a link to a voice folder, or a voice folder holding only a voice's files.
        ``custom_voice``: only a voice that OpenAI's ``POST /v1/audio/voices`` made (its sidecar says so); anything
        else is a 404 and nothing is touched."""
        with self.writing(name):
            npz, sidecar = self.existing(name)
            if custom_voice and not self.is_custom_voice(name):
                raise ApiError(404, f"no custom voice with id {name!r}")
            if npz.parent != self.root and npz.parent.is_symlink():  # a link to a voice folder: only the link
                npz.parent.unlink()
                return
            if npz.parent != self.root:  # a voice folder goes whole, if it holds nothing but a voice's files
                from ..voices.folder import is_our_voice_folder

                if not is_our_voice_folder(npz.parent):
                    raise ApiError(409, f"speaker {name!r} is a folder holding other files too; remove it by hand")
                shutil.rmtree(npz.parent)
                return
            npz.unlink()  # the marker goes first: a crash here leaves an orphan json, which repair removes
            sidecar.unlink(missing_ok=True)

    def upload_folder(self) -> Path:
        """A new private folder for one upload, inside the speakers folder (never the shared temp folder)."""
        uploads = self.root / UPLOADS / PROCESS
        uploads.mkdir(mode=0o700, parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="upload-", dir=uploads))

    def repair(self) -> list[str]:
        """At start-up: drop what a killed server left: its uploads and searches (the folders of processes of this
        host that are gone), temporary files and json files without their npz (a pair whose writing was cut short)
        once they are stale, since other processes may share the folder and be writing now. Returns what was
        removed, for the log."""
        removed = []
        for private in (UPLOADS, SEARCHES):
            for folder in sorted((self.root / private).glob("*")) if (self.root / private).is_dir() else []:
                if not folder.is_symlink() and not alive(folder.name):
                    shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                (self.root / private).rmdir()  # gone when nothing else is in it
        old = time.time() - STALE_SECONDS
        for folder in (self.root, self.root / ".cache"):
            for path in folder.glob(".*.tmp"):
                if path.is_file() and not path.is_symlink() and path.stat().st_mtime < old:
                    path.unlink(missing_ok=True)
                    removed.append(path.name)
        for sidecar in self.root.glob("*.json"):  # only our files: a folder or link of that name is left alone
            if (sidecar.is_file() and not sidecar.is_symlink() and not sidecar.with_suffix(".npz").exists()
                    and sidecar.stat().st_mtime < old):
                sidecar.unlink(missing_ok=True)
                removed.append(sidecar.name)
        return removed


def alive(owner: str) -> bool:
    """Whether ``HOST-PID`` names a process still running on this host (other hosts' folders are theirs: alive).
    This process's own folder is not: a new service in it starts clean."""
    host, _, pid = owner.rpartition("-")
    if not pid.isdigit() or not host:
        return False  # not a process folder: an older server's upload
    if host != socket.gethostname():
        return True
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
