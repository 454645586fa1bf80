"""Searches that outlive the request that started them: each one's progress is mirrored to a status file in
``<speakers>/.searches/`` that every process sharing the folder reads, and a stop marker beside it tells a search
running in another process (a Ray actor) that its speaker was deleted."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

from ..constants import MAX_SIDECAR_BYTES

SEARCHES = ".searches"
STOP_POLL_SECONDS = 0.5


def status_path(root: Path, name: str) -> Path:
    return Path(root) / SEARCHES / f"{name}.json"


def stop_path(root: Path, name: str) -> Path:
    return Path(root) / SEARCHES / f"{name}.stop"


class SharedStatus(dict):
    """A search's progress (``status``, ``step``, ``best_score``, ...), written to its status file at every update
    so that any replica can answer ``GET /speakers/{name}`` with it."""

    def __init__(self, path: Path, initial: dict[str, Any]) -> None:
        super().__init__(initial)
        self.path = path
        self.path.parent.mkdir(mode=0o700, exist_ok=True)
        self._write()

    def update(self, *args, **fields) -> None:  # type: ignore[override]
        super().update(*args, **fields)
        self._write()

    def _write(self) -> None:
        from ..files import json_bytes, write_files_atomically

        write_files_atomically({self.path: json_bytes(dict(self))}, force=True)


def read_status(root: Path, name: str) -> dict[str, Any] | None:
    """The status another process wrote for ``name``'s search, read as bounded data (None when there is none)."""
    from ..files import read_json_file

    document = read_json_file(status_path(root, name), MAX_SIDECAR_BYTES)
    return document if isinstance(document, dict) and isinstance(document.get("status"), str) else None


def forget(root: Path, name: str) -> None:
    for path in (status_path(root, name), stop_path(root, name)):
        with contextlib.suppress(OSError):
            path.unlink()


def ask_to_stop(root: Path, name: str) -> None:
    """Tell a search in another process to stop before its next candidate (its speaker was deleted)."""
    path = stop_path(root, name)
    if path.parent.is_dir():
        path.touch()


def watch_for_stop(root: Path, name: str, stop: threading.Event, done: threading.Event) -> threading.Thread:
    """A thread that sets ``stop`` once the stop marker appears, until ``done``."""
    def watch() -> None:
        while not done.wait(STOP_POLL_SECONDS):
            if stop_path(root, name).exists():
                stop.set()
                return

    thread = threading.Thread(target=watch, name=f"search-stop-{name}", daemon=True)
    thread.start()
    return thread
