"""What a client reads from the server: no server path in any answer (every route's error cases walked), folder
models named by their folder, OpenAI's error type on a 405, and the server's guard judging a chunk against the
same reference as ``bark-clone speak`` (the sidecar's stored embedding of the recording's window)."""

from __future__ import annotations

import io
import json
import shutil

import httpx
import numpy as np
import soundfile
from recordings import espeak
from support import serving

from bark_clone.options import BarkOptions, ModelSources
from bark_clone.server.app import create_app
from bark_clone.server.service import ServiceConfig
from bark_clone.speaking.consent import statement_for


def wav(samples: np.ndarray, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV")
    return buffer.getvalue()


def config_for(tiny, folder) -> ServiceConfig:
    return ServiceConfig(speakers=folder, bark=BarkOptions(source=str(tiny["bark"]), device="cpu"),
                         models=ModelSources(hubert=str(tiny["hubert"]), encodec=str(tiny["encodec"]),
                                             quantizer=str(tiny["quantizer"])), workers=1, queue_size=4,
                         consent_without_words=True)


def test_no_answer_shows_a_server_path(tiny, tmp_path, hub, arctic):
    config = config_for(tiny, tmp_path / "speakers")
    quiet, broken = wav(np.zeros(48_000, np.float32)), b"RIFF" + b"\0" * 300
    answers = []
    with serving(create_app(config, hub)) as base, httpx.Client(base_url=base, timeout=300) as client:
        def upload(route: str, field: str, data: bytes, **form):
            answers.append(client.post(route, data=form, files={field: ("mine.wav", data, "audio/wav")}))

        for data in (quiet, broken):
            upload("/speakers", "audio", data, name="someone")
            upload("/v1/audio/voice_consents", "recording", data, name="me", language="en")
        consent = client.post("/v1/audio/voice_consents", data={"name": "me", "language": "en"},
                              files={"recording": ("c.wav", wav(espeak(statement_for("en"), "en-us+m3")))}).json()
        recording = next((config.speakers / ".consents" / consent["id"]).glob("recording*"))
        recording.write_bytes(quiet)  # damaged on disk after it was checked
        upload("/v1/audio/voices", "audio_sample", (arctic.read_bytes()), consent=consent["id"], name="v")
        upload("/v1/audio/voices", "audio_sample", broken, consent=consent["id"], name="v")
        (config.speakers / "junk.npz").write_bytes(b"not a prompt")
        (config.speakers / "folder").mkdir()
        (config.speakers / "folder" / "voice.json").write_text("{}")  # a voice folder that cannot be used
        for name in ("junk", "folder", "nobody"):
            answers.append(client.post("/speak", json={"name": name, "text": "Hello."}))
            answers.append(client.post("/v1/audio/speech", json={"model": "tts-1", "voice": name, "input": "Hi."}))
            answers.append(client.get(f"/speakers/{name}/preview.wav"))
        answers.append(client.get("/v1/audio/speech"))
        answers.append(client.get("/v1/models"))
        answers.append(client.delete("/v1/audio/voices/junk"))
    assert all(answer.status_code >= 400 for answer in answers if answer.request.url.path != "/v1/models")
    for answer in answers:
        assert "/tmp/" not in answer.text and str(tmp_path) not in answer.text, (answer.request.url, answer.text)
    assert any("digital silence" in answer.text for answer in answers)  # the messages still say what is wrong
    assert any("recording.wav" in answer.text or "mine.wav" in answer.text for answer in answers)
    method = next(answer for answer in answers if answer.request.method == "GET" and
                  answer.request.url.path == "/v1/audio/speech")
    assert method.status_code == 405 and method.json()["error"]["type"] == "invalid_request_error"
    models = [model["id"] for model in answers[-2].json()["data"]]
    assert models[0] == tiny["bark"].name and "tts-1" in models  # a folder model: its folder's name


def test_the_server_judges_a_chunk_as_speak_does(run_cli, tiny, model_args, tmp_path, hub, arctic):
    """The same prompt, text and seed through ``speak`` and through the server: the same chunk, judged against the
    same reference (the sidecar's embedding of the window: the server no longer has the upload), the same score."""
    assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    assert len(json.loads((tmp_path / "me.json").read_text())["reference_embedding"]) == 256
    spoken = run_cli("speak", "me.npz", "Hello there, my friend.", "-o", "out.wav", "--seed", "3", "--bark",
                     tiny["bark"], "--device", "cpu", "--no-check-words")  # the server's precision: auto
    assert spoken.exit_code == 0, spoken.output
    command = [chunk["similarity"] for chunk in json.loads((tmp_path / "out.json").read_text())["chunks"]]
    config = config_for(tiny, tmp_path / "speakers")
    config.speakers.mkdir()
    for suffix in (".npz", ".json"):
        shutil.copy(tmp_path / f"me{suffix}", config.speakers / f"me{suffix}")
    (tmp_path / "me.json").unlink()  # the recording's window is out of reach for the server too
    with serving(create_app(config, hub)) as base:
        answer = httpx.post(f"{base}/speak", json={"name": "me", "text": "Hello there, my friend.", "seed": 3},
                            timeout=300)
    assert answer.status_code == 200, answer.text
    served = [float(value) for value in answer.headers["x-chunk-similarities"].split(",")]
    assert np.allclose(served, command, atol=1e-4), (served, command)
    assert soundfile.read(io.BytesIO(answer.content))[0].shape == soundfile.read(tmp_path / "out.wav")[0].shape
