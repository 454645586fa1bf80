"""bark-clone serve: every endpoint and error code, the cache, the 429 path, a loopback load test and fuzzing."""

from __future__ import annotations

import concurrent.futures
import io
import threading
import time

import numpy as np
import soundfile
from fastapi.testclient import TestClient

from bark_clone.server.app import create_app


def upload(client, name: str, data: bytes, filename: str = "voice.wav", **form):
    return client.post("/speakers", data={"name": name, **form}, files={"audio": (filename, data, "audio/wav")})


def test_every_endpoint(client, arctic, config, hub):
    from bark_clone.prompting.pipeline import analyse

    created = upload(client, "arctic", arctic.read_bytes(), "arctic_a0007.wav")
    assert created.status_code == 201, created.text
    sidecar = created.json()
    assert sidecar["name"] == "arctic" and sidecar["sources"][0]["path"] == "arctic_a0007.wav"
    start, end = sidecar["window"]
    segments = analyse(arctic, hub.speaker_models().vad).segments  # one phrase: the window must hold all of it
    assert start <= segments[0].start and end >= min(segments[-1].end, 4.0 - 1 / 75)

    listing = client.get("/speakers").json()["speakers"]
    assert [entry["name"] for entry in listing] == ["arctic"] and listing[0]["window"] == sidecar["window"]
    assert client.get("/speakers/arctic").json()["window"] == sidecar["window"]

    npz = client.get("/speakers/arctic.npz")
    assert npz.status_code == 200 and npz.headers["content-type"] == "application/octet-stream"
    with np.load(io.BytesIO(npz.content), allow_pickle=False) as archive:
        assert sorted(archive.files) == ["coarse_prompt", "fine_prompt", "semantic_prompt"]
        n_frames = archive["fine_prompt"].shape[1]

    preview = client.get("/speakers/arctic/preview.wav")
    assert preview.status_code == 200 and preview.headers["content-type"] == "audio/wav"
    audio, rate = soundfile.read(io.BytesIO(preview.content))
    assert rate == 24_000 and len(audio) == n_frames * 320

    first = client.get("/speak/arctic", params={"text": "hello this is a test"})
    assert first.status_code == 200 and first.headers["x-cache"] == "miss"
    assert soundfile.read(io.BytesIO(first.content))[1] == 24_000
    second = client.get("/speak/arctic", params={"text": "hello this is a test"})
    assert second.headers["x-cache"] == "hit" and second.content == first.content
    other_seed = client.get("/speak/arctic", params={"text": "hello this is a test", "seed": 5})
    assert other_seed.headers["x-cache"] == "miss"
    assert int(first.headers["x-chunks"]) == 1 and second.headers["x-chunks"] == "1"  # the cache keeps them
    assert -1 <= float(first.headers["x-min-similarity"]) <= 1
    assert first.headers["x-min-similarity"] == second.headers["x-min-similarity"]
    posted = client.post("/speak", json={"name": "arctic", "text": "hello this is a test"})
    assert posted.headers["x-cache"] == "hit" and posted.content == first.content  # the same request, either way
    long_text = "hello this is a test. " * 12  # about 19 s at 14 characters a second: two chunks
    spoken = client.post("/speak", json={"name": "arctic", "text": long_text, "seed": 2})
    assert spoken.status_code == 200 and int(spoken.headers["x-chunks"]) == 2
    similarities = [float(value) for value in spoken.headers["x-chunk-similarities"].split(",")]
    assert len(similarities) == 2 and min(similarities) == float(spoken.headers["x-min-similarity"])

    assert client.delete("/speakers/arctic").status_code == 204
    assert client.get("/speakers/arctic").status_code == 404
    assert not (config.speakers / "arctic.npz").exists() and not (config.speakers / "arctic.json").exists()
    assert client.get("/openapi.json").json()["info"]["title"] == "bark-clone"
    page = client.get("/")
    assert page.status_code == 200 and "bark-clone" in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200


