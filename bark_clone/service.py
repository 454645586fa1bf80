"""What the HTTP service runs on: models loaded once when first needed, a bounded job queue with a small worker
pool, and an on-disk WAV cache with least-recently-used eviction."""

from __future__ import annotations

import asyncio
import hashlib
import os
import queue
import re
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .constants import (
    DEFAULT_BARK,
    DEFAULT_ENCODEC,
    DEFAULT_HUBERT,
    DEFAULT_MAX_SECONDS,
    DEFAULT_QUANTIZER,
)
from .errors import UserError
from .files import write_files_atomically

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # a speaker's name, also its file name


@dataclass
class ServiceConfig:
    """``bark-clone serve`` options, one to one, plus the service's limits."""

    speakers: Path = Path("speakers")
    bark: str = DEFAULT_BARK
    hubert: str = DEFAULT_HUBERT
    encodec: str = DEFAULT_ENCODEC
    quantizer: str = DEFAULT_QUANTIZER
    device: str = "auto"
    token: str | None = None
    max_upload_bytes: int = 50 * 1024 * 1024
    max_audio_seconds: float = 600.0
    max_prompt_seconds: float = DEFAULT_MAX_SECONDS
    max_text_characters: int = 400
    cache_bytes: int = 500 * 1024 * 1024
    workers: int = 1
    queue_size: int = 8
    retry_after_seconds: int = 5

    @property
    def cache(self) -> Path:
        return self.speakers / ".cache"


class QueueFull(Exception):
    """Every worker is busy and the queue is full: the client should retry later (HTTP 429)."""


class ModelHub:
    """Loads the make-speaker models and Bark once, when first needed, and hands them to every job."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._speaker_models = None
        self._bark = None

    def speaker_models(self):
        from .pipeline import load_models

        with self._lock:
            if self._speaker_models is None:
                self._speaker_models = load_models(self.config.hubert, self.config.encodec, self.config.quantizer,
                                                   self.config.device)
            return self._speaker_models

    def bark(self):
        from .bark import load_bark
        from .models import resolve_device

        with self._lock:
            if self._bark is None:
                self._bark = load_bark(self.config.bark, resolve_device(self.config.device))
            return self._bark


class JobQueue:
    """A bounded queue in front of a few worker threads: model work never blocks the event loop, a full queue is
    refused at once, and every submitted job's future is resolved exactly once."""

    def __init__(self, workers: int, size: int) -> None:
        self._jobs: queue.Queue = queue.Queue(maxsize=size)
        self._threads = [threading.Thread(target=self._work, name=f"bark-clone-worker-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, function: Callable[[], Any]) -> Future:
        future: Future = Future()
        try:
            self._jobs.put_nowait((function, future))
        except queue.Full:
            raise QueueFull from None
        return future

    def _work(self) -> None:
        while True:
            function, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function())
            except BaseException as error:  # handed to the waiting request, which turns it into a response
                future.set_exception(error)


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
        path = self.path(key)
        with self._lock:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                return None
            os.utime(path)
            return data

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_files_atomically({self.path(key): data}, force=True)
            self._evict()

    def _evict(self) -> None:
        entries = sorted(((path.stat().st_mtime, path.stat().st_size, path) for path in self.folder.glob("*.wav")),
                         key=lambda entry: entry[0])
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size

    def entries(self) -> list[str]:
        return sorted(path.stem for path in self.folder.glob("*.wav"))


class InFlight:
    """Identical requests arriving together share one job instead of queueing the same work twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[str, Future] = {}

    def get_or_submit(self, key: str, submit: Callable[[], Future]) -> Future:
        with self._lock:
            future = self._futures.get(key)
            if future is not None and not future.done():
                return future
            future = submit()
            self._futures[key] = future
            future.add_done_callback(lambda done: self._forget(key, done))
            return future

    def _forget(self, key: str, future: Future) -> None:
        with self._lock:
            if self._futures.get(key) is future:
                del self._futures[key]


class ApiError(Exception):
    """An error response: its status and a message for people; every error body is {"error": message}."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, " ".join(str(message).split()), headers or {}


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
