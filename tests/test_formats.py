"""The formats players want, everywhere audio is delivered: files from speak, /speak?format=, streamed replies."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from bark_clone.audio.formats import FORMATS, StreamEncoder, encode, format_for_suffix, format_named
from bark_clone.errors import UserError

TONE = (0.3 * np.sin(np.arange(36_000) / 24_000 * 2 * np.pi * 220)).astype(np.float32)


@pytest.mark.parametrize("name", [name for name in FORMATS if name != "pcm"])
def test_each_format_decodes_to_the_same_24_khz_speech(name):
    samples, rate = soundfile.read(io.BytesIO(encode(TONE, 24_000, FORMATS[name])), dtype="float32")
    assert rate == 24_000 and abs(len(samples) - len(TONE)) < 0.05 * len(TONE)


@pytest.mark.parametrize("name", [name for name, fmt in FORMATS.items() if fmt.streamable and name != "pcm"])
def test_streamable_formats_encode_piece_by_piece_into_one_readable_file(name):
    encoder = StreamEncoder(FORMATS[name], 24_000)
    data = b"".join(encoder.feed(piece) for piece in np.array_split(TONE, 3)) + encoder.close()
    with soundfile.SoundFile(io.BytesIO(data)) as handle:
        samples = np.concatenate(list(handle.blocks(4096, dtype="float32")))
        assert handle.samplerate == 24_000
    assert abs(len(samples) - len(TONE)) < 0.05 * len(TONE)


def test_unknown_and_refused_formats_are_one_line():
    with pytest.raises(UserError, match="AAC has no encoder"):
        format_named("aac")
    with pytest.raises(UserError, match="choose one of wav, flac, mp3, opus, ogg, pcm"):
        format_named("wma")
    with pytest.raises(UserError, match="must end in"):
        format_for_suffix(".txt")
    with pytest.raises(UserError, match="cannot be streamed"):
        StreamEncoder(FORMATS["mp3"], 24_000)


def test_speak_writes_mp3_and_opus_files(run_cli, arctic, model_args, tiny, tmp_path):
    assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    for suffix in (".mp3", ".opus", ".flac", ".ogg"):
        result = run_cli("speak", "me.npz", "Hello there.", "-o", f"story-{suffix[1:]}{suffix}", "--bark", tiny["bark"],
                         "--device", "cpu", "--tries", "1")
        assert result.exit_code == 0, result.output
        samples, rate = soundfile.read(tmp_path / f"story-{suffix[1:]}{suffix}")
        assert rate == 24_000 and len(samples) > 0, suffix
    result = run_cli("speak", "me.npz", "Hi.", "-o", "story.aac", "--bark", tiny["bark"], "--device", "cpu")
    assert result.exit_code == 1 and "AAC has no encoder" in result.output


def test_the_server_answers_in_the_format_asked_and_caches_each(client, arctic):
    from test_server_streaming import upload

    upload(client, "alice", arctic.read_bytes())
    whole = client.get("/speak/alice", params={"text": "Hello there.", "format": "opus"})
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/ogg"
    samples, rate = soundfile.read(io.BytesIO(whole.content))
    assert rate == 24_000 and len(samples) > 0
    again = client.get("/speak/alice", params={"text": "Hello there.", "format": "opus"})
    assert again.headers["x-cache"] == "hit" and again.content == whole.content
    wav = client.get("/speak/alice", params={"text": "Hello there."})
    assert wav.headers["content-type"] == "audio/wav" and wav.content != whole.content
    streamed = client.post("/speak", json={"name": "alice", "text": "Good evening to you.", "stream": True,
                                           "format": "pcm"})
    assert streamed.status_code == 200 and streamed.headers["x-stream"] == "chunks"
    assert streamed.headers["content-type"] == "audio/pcm" and len(streamed.content) % 2 == 0 and streamed.content
    refused = client.get("/speak/alice", params={"text": "Hi.", "format": "aac"})
    assert refused.status_code == 400 and "AAC" in refused.json()["error"]
