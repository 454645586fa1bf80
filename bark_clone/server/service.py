"""What the HTTP service runs on: models loaded once when first needed, a bounded job queue with a small worker
pool, and an on-disk WAV cache with least-recently-used eviction."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from starlette.requests import Request

from ..constants import DEFAULT_ASR, DEFAULT_MAX_SECONDS, DEFAULT_MAX_WER
from ..errors import ApiError, UserError
from ..options import BarkOptions, ModelSources, Sampling
from .cache import WavCache
from .consents import ConsentStore
from .hub import ModelHub
from .queueing import InFlight, JobQueue, QueueFull  # noqa: F401 (QueueFull: part of this module's API)
from .speakers import SpeakerFolder

STOCK_NAME = re.compile(r"[A-Za-z0-9_]{1,32}/[A-Za-z0-9_]{1,32}")  # a stock voice's name: v2/en_speaker_6


@dataclass(kw_only=True)
class ServiceConfig:
    """``bark-clone serve`` options, one to one, plus the service's limits."""

    speakers: Path = Path("speakers")
    bark: BarkOptions = field(default_factory=BarkOptions)
    sampling: Sampling = field(default_factory=Sampling)  # every job's (a cache key covers it)
    models: ModelSources = field(default_factory=ModelSources)
    token: str | None = None
    max_upload_bytes: int = 50 * 1024 * 1024
    max_audio_seconds: float = 600.0
    max_prompt_seconds: float = DEFAULT_MAX_SECONDS
    max_text_characters: int = 5_000  # long texts are spoken in chunks; GET carries short ones, POST /speak any
    cache_bytes: int = 500 * 1024 * 1024
    workers: int = 8  # jobs at once: their rows meet in one Bark batch (batch_size), their checks run beside it
    queue_size: int = 8
    batch_size: int = 8  # rows of all jobs in one Bark generation at most
    retry_after_seconds: int = 5
    asr: str = DEFAULT_ASR  # the words check's recognizer
    check_words: bool | None = None  # None: on when --asr is given or the default recognizer is cached
    max_wer: float = DEFAULT_MAX_WER
    consent_without_words: bool = False  # custom voices without hearing the consent statement (no recognizer)

    @property
    def words_enabled(self) -> bool:
        from ..models.recognizer import words_wanted

        return words_wanted(self.check_words, self.asr)

    @property
    def cache(self) -> Path:
        return self.speakers / ".cache"


def get_service(request: Request) -> Service:
    """The state behind every route: one ``Service`` per application (a FastAPI dependency)."""
    return request.app.state.service


