"""POST /speak with a script of several speakers, and streamed speech: an open-ended WAV whose audio equals the
cached whole answer, sent chunk by chunk on a live socket, and a client that goes away stops its job."""

from __future__ import annotations

import io
import struct
import threading
import time

import httpx
import numpy as np
import pytest
import soundfile
from recordings import espeak
from support import serving

from bark_clone.bark import generation
from bark_clone.server.app import create_app

SENTENCE = ("The keeper climbed the long stairs of the lighthouse at dusk, lit the great lamp, checked the lens for "
            "salt, and sat by the window to watch the ships go by. ")
SEVEN_CHUNKS = " ".join(SENTENCE.replace("keeper", f"keeper number {n}") for n in range(7))  # one chunk each


def upload(client, name: str, data: bytes):
    response = client.post("/speakers", data={"name": name}, files={"audio": ("voice.wav", data, "audio/wav")})
    assert response.status_code == 201, response.text


@pytest.fixture()
def two_speakers(client, arctic, tmp_path):
    upload(client, "alice", arctic.read_bytes())
    buffer = io.BytesIO()
    soundfile.write(buffer, espeak("Meanwhile the weather turned and the trains ran late again.", "en-us+m3"),
                    16_000, format="WAV")
    upload(client, "bob", buffer.getvalue())
    return client


def cache_files(config) -> set[str]:
    return {path.name for path in config.cache.glob("*")} if config.cache.exists() else set()


@pytest.mark.slow
def test_a_script_is_spoken_over_post_and_bad_scripts_are_4xx(two_speakers, config):
    client = two_speakers
    script = [{"speaker": "alice", "text": "Hello there."}, {"speaker": "bob", "text": "Hi alice."},
              {"speaker": "alice", "text": "Shall we go?", "paragraph": True}]
    spoken = client.post("/speak", json={"script": script, "seed": 1})
    assert spoken.status_code == 200, spoken.text
    assert spoken.headers["x-chunks"] == "3" and spoken.headers["x-cache"] == "miss"
    audio, rate = soundfile.read(io.BytesIO(spoken.content))
    assert rate == 24_000 and len(audio) > 0
    again = client.post("/speak", json={"script": script, "seed": 1})
    assert again.headers["x-cache"] == "hit" and again.content == spoken.content
    swapped = [dict(line, speaker={"alice": "bob", "bob": "alice"}[line["speaker"]]) for line in script]
    assert client.post("/speak", json={"script": swapped, "seed": 1}).headers["x-cache"] == "miss"
    before = cache_files(config)
    config.max_text_characters = 40
    cases = [({"script": [{"speaker": "alice", "text": "hi"}, {"speaker": "carol", "text": "hello"}]}, 404,
              "script line 2: no speaker named 'carol'"),
             ({"script": [{"speaker": "alice", "text": "hi"}, {"speaker": "bob", "text": "  "}]}, 400,
              "script line 2: bob says nothing"),
             ({"script": [{"speaker": "alice", "text": "hi"}, {"speaker": "bob", "text": "\u200b\u2060"}]}, 400,
              "script line 2: bob says nothing"),
             ({"script": [{"speaker": "alice", "text": "a\u0000b"}]}, 400, "script line 1: alice holds a NUL"),
             ({"script": [{"speaker": "alice", "text": "word " * 9}]}, 413, "the script has 45 characters"),
             ({"script": [{"speaker": "alice", "text": "hi"}], "name": "alice", "text": "hi"}, 400, "not both"),
             ({"script": []}, 422, "script"), ({"script": [{"speaker": "", "text": "hi"}]}, 422, "speaker"),
             ({"script": "alice: hi"}, 422, "script")]
    for body, status, message in cases:
        response = client.post("/speak", json=body)
        assert response.status_code == status and message in response.json()["error"], (body, response.text)
    assert cache_files(config) == before  # nothing written


def stream_bytes(response) -> bytes:
    assert response.status_code == 200, response.text
    assert response.headers["x-stream"] == "chunks" and response.headers["content-type"] == "audio/wav"
    data = response.content
    assert data[:4] == b"RIFF" and struct.unpack("<I", data[4:8])[0] == 0xFFFFFFFF  # open-ended
    assert data[36:40] == b"data" and struct.unpack("<I", data[40:44])[0] == 0xFFFFFFFF
    return data


def test_streamed_speech_is_the_cached_whole_answer(two_speakers):
    client = two_speakers
    text = "The keeper climbed the stairs at dusk. He lit the lamp and watched the sea for a long while."
    streamed = stream_bytes(client.post("/speak", json={"name": "alice", "text": text, "seed": 4, "stream": True}))
    whole = client.post("/speak", json={"name": "alice", "text": text, "seed": 4})
    assert whole.headers["x-cache"] == "hit" and "x-stream" not in whole.headers  # the job cached its whole answer
    assert whole.content[44:] == streamed[44:] and len(streamed) > 44  # the same samples, byte for byte
    again = client.get("/speak/alice", params={"text": text, "seed": 4, "stream": 1})
    assert again.headers["x-cache"] == "hit" and again.content == whole.content  # a cached answer comes whole
    got = stream_bytes(client.get("/speak/bob", params={"text": "Hi there.", "stream": 1}))
    assert len(got) > 44
    scripted = stream_bytes(client.post("/speak", json={"script": [{"speaker": "alice", "text": "Hi bob."},
                                                                   {"speaker": "bob", "text": "Hi."}],
                                                        "stream": True}))
    assert soundfile.read(io.BytesIO(scripted))[0].size > 0
    assert client.post("/speak", json={"name": "carol", "text": "hi", "stream": True}).status_code == 404


