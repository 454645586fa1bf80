"""The server's corners: searches of deleted speakers, texts that are not text, speakers whose sidecars lack fields,
and a cache that counts everything it holds."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from standins import LevelStandIn, arctic_speech
from support import serving

from bark_clone.options import BarkOptions, ModelSources
from bark_clone.server.speakers import PROCESS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


def wait_until(condition, seconds: float = 60) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def worker_free_within(service, seconds: float) -> bool:
    """A probe job gets the (single) worker within ``seconds``."""
    try:
        service.jobs.submit(lambda: None).result(timeout=seconds)
        return True
    except TimeoutError:
        return False


def test_a_speaker_deleted_while_its_search_waits_leaves_nothing(config, hub, arctic, monkeypatch):
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from bark_clone.server import app as server

    client = TestClient(server.create_app(replace(config, workers=1), hub))  # one worker, blocked below
    service = client.app.state.service
    release = threading.Event()
    original = server.make_speaker_job

    def then_block_the_worker(*args):
        result = original(*args)
        service.jobs.submit(lambda: release.wait(60))  # queued before the search: the search must wait
        return result

    monkeypatch.setattr(server, "make_speaker_job", then_block_the_worker)
    created = client.post("/speakers", data={"name": "me", "search_minutes": "1"},
                          files={"audio": ("me.wav", arctic.read_bytes())})
    assert created.status_code == 201 and created.json()["status"] == "searching"
    folder = service.config.speakers / ".search" / PROCESS / "me"
    assert folder.is_dir()
    assert client.delete("/speakers/me").status_code == 204
    release.set()
    assert worker_free_within(service, 30)
    assert not folder.exists() and client.get("/speakers/me").status_code == 404


def test_deleting_a_speaker_cancels_its_running_search(config, arctic, monkeypatch, hub):
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from bark_clone.server.app import create_app
    from bark_clone.speaking import longform

    client = TestClient(create_app(replace(config, workers=1), hub))  # "a worker is free" means the search ended
    service = client.app.state.service
    monkeypatch.setattr(longform, "bark_generator",
                        lambda bark, **options: LevelStandIn(arctic_speech(arctic, 0)))
    started, release = threading.Event(), threading.Event()
    original = hub.bark

    def slow_bark():
        started.set()
        release.wait(60)
        return original()

    monkeypatch.setattr(hub, "bark", slow_bark)
    created = client.post("/speakers", data={"name": "me", "search_minutes": "5"},
                          files={"audio": ("me.wav", arctic.read_bytes())})
    assert created.status_code == 201 and started.wait(30)  # the search is running
    assert client.delete("/speakers/me").status_code == 204
    release.set()
    assert worker_free_within(service, 30)  # not the 5 minutes it was given
    assert not (service.config.speakers / "me.npz").exists()
    assert not (service.config.speakers / ".search" / PROCESS / "me").exists()


@pytest.mark.parametrize("text", ["Hi \ud800", "\udfff", "a\x00b", "\u200b\u200b"])
def test_texts_that_are_not_text_are_a_400_at_the_edge(client, text):
    import json

    body = json.dumps({"name": "nobody", "text": text})  # \ud800 travels escaped, as a client would send it
    answer = client.post("/speak", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "error" in answer.json(), answer.text


def test_the_cache_counts_metadata_and_never_stores_what_cannot_fit(tmp_path):
    from bark_clone.server.cache import WavCache

    cache = WavCache(tmp_path / "cache", max_bytes=10_000)
    meta = {"chunks": 3, "similarities": [0.9] * 200}  # about 1.2 KB of metadata an entry
    for index in range(8):
        cache.put(f"{index:02d}", b"w" * 1500, meta)
        time.sleep(0.01)  # distinct modification times: the least recently used is well defined
        assert cache.size() <= 10_000, cache.size()
    kept = cache.entries()
    assert kept and kept[-1] == "07" and len(kept) < 8
    cache.put("huge", b"h" * 10_001)
    assert cache.get("huge") is None and cache.entries() == kept  # the big one did not empty the cache
    cache.put("with-meta", b"w" * 9_000, {"note": "x" * 2_000})
    assert cache.get("with-meta") is None and cache.entries() == kept


@pytest.mark.slow
def test_the_page_lists_speakers_whatever_their_sidecar_lacks(tmp_path, tiny, hub, arctic):
    from playwright.sync_api import sync_playwright

    from bark_clone.server.app import create_app
    from bark_clone.server.service import ServiceConfig

    config = ServiceConfig(speakers=tmp_path / "speakers", bark=BarkOptions(source=str(tiny["bark"]), device="cpu"),
                           models=ModelSources(hubert=str(tiny["hubert"]), encodec=str(tiny["encodec"]),
                                               quantizer=str(tiny["quantizer"])))
    folder = config.speakers
    folder.mkdir()
    rng = np.random.default_rng(0)
    fine = rng.integers(0, 1024, (8, 150))
    for name in ("bare", "searched"):
        np.savez(folder / f"{name}.npz", semantic_prompt=rng.integers(0, 10_000, 100), coarse_prompt=fine[:2],
                 fine_prompt=fine)
    (folder / "searched.json").write_text('{"method": "search", "score": {"score": 0.8}}')
    with serving(create_app(config, hub)) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(base + "/")
        page.wait_for_function("document.querySelectorAll('#speaker-list li').length === 2", timeout=30_000)
        listed = page.inner_text("#speaker-list")
        browser.close()
    assert "bare" in listed and "searched" in listed and "prompt (no details)" in listed, listed
    assert not errors, errors
