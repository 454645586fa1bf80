"""One Bark batch for every client: rows of concurrent requests meet in one generation, and each comes out exactly
as it would alone; a stopped job's rows are withdrawn; a failing row fails only its own request."""

from __future__ import annotations

import concurrent.futures
import io
import shutil
import threading
import time

import httpx
import pytest
import soundfile
from recordings import espeak
from support import serving

from bark_clone.options import BarkOptions, ModelSources
from bark_clone.server.app import create_app
from bark_clone.server.batcher import RowBatcher
from bark_clone.server.service import ModelHub, ServiceConfig

REQUESTS = [("alice", "Good morning to you all."), ("bob", "The trains ran late again."),
            ("alice", "The keeper climbed the stairs."), ("bob", "Meanwhile the weather turned.")]


def make_speakers(folder, base: str, arctic) -> None:
    buffer = io.BytesIO()
    soundfile.write(buffer, espeak("Meanwhile the weather turned and the trains ran late again.", "en-us+m3"),
                    16_000, format="WAV")
    for name, data in (("alice", arctic.read_bytes()), ("bob", buffer.getvalue())):
        answer = httpx.post(f"{base}/speakers", data={"name": name},
                            files={"audio": ("voice.wav", data, "audio/wav")}, timeout=300)
        assert answer.status_code == 201, answer.text


def spoken(base: str, name: str, text: str) -> bytes:
    answer = httpx.post(f"{base}/speak", json={"name": name, "text": text, "seed": 3}, timeout=300)
    assert answer.status_code == 200, answer.text
    return answer.content


def leaves_after_its_first_chunk(base: str) -> int:
    """A streamed long text whose client goes away after its first chunk, while the others' rows run."""
    text = " ".join(f"The keeper number {n} climbed the stairs and lit the great lamp at dusk." for n in range(6))
    with httpx.stream("POST", f"{base}/speak", json={"name": "bob", "text": text, "seed": 9, "stream": True},
                      timeout=300) as reply:
        return len(next(reply.iter_raw()))


def server_config(tiny, folder, workers: int) -> ServiceConfig:
    return ServiceConfig(speakers=folder, bark=BarkOptions(source=str(tiny["bark"]), device="cpu", dtype="float32"),
                         models=ModelSources(hubert=str(tiny["hubert"]), encodec=str(tiny["encodec"]),
                                             quantizer=str(tiny["quantizer"])),
                         workers=workers, queue_size=16, batch_size=8)


@pytest.mark.slow
def test_concurrent_requests_share_batches_and_each_equals_itself_alone(tiny, tmp_path, arctic, monkeypatch):
    alone_folder, together_folder = tmp_path / "alone", tmp_path / "together"
    config = server_config(tiny, alone_folder, workers=1)
    with serving(create_app(config, ModelHub(config))) as base:
        make_speakers(alone_folder, base, arctic)
        expected = [spoken(base, name, text) for name, text in REQUESTS]  # one after another
    shutil.copytree(alone_folder, together_folder, ignore=shutil.ignore_patterns(".cache"))

    original, gate = RowBatcher._take, {"open": False}

    def gathered(self):  # the first batch waits (10 s at most) until every request has rows waiting
        deadline = time.monotonic() + 10
        while not gate["open"] and time.monotonic() < deadline:
            with self.condition:
                if len({id(request.future) for request in self.pending}) >= len(REQUESTS) + 1:
                    break
            time.sleep(0.05)
        gate["open"] = True
        return original(self)

    monkeypatch.setattr(RowBatcher, "_take", gathered)
    config = server_config(tiny, together_folder, workers=len(REQUESTS) + 1)
    hub = ModelHub(config)
    with serving(create_app(config, hub)) as base, concurrent.futures.ThreadPoolExecutor(len(REQUESTS) + 1) as pool:
        leaving = pool.submit(leaves_after_its_first_chunk, base)
        results = list(pool.map(lambda request: spoken(base, *request), REQUESTS))
        assert leaving.result() > 0
    assert results == expected  # every request's bytes equal the same request alone, a client leaving or not
    batches = hub.batcher().batches
    assert max(len(batch) for batch in batches) >= 2, batches  # rows of several requests in one generation
    assert len(batches) < sum(len(batch) for batch in batches)  # fewer generations than requests' row sets


def test_a_stopped_jobs_rows_are_withdrawn_and_a_failing_row_fails_its_own_request(hub):
    from bark_clone.speaking.longform import SpeakStopped

    class Switch:  # records what runs; fails a row whose text asks for it
        bark = None
        ran: list[list[str]] = []

        def wearing(self, voice):
            import contextlib

            return contextlib.nullcontext(None)

        def worn(self, voice, history):  # a row's voice as the engine takes it (no adapters here)
            return history

    batcher = RowBatcher(Switch(), batch_size=8)
    from bark_clone.bark import generation

    def fake(bark, rows, sampling, seeds, batch_size):
        Switch.ran.append([text for text, _ in rows])
        if any(text == "boom" for text, _ in rows):
            raise RuntimeError("this row fails")
        return [f"audio of {text}" for text, _ in rows]

    original = generation.generate
    generation.generate = fake
    try:
        stopped = threading.Event()
        stopped.set()
        results = {}

        def ask(text, stop=None):
            with batcher.job(stop):
                try:
                    results[text] = batcher.rows([(text, None)], [1])
                except (RuntimeError, SpeakStopped) as error:
                    results[text] = type(error).__name__

        threads = [threading.Thread(target=ask, args=(text, stopped if text == "gone" else None))
                   for text in ("fine", "boom", "gone", "also fine")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        generation.generate = original
    assert results["fine"] == ["audio of fine"] and results["also fine"] == ["audio of also fine"]
    assert results["boom"] == "RuntimeError" and results["gone"] == "SpeakStopped"
    assert not any("gone" in batch for batch in Switch.ran)  # a stopped job's rows never ran
