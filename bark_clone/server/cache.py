"""The server's on-disk cache of answers (WAV plus its metadata), keyed by content and bounded by total size: the
least recently used entries go first, and an entry larger than the whole cache is never stored."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from ..files import json_bytes, read_json_file, write_files_atomically

MAX_META_BYTES = 64 * 1024  # a cache entry's metadata: a few numbers per chunk


class WavCache:
    """WAV files keyed by content (speaker bytes, text, settings), bounded by total size; the least recently used
    are evicted first. A hit touches the file, so recency survives restarts."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    @staticmethod
    def key(*parts: bytes | str) -> str:
        digest = hashlib.sha256()
        for part in parts:
            data = part.encode("utf-8") if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "little") + data)
        return digest.hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.wav"

    def get(self, key: str) -> bytes | None:
        entry = self.get_entry(key)
        return None if entry is None else entry[0]

    def get_entry(self, key: str) -> tuple[bytes, dict[str, Any]] | None:
        """The cached WAV and the metadata stored with it ({} when none), or None."""
        path = self.path(key)
        with self._lock:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                return None
            meta = read_json_file(path.with_suffix(".json"), MAX_META_BYTES)
            os.utime(path)
            return data, meta if isinstance(meta, dict) else {}

    def put(self, key: str, data: bytes, meta: dict[str, Any] | None = None) -> None:
        """Store an entry (its WAV and metadata); one larger than the whole cache is not stored at all."""
        files = {self.path(key): data}
        if meta is not None:
            files[self.path(key).with_suffix(".json")] = json_bytes(meta)
        if sum(len(content) for content in files.values()) > self.max_bytes:
            return
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_files_atomically(files, force=True)
            self._evict()

    def _evict(self) -> None:
        """Drop the least recently used entries until the WAVs and their metadata together fit ``max_bytes``."""
        entries = []
        for path in self.folder.glob("*.wav"):
            with contextlib.suppress(FileNotFoundError):
                meta = path.with_suffix(".json")
                size = path.stat().st_size + (meta.stat().st_size if meta.exists() else 0)
                entries.append((path.stat().st_mtime, size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries, key=lambda entry: entry[0]):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
            total -= size

    def size(self) -> int:
        """Bytes the cache holds: every WAV and its metadata."""
        return sum(path.stat().st_size for path in self.folder.glob("*") if path.suffix in (".wav", ".json"))

    def entries(self) -> list[str]:
        return sorted(path.stem for path in self.folder.glob("*.wav"))
