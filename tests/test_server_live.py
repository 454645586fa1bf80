"""bark-clone serve on a real loopback socket: a browser driving the page, and concurrent clients."""

from __future__ import annotations

import collections
import concurrent.futures
import io
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
from support import serving

from bark_clone.options import BarkOptions, ModelSources
from bark_clone.server.app import create_app, speak_cache_key
from bark_clone.server.cache import WavCache
from bark_clone.server.service import ServiceConfig
from bark_clone.server.speaking import generation_identity

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]

pytestmark = pytest.mark.slow  # a browser, a live uvicorn and a fuzzer: the full CI run covers them


def open_page(playwright, base: str):
    """Chromium on the page at ``base``; (browser, page, the page's script errors as they come)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(base + "/")
    return browser, page, errors


@pytest.fixture()
def live_server(tmp_path, tiny, hub):
    """uvicorn on a free loopback port, in a thread; yields (base URL, service config)."""
    config = ServiceConfig(speakers=tmp_path / "speakers", bark=BarkOptions(source=str(tiny["bark"]), device="cpu"),
                           models=ModelSources(hubert=str(tiny["hubert"]), encodec=str(tiny["encodec"]),
                                               quantizer=str(tiny["quantizer"])),
                           workers=2, queue_size=64)
    with serving(create_app(config, hub)) as base:
        yield base, config


def test_browser_uploads_previews_and_speaks(live_server, arctic, tmp_path):
    from playwright.sync_api import sync_playwright

    base, _ = live_server
    with sync_playwright() as playwright:
        browser, page, errors = open_page(playwright, base)
        page.set_input_files("#audio", str(arctic))
        page.fill("#name", "arctic")
        page.click("#create-button")
        page.wait_for_selector("#speaker-list li[data-name=arctic]", timeout=120_000)
        assert "made arctic" in page.inner_text("#create-status")
        assert "Prompt window" in page.inner_text("#window-caption")
        page.wait_for_function("document.getElementById('preview').src.startsWith('blob:')", timeout=60_000)
        page.evaluate("document.getElementById('preview').play().catch(() => {})")
        page.wait_for_function("document.getElementById('preview').duration > 0", timeout=30_000)
        preview_duration = page.evaluate("document.getElementById('preview').duration")
        page.fill("#text", "hello this is a test")
        page.uncheck("#stream")  # the whole reply, with its chunks' similarities (streaming: the next test)
        page.click("#speak-button")
        page.wait_for_function("document.getElementById('spoken').duration > 0", timeout=120_000)
        spoken_duration = page.evaluate("document.getElementById('spoken').duration")
        shown_similarities = page.locator("#chunk-similarities li").count()
        similarity_caption = page.inner_text("#similarity")
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        page.fill("#text", "")  # an error from the server shows its message
        page.evaluate("document.getElementById('text').removeAttribute('required')")
        page.click("#speak-button")
        page.wait_for_function("document.getElementById('speak-status').classList.contains('error')")
        shown_error = page.inner_text("#speak-status")
        browser.close()
    assert preview_duration > 1.0 and spoken_duration > 0.1
    assert shown_similarities == 1 and "1 chunk(s); speaker similarity, lowest" in similarity_caption
    assert "text" in shown_error
    assert not errors, errors
    assert (tmp_path / "page.png").stat().st_size > 10_000


def mixed_plan(names: list[str], texts: list[str], count: int = 50) -> list[tuple]:
    """Creates (each name 2-3 times), speaks, lists and previews, interleaved."""
    plan = []
    for index in range(count):
        kind = index % 5
        if kind == 0:
            plan.append(("create", names[index // 5 % len(names)]))
        elif kind in (1, 2):
            plan.append(("speak", names[index % len(names)], texts[index % len(texts)]))
        elif kind == 3:
            plan.append(("list",))
        else:
            plan.append(("preview", names[index % len(names)]))
    return plan


def send_request(base: str, voices: dict[str, bytes], request: tuple) -> tuple[tuple, int, bytes]:
    with httpx.Client(base_url=base, timeout=120) as http:
        if request[0] == "create":
            response = http.post("/speakers", data={"name": request[1]},
                                 files={"audio": ("v.wav", voices[request[1]], "audio/wav")})
        elif request[0] == "speak":
            response = http.get(f"/speak/{request[1]}", params={"text": request[2]})
        elif request[0] == "list":
            response = http.get("/speakers")
        else:
            response = http.get(f"/speakers/{request[1]}/preview.wav")
        return request, response.status_code, response.content


def test_fifty_mixed_requests_from_eight_clients(live_server, arctic):
    """No 5xx, every speaker created exactly once, the cache consistent, all within a time bound."""
    base, config = live_server
    samples, rate = soundfile.read(arctic, dtype="float32")
    names = ["ann", "bob", "cy", "dee"]
    voices = {}
    for index, name in enumerate(names):  # four different recordings, so four different prompts
        buffer = io.BytesIO()
        soundfile.write(buffer, samples[: len(samples) - index * rate // 5] * (1 - 0.1 * index), rate, format="WAV")
        voices[name] = buffer.getvalue()
    plan = mixed_plan(names, ["hello", "the voice", "this is a test"])

    def send(request):
        return send_request(base, voices, request)

    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, plan))
    elapsed = time.time() - started
    assert elapsed < 240
    assert all(status < 500 for _, status, _ in results), [(r, s) for r, s, _ in results if s >= 500]
    assert all(status != 429 for _, status, _ in results)  # the queue (64) holds this load
    created = collections.Counter(request[1] for request, status, _ in results if request[0] == "create"
                                  and status == 201)
    refused = [request[1] for request, status, _ in results if request[0] == "create" and status == 409]
    assert set(created) == set(names) and set(created.values()) == {1}  # exactly once each
    assert len(refused) == 10 - len(names)
    speech = collections.defaultdict(set)
    for request, status, content in results:
        assert status in (200, 201, 404, 409), (request, status)
        if request[0] == "speak" and status == 200:
            speech[(request[1], request[2])].add(content)
            assert soundfile.read(io.BytesIO(content))[1] == 24_000
    assert speech and all(len(answers) == 1 for answers in speech.values())  # same request, same audio
    cache = WavCache(Path(config.cache), config.cache_bytes)
    for (name, text), (content,) in speech.items():  # the cache holds exactly what was answered, under its key
        prompt = (Path(config.speakers) / f"{name}.npz").read_bytes()
        assert cache.get(speak_cache_key(prompt, text, 0, generation_identity(config))) == content
    assert len(set(cache.entries())) == len(speech) + len({r[1] for r, s, _ in results if r[0] == "preview"
                                                           and s == 200})
    assert not list(Path(config.speakers).glob(".*.tmp")) and not list(Path(config.cache).glob(".*.tmp"))
    for name in names:
        with np.load(Path(config.speakers) / f"{name}.npz", allow_pickle=False) as archive:
            assert archive["fine_prompt"].shape[0] == 8


def test_browser_starts_a_search_and_follows_it(live_server, arctic, monkeypatch):
    from playwright.sync_api import sync_playwright
    from standins import LevelStandIn, arctic_speech

    from bark_clone.speaking import longform

    monkeypatch.setattr(longform, "bark_generator",
                        lambda bark, **options: LevelStandIn(arctic_speech(arctic, 0)))
    base, _ = live_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(base + "/")
        page.set_input_files("#audio", str(arctic))
        page.fill("#name", "searched")
        page.fill("#search-minutes", "0.1")
        page.click("#create-button")
        page.wait_for_function("document.getElementById('create-status').textContent.includes('searching')",
                               timeout=120_000)
        page.wait_for_function("document.getElementById('create-status').textContent.includes('kept the best')",
                               timeout=120_000)
        shown = page.inner_text("#create-status")
        browser.close()
    assert "searched: the search kept the best prompt (score 0." in shown


@pytest.mark.slow
def test_browser_plays_a_streamed_reply_and_a_script(live_server, arctic, tmp_path):
    from playwright.sync_api import sync_playwright
    from recordings import espeak
    from test_server_streaming import SEVEN_CHUNKS

    base, _ = live_server
    robot = io.BytesIO()
    soundfile.write(robot, espeak("Meanwhile the weather turned and the trains ran late.", "en-us+m3"), 16_000,
                    format="WAV")
    with httpx.Client(base_url=base, timeout=120) as http:
        for name, data in (("alice", arctic.read_bytes()), ("bob", robot.getvalue())):
            assert http.post("/speakers", data={"name": name}, files={"audio": ("v.wav", data)}).status_code == 201
    finished = "window.lastStream && window.lastStream.doneMs !== null"
    with sync_playwright() as playwright:
        browser, page, errors = open_page(playwright, base)
        page.click("#speaker-list li[data-name=alice] button:has-text('Use')")
        page.fill("#text", SEVEN_CHUNKS)
        page.click("#speak-button")  # streamed: the box is ticked by default
        page.wait_for_function(finished, timeout=300_000)
        streamed = page.evaluate("window.lastStream")
        page.wait_for_function("document.getElementById('spoken').duration > 0", timeout=30_000)
        spoken = page.evaluate("document.getElementById('spoken').duration")
        page.select_option("#speech-format", "opus")
        with page.expect_download(timeout=120_000) as download:
            page.click("#download-speech")
        download.value.save_as(tmp_path / "speech.opus")
        downloaded_name = download.value.suggested_filename
        page.evaluate("window.lastStream = null")
        page.fill("#script-text", "alice: Did you hear that?\nbob: Only the wind.\n\nalice: Then sleep well.")
        page.click("#script-button")
        page.wait_for_function(finished, timeout=300_000)
        scripted = page.evaluate("window.lastStream")
        page.wait_for_function("document.getElementById('script-audio').duration > 0", timeout=30_000)
        caption = page.inner_text("#script-lines")
        page.fill("#script-text", "alice: Hello.\ncarol: Hi.")
        page.click("#script-button")
        page.wait_for_function("document.getElementById('script-status').classList.contains('error')")
        refused = page.inner_text("#script-status")
        browser.close()
    assert streamed["firstAudioMs"] < 0.9 * streamed["doneMs"], streamed  # it played before the reply ended
    assert abs(spoken - streamed["samples"] / 24_000) < 0.01  # the kept reply is what was played
    opus, rate = soundfile.read(tmp_path / "speech.opus")  # the same speech, downloaded as Ogg Opus
    assert downloaded_name == "alice-speech.opus" and rate == 24_000
    assert abs(len(opus) / rate - spoken) < 0.1
    assert scripted["samples"] > 0 and caption.startswith("3 line(s) by 2 speaker(s)")
    assert refused == "script line 2: no speaker named carol"
    assert not errors, errors