def test_error_codes_have_json_messages(client, arctic, config, tmp_path):
    def error(response, status: int, words: str) -> None:
        assert response.status_code == status, (response.status_code, response.text)
        assert words in response.json()["error"], response.json()

    assert upload(client, "me", arctic.read_bytes()).status_code == 201
    error(upload(client, "me", arctic.read_bytes()), 409, "already exists")
    for bad in ("../etc", "a b", "-dash", "x" * 65, "dot.name"):
        error(upload(client, bad, arctic.read_bytes()), 400, "a speaker name is")
    error(client.get("/speakers/bad%20name"), 400, "a speaker name is")
    error(upload(client, "text", b"this is not audio at all\n" * 50, "notes.wav"), 400, "not an audio file")
    not_audio = b"this is not audio at all\n" * 50
    error(upload(client, "text", not_audio, "notes.wav"), 400, "notes.wav is not")  # no temp path in the message
    error(upload(client, "empty", b"", "empty.wav"), 400, "empty")
    error(upload(client, "big", b"\0" * (config.max_upload_bytes + 10)), 413, "larger than")
    samples, rate = soundfile.read(arctic, dtype="float32")
    long = io.BytesIO()
    soundfile.write(long, np.concatenate([samples, np.zeros(60 * rate, np.float32)]), rate, format="FLAC")  # 64 s
    error(upload(client, "long", long.getvalue(), "long.flac"), 413, "at most 60 s")
    for path in ("/speakers/ghost", "/speakers/ghost.npz", "/speakers/ghost/preview.wav"):
        error(client.get(path), 404, "no speaker named")
    error(client.delete("/speakers/ghost"), 404, "no speaker named")
    error(client.get("/speak/ghost", params={"text": "hi"}), 404, "no speaker named")
    error(client.get("/speak/me"), 422, "text")
    error(client.get("/speak/me", params={"text": "   "}), 400, "empty")
    too_long = "x" * (config.max_text_characters + 1)
    error(client.get("/speak/me", params={"text": too_long}), 413, "at most 5000")
    error(client.post("/speak", json={"name": "me", "text": too_long}), 413, "at most 5000")
    error(client.post("/speak", json={"name": "nobody", "text": "hi"}), 404, "no speaker")
    error(client.post("/speak", json={"name": "me"}), 422, "text")
    assert not any(path.name.startswith(("text", "empty", "big", "long")) for path in config.speakers.iterdir())


def test_bearer_token(config, hub, arctic):
    config.token = "s3cret"
    client = TestClient(create_app(config, hub))
    denied = client.get("/speakers")
    assert denied.status_code == 401 and "bearer token" in denied.json()["error"]
    assert client.get("/speakers", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/speakers", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/").status_code == 200  # the page itself holds no data; its calls carry the token


def test_binding_beyond_loopback_needs_a_token(run_cli):
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "8765")
    assert result.exit_code == 1 and "--token" in result.stderr


def test_cache_is_bounded_least_recently_used_first(config, hub, arctic):
    config.cache_bytes = 120_000  # room for two 1 s WAVs (48 kB each), not three
    client = TestClient(create_app(config, hub))
    assert upload(client, "me", arctic.read_bytes()).status_code == 201
    cache = client.app.state.service.cache
    texts = ["the voice", "hello", "this is a test"]
    keys = []
    for text in texts[:2]:
        assert client.get("/speak/me", params={"text": text}).headers["x-cache"] == "miss"
        keys.append(sorted(set(cache.entries()) - set(keys))[0])
        time.sleep(0.02)
    assert client.get("/speak/me", params={"text": texts[0]}).headers["x-cache"] == "hit"  # now most recent
    time.sleep(0.02)
    client.get("/speak/me", params={"text": texts[2]})
    entries = set(cache.entries())
    assert keys[0] in entries and keys[1] not in entries  # the least recently used went
    assert sum(path.stat().st_size for path in cache.folder.glob("*.wav")) <= config.cache_bytes
    assert client.get("/speak/me", params={"text": texts[1]}).headers["x-cache"] == "miss"


def test_full_queue_answers_429_with_retry_after(config, hub, arctic, monkeypatch):
    from bark_clone.server import speaking as server

    config.workers, config.queue_size = 1, 1
    client = TestClient(create_app(config, hub))
    assert upload(client, "me", arctic.read_bytes()).status_code == 201
    release = threading.Event()
    original = server.speak_job

    def slow_job(*args):
        release.wait(30)
        return original(*args)

    monkeypatch.setattr(server, "speak_job", slow_job)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        running = pool.submit(client.get, "/speak/me", params={"text": "one"})  # taken by the worker
        time.sleep(0.3)
        waiting = pool.submit(client.get, "/speak/me", params={"text": "two"})  # waits in the queue
        time.sleep(0.3)
        refused = client.get("/speak/me", params={"text": "three"})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "5"
        assert "busy" in refused.json()["error"]
        release.set()
        assert running.result().status_code == 200 and waiting.result().status_code == 200


def test_models_load_once_when_first_needed(config, monkeypatch):
    from bark_clone.prompting import pipeline
    from bark_clone.server.service import ModelHub

    calls = []
    monkeypatch.setattr(pipeline, "load_models", lambda *args: calls.append(args) or object())
    hub = ModelHub(config)
    assert calls == []  # nothing at start-up
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        loaded = list(pool.map(lambda _: hub.speaker_models(), range(8)))
    assert len(calls) == 1 and all(model is loaded[0] for model in loaded)