@pytest.fixture()
def live(config, hub, arctic, monkeypatch):
    """A live server with one speaker, and a count of Bark generations (rows batches) as they start."""
    generations = []
    original = generation.generate

    def counted(*args, **options):
        generations.append(time.perf_counter())
        return original(*args, **options)

    monkeypatch.setattr(generation, "generate", counted)
    with serving(create_app(config, hub)) as base:
        with httpx.Client(base_url=base, timeout=300) as client:
            upload(client, "alice", arctic.read_bytes())
        yield base, generations


@pytest.mark.slow
def test_a_stream_sends_chunks_as_they_pass_and_a_client_that_leaves_stops_its_job(live, config):
    base, generations = live
    started, arrivals, data = time.perf_counter(), [], b""
    with httpx.Client(base_url=base, timeout=300) as client:
        with client.stream("POST", "/speak", json={"name": "alice", "text": SEVEN_CHUNKS, "stream": True}) as reply:
            for part in reply.iter_raw():
                arrivals.append((time.perf_counter() - started, len(part)))
                data += part
        full = len(generations)
        ended = time.perf_counter() - started
        first_audio = next(when for when, size in arrivals if size > 44 or data[:size] != data[:44])
        assert first_audio < 0.8 * ended, arrivals  # the first chunk came long before the last
        assert soundfile.read(io.BytesIO(data))[0].size > 0 and full >= 4
        generations.clear()
        with client.stream("POST", "/speak", json={"name": "alice", "text": SEVEN_CHUNKS, "seed": 9,
                                                   "stream": True}) as reply:
            next(reply.iter_raw())  # the header and the first chunk, then the client goes away
        settled, count = time.perf_counter(), len(generations)
        while time.perf_counter() - settled < 8:  # until no generation has started for 4 s
            time.sleep(0.5)
            if len(generations) != count:
                settled, count = time.perf_counter(), len(generations)
            elif time.perf_counter() - settled > 4:
                break
        assert count < full, (count, full)  # the remaining chunks were never generated
        cached = client.post("/speak", json={"name": "alice", "text": SEVEN_CHUNKS, "seed": 9})
        assert cached.status_code == 200 and cached.headers["x-cache"] == "miss"  # the stopped job cached nothing
    assert np.isfinite(soundfile.read(io.BytesIO(cached.content))[0]).all()


def test_the_server_checks_words_with_its_recognizer_or_says_it_cannot(config, tiny, arctic, tmp_path):
    from fastapi.testclient import TestClient
    from recognizers import build_ctc

    from bark_clone.server.service import ModelHub

    config.asr, config.max_wer = str(build_ctc(tmp_path / "ctc")), 1.0
    client = TestClient(create_app(config, ModelHub(config)))
    upload(client, "alice", arctic.read_bytes())
    spoken = client.get("/speak/alice", params={"text": "Hello there."})
    assert spoken.status_code == 200, spoken.text
    assert [0 <= float(value) for value in spoken.headers["x-chunk-wers"].split(",")] == [True]
    config.asr = str(tiny["bark"])  # a folder that is not a recognizer: the server's problem, told in its log
    broken = TestClient(create_app(config, ModelHub(config)))
    refused = broken.get("/speak/alice", params={"text": "Hello there."})
    assert refused.status_code == 503 and "speech recognizer" in refused.json()["error"]
    assert str(tiny["bark"]) not in refused.text


@pytest.mark.slow
def test_a_stream_that_fails_midway_ends_broken_and_delete_stops_it(live, monkeypatch, arctic):
    """A job that fails after its first chunk (here: its speaker deleted, or Bark raising) cuts the transfer: the
    client sees an incomplete body, never a shorter WAV that looks whole; the deleted speaker's job stops."""
    base, generations = live
    with httpx.Client(base_url=base, timeout=300) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            with client.stream("POST", "/speak", json={"name": "alice", "text": SEVEN_CHUNKS, "seed": 3,
                                                       "stream": True}) as reply:
                parts = reply.iter_raw()
                next(parts)
                assert client.delete("/speakers/alice").status_code == 204
                count = len(generations)
                for _ in parts:
                    pass
        time.sleep(1.0)
        assert len(generations) <= count + 1  # at most the generation already running when it was deleted
        upload(client, "alice", arctic.read_bytes())
        original, armed = generation.generate, threading.Event()

        def failing(*args, **options):
            if armed.is_set():  # once the client holds the first chunk
                raise RuntimeError("Bark failed")
            return original(*args, **options)

        monkeypatch.setattr(generation, "generate", failing)
        with pytest.raises(httpx.RemoteProtocolError):
            with client.stream("POST", "/speak", json={"name": "alice", "text": SEVEN_CHUNKS, "seed": 4,
                                                       "stream": True}) as reply:
                assert reply.status_code == 200
                for _ in reply.iter_raw():
                    armed.set()
