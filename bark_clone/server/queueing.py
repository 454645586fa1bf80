"""The server's work queue: a bounded queue in front of a few worker threads (a full one is refused at once, 429),
and identical requests in flight sharing one job."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable


class QueueFull(Exception):
    """Every worker is busy and the queue is full: the client should retry later (HTTP 429)."""


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
