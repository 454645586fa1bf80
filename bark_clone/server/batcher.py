"""One Bark batch for every client: the jobs of all requests (chunks of long texts and their retries, script
lines, OpenAI's speech, ...) hand their rows to one scheduler thread, which runs the rows every waiting job has
ready through the engine together, up to ``batch_size`` rows, each row with its own voice and seed, and hands each
job its own rows back. Rows are seeded one by one, so a row comes out exactly as it would alone.

Scheduling is at batch boundaries: a request that arrives while a batch runs joins the next batch (Bark's stages
are not yet three queues of rows; docs/server.md measures what a late arrival waits). Rows of any voices share a
batch: each row wears its own speaker's adapters inside the engine (``bark.lora``), and Bark's weights are shared
and never changed."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..speaking.longform import SpeakStopped

GATHER_SHARE = 0.25  # a batch waits for the jobs still judging at most this share of the last generation's time
MIN_GATHER_SECONDS = 1.0  # ... and at least this (ended early once every running job's rows wait): jobs that start
MAX_GATHER_SECONDS = 5.0  # together would otherwise fall into cohorts that never meet again (measured: 10 batches for 3)


@dataclass
class Request:
    """One job's rows for one generation: ``(text, prompt)`` rows, their seeds, the voice whose adapters they
    need (None: the base model), and what stops the job (its rows are then withdrawn)."""

    rows: list[tuple[str, Any]]
    seeds: list[int]
    voice: Any
    stop: Any = None
    future: Future = field(default_factory=Future)


class RowBatcher:
    """The scheduler. A job uses it as its generator: ``wearing(voice)`` names the voice of the rows that follow
    in this thread, ``rows(rows, seeds)`` waits for them; ``job(stop)`` ties the thread's rows to a job's stop."""

    def __init__(self, switch, batch_size: int, sampling=None) -> None:
        self.switch, self.batch_size, self.sampling = switch, batch_size, sampling  # sampling: an options.Sampling
        self.pending: deque[Request] = deque()
        self.condition = threading.Condition()
        self.local = threading.local()
        self.batches: list[list[int]] = []  # rows per request of every batch run (the bench and tests read it)
        self.busy_seconds = 0.0  # time spent in Bark's generations (the bench reads it)
        self.active = 0  # jobs running now: each is either waiting for rows here or judging its last ones
        self.last_seconds = 0.0  # how long the last generation took
        self.thread = threading.Thread(target=self._serve, name="bark-batcher", daemon=True)
        self.thread.start()

    @contextlib.contextmanager
    def wearing(self, voice):
        previous = getattr(self.local, "voice", None)
        self.local.voice = voice
        try:
            yield self.switch.bark
        finally:
            self.local.voice = previous

    @contextlib.contextmanager
    def job(self, stop):
        self.local.stop = stop
        with self.condition:
            self.active += 1
        try:
            yield self
        finally:
            self.local.stop = None
            with self.condition:
                self.active -= 1
                self.condition.notify()

    def rows(self, rows: list[tuple[str, Any]], seeds: list[int]) -> list[Any]:
        request = Request(list(rows), list(seeds), getattr(self.local, "voice", None), getattr(self.local, "stop",
                                                                                               None))
        with self.condition:
            self.pending.append(request)
            self.condition.notify()
        return request.future.result()

    def _take(self) -> list[Request]:
        """The oldest waiting requests, in arrival order, while their rows fit one batch; requests of stopped jobs
        are withdrawn."""
        with self.condition:
            while not self.pending:
                self.condition.wait()
            self._gather()
            taken: list[Request] = []
            for request in list(self.pending):
                if request.stop is not None and request.stop.is_set():
                    self.pending.remove(request)
                    request.future.set_exception(SpeakStopped("the job was stopped before its rows ran"))
                    continue
                fits = sum(len(other.rows) for other in taken) + len(request.rows) <= self.batch_size
                if not taken or fits:
                    taken.append(request)
                    self.pending.remove(request)
            return taken

    def _gather(self) -> None:
        """While some running jobs are still preparing or judging their last rows (their next rows come in a moment)
        and the batch is not full, wait for them, a fraction of the last generation's time (1-5 s): a batch that
        waits a little for the others costs less than the extra generations they would need (the bench's
        service row)."""
        window = min(MAX_GATHER_SECONDS, max(MIN_GATHER_SECONDS, GATHER_SHARE * self.last_seconds))
        deadline = time.monotonic() + window
        while (len(self.pending) < self.active and sum(len(request.rows) for request in self.pending) <
               self.batch_size and (left := deadline - time.monotonic()) > 0):
            self.condition.wait(left)

    def _serve(self) -> None:
        while True:
            taken = self._take()
            if taken:
                self._run(taken)

    def _run(self, taken: list[Request]) -> None:
        """One generation for every taken request; if it fails, each request alone, so a failing row fails only
        its own request."""
        from ..bark.generation import generate
        from ..options import Sampling

        self.batches.append([len(request.rows) for request in taken])
        started = time.perf_counter()
        try:
            rows = [(text, self.switch.worn(request.voice, prompt)) for request in taken for text, prompt in
                    request.rows]
            with self.switch.wearing(None) as bark:  # the base Bark, held against peft's attachments meanwhile
                made = generate(bark, rows, self.sampling or Sampling(),
                                [seed for request in taken for seed in request.seeds], self.batch_size)
        except BaseException as error:  # noqa: BLE001 - handed to the jobs, never lost in this thread
            self.busy_seconds += time.perf_counter() - started
            if len(taken) == 1:
                taken[0].future.set_exception(error)
            else:
                for request in taken:
                    self._run([request])
            return
        self.last_seconds = time.perf_counter() - started
        self.busy_seconds += self.last_seconds
        first = 0
        for request in taken:
            request.future.set_result(made[first: first + len(request.rows)])
            first += len(request.rows)