class Service:
    """The state behind the routes: configuration, models, queue, cache and the speakers folder."""

    def __init__(self, config: ServiceConfig, hub: ModelHub | None = None) -> None:
        self.config = config
        self.hub = hub or ModelHub(config)
        self.jobs = JobQueue(config.workers, config.queue_size)
        self.cache = WavCache(config.cache, config.cache_bytes)
        self.in_flight = InFlight()
        self.speakers = SpeakerFolder(config.speakers)
        self.consents = ConsentStore(config.speakers)  # OpenAI's consent recordings, kept beside the speakers
        self.repaired = self.speakers.repair()  # what a killed server left behind
        self.searches: dict[str, dict[str, Any]] = {}  # speaker name -> its search's progress
        self._stops: dict[str, threading.Event] = {}  # speaker name -> what cancels its search
        self.streams: dict[str, set[threading.Event]] = {}  # speaker name -> what stops each stream speaking it
        self.search_runner = None  # runs searches in processes of their own (Ray actors), where set

    def start_search(self, name: str, job: Callable[[dict[str, Any], threading.Event], None], folder: Path,
                     remote: tuple = (), **details: Any) -> dict[str, Any]:
        """Queue ``job(status, stop)``, a voice search for a new speaker whose private files are in ``folder``: its
        progress is ``searches[name]`` (starting with ``details``), mirrored where every process sharing the folder
        reads it; ``cancel_search`` sets ``stop``. With a ``search_runner`` (Ray), ``search_runner(name,
        *remote)`` runs it in a process of its own instead, which outlives this one."""
        from .searches import SharedStatus, forget, status_path

        forget(self.config.speakers, name)
        status = SharedStatus(status_path(self.config.speakers, name),
                              {"status": "searching", **details, "step": 0, "best_score": None})
        stop = threading.Event()
        self.searches[name], self._stops[name] = status, stop
        try:
            if self.search_runner is not None:
                self.search_runner(name, *remote)
                self.searches.pop(name, None)  # its progress is the status file now, written by the runner
                return dict(status)
            self.jobs.submit(lambda: job(status, stop))
        except QueueFull:
            status.update(status="ready", error="the search was not started: the server is busy")
            shutil.rmtree(folder, ignore_errors=True)
            self.search_ended(name, stop)
        return status

    def cancel_search(self, name: str) -> None:
        """Stop ``name``'s search (queued or running, here or elsewhere) and forget it: its speaker was deleted."""
        from .searches import ask_to_stop, forget, read_status

        if (read_status(self.config.speakers, name) or {}).get("status") == "searching":
            ask_to_stop(self.config.speakers, name)
        else:
            forget(self.config.speakers, name)
        self.searches.pop(name, None)
        stop = self._stops.pop(name, None)
        if stop is not None:
            stop.set()

    def search_status(self, name: str) -> dict[str, Any] | None:
        """``name``'s search as this process or the status file knows it; a search whose process died while it
        searched is reported failed."""
        from .searches import read_status

        status = self.searches.get(name) or read_status(self.config.speakers, name)
        if status is not None and status.get("status") == "searching" and name not in self.searches and (
                self.search_runner is None or not self.search_runner.alive(name)):
            return {**status, "status": "ready", "error": "the search stopped: the process running it ended"}
        return status

    def stock_prompt(self, name: str):
        """The prompt of ``name`` when it is a stock voice of the server's Bark, not a speaker's name; else None."""
        from ..search.candidates import preset_prompt
        from .speakers import valid_name

        if valid_name(name) and self.speakers.has(name):
            return None
        bark = self.hub.bark()
        if name in bark.processor.available_voice_presets:
            return preset_prompt(bark, name)
        if STOCK_NAME.fullmatch(name):  # shaped like Bark's presets (v2/en_speaker_6), but not one of them
            raise ApiError(404, f"no speaker or stock voice named {name!r}")
        return None

    def speaker(self, name: str):
        """(prompt, voice folder or None) of a speaker of the folder or a stock voice; 404 for neither."""
        preset = self.stock_prompt(name)
        if preset is not None:
            return preset, None
        return self.speakers.read_prompt(name), self.speakers.read_voice(name)

    def speaker_sidecar(self, name: str):
        """A speaker's sidecar (its guard reference, as ``speak`` reads it), or None for a stock voice."""
        return None if self.stock_prompt(name) is not None else self.speakers.existing(name)[1]

    def watch_streams(self, names: set[str], stop: threading.Event, watching: bool = True) -> None:
        """Register (or with ``watching`` False, forget) a running stream's ``stop`` under the speakers it speaks."""
        for name in names:
            if watching:
                self.streams.setdefault(name, set()).add(stop)
            else:
                self.streams.get(name, set()).discard(stop)

    def stop_streams(self, name: str) -> None:
        """Stop every stream speaking ``name`` before its next generation: its speaker was deleted."""
        for stop in self.streams.pop(name, set()):
            stop.set()

    def search_ended(self, name: str, stop: threading.Event) -> None:
        if self._stops.get(name) is stop:
            del self._stops[name]

    def public_message(self, message: str) -> str:
        """An error message without the server's own folders (a client must never see a server path)."""
        folders = {str(self.config.speakers.resolve()), str(self.config.speakers), tempfile.gettempdir()}
        for folder in sorted(folders, key=len, reverse=True):  # the longest first: /tmp/x/speakers before /tmp
            message = message.replace(folder + os.sep, "").replace(folder, "")
        return message

    async def run(self, function, key: str | None = None) -> Any:
        """Do model work on the worker pool; 429 when the queue is full; UserError -> 400."""
        try:
            future = (self.in_flight.get_or_submit(key, lambda: self.jobs.submit(function)) if key is not None
                      else self.jobs.submit(function))
        except QueueFull:
            raise ApiError(429, "the server is busy; retry shortly",
                           {"Retry-After": str(self.config.retry_after_seconds)}) from None
        return await self.result(future)

    async def result(self, future: Future) -> Any:
        """A job's result, awaited; its UserError becomes a 400 without the server's folders."""
        try:
            return await asyncio.wrap_future(future)
        except UserError as error:
            raise ApiError(400, self.public_message(str(error))) from None
