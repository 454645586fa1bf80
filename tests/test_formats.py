"""The formats players want, everywhere audio is delivered: files from speak, /speak?format=, streamed replies."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from bark_clone.audio.formats import FORMATS, StreamEncoder, encode, format_for_suffix, format_named
from bark_clone.errors import UserError

RATE = 24_000
TIME = np.arange(36_000) / RATE
# a rising chirp with a burst of noise: no period, so a decode aligns with it at one lag only
SIGNAL = (0.3 * np.sin(2 * np.pi * (200 * TIME + 300 * TIME**2)) +
          0.05 * np.random.default_rng(0).normal(size=len(TIME)) * (TIME > 0.8)).astype(np.float32)
LOSSLESS = ("wav", "flac", "pcm")
MIN_CORRELATION = 0.9  # a lossy decode against the original; silence or noise of the right length scores about 0


def decode(data: bytes, name: str) -> np.ndarray:
    """A reply's samples (float32): raw PCM read as 16-bit little-endian, as the format promises."""
    if name == "pcm":
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    assert rate == RATE
    return samples


def best_correlation(decoded: np.ndarray, original: np.ndarray, most_lag: int = 4_000) -> float:
    """The highest normalised correlation of ``decoded`` with ``original`` over lags up to ``most_lag`` samples
    (codecs add a delay), over the original's length."""
    best = 0.0
    for lag in range(0, min(most_lag, len(decoded) - len(original) // 2)):
        piece = decoded[lag: lag + len(original)]
        reference = original[: len(piece)]
        best = max(best, float(piece @ reference / (np.linalg.norm(piece) * np.linalg.norm(reference) + 1e-12)))
    return best


def quantised(samples: np.ndarray) -> np.ndarray:
    """What 16-bit PCM holds of ``samples``."""
    return np.frombuffer(encode(samples, RATE, FORMATS["pcm"]), "<i2").astype(np.float32) / 32768


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_format_decodes_to_the_same_24_khz_speech(name):
    decoded = decode(encode(SIGNAL, RATE, FORMATS[name]), name)
    if name in LOSSLESS:  # what 16-bit PCM holds, within its step of the original (libsndfile's FLAC rounds some
        # samples the other way: one step apart at most, never more)
        assert np.abs(decoded - quantised(SIGNAL)).max() <= (1 / 32768 if name == "flac" else 0)
        assert np.abs(decoded - SIGNAL).max() <= 1 / 32768
    else:
        assert abs(len(decoded) - len(SIGNAL)) < 0.05 * len(SIGNAL)
        assert best_correlation(decoded, SIGNAL) >= MIN_CORRELATION, name
        assert best_correlation(np.random.default_rng(1).normal(0, 0.3, len(decoded)).astype(np.float32),
                                SIGNAL) < 0.2  # the measure tells noise of the right length apart


def test_pcm_is_little_endian_16_bit():
    data = encode(np.array([0.5, -0.25, 1.5], np.float32), RATE, FORMATS["pcm"])
    assert data == np.array([16384, -8192, 32767], "<i2").tobytes()  # clipped at full scale


@pytest.mark.parametrize("name", [name for name, fmt in FORMATS.items() if fmt.streamable])
def test_streamable_formats_encode_piece_by_piece_into_the_same_speech(name):
    encoder = StreamEncoder(FORMATS[name], RATE)
    data = b"".join(encoder.feed(piece) for piece in np.array_split(SIGNAL, 3)) + encoder.close()
    if name == "pcm":
        decoded = decode(data, name)
    else:
        with soundfile.SoundFile(io.BytesIO(data)) as handle:
            assert handle.samplerate == RATE
            decoded = np.concatenate(list(handle.blocks(4096, dtype="float32")))
    if name in LOSSLESS:  # the pieces, in order, are exactly the whole
        np.testing.assert_array_equal(decoded, decode(encode(SIGNAL, RATE, FORMATS[name]), name))
    else:
        assert best_correlation(decoded, SIGNAL) >= MIN_CORRELATION, name


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
    whole_wav = client.post("/speak", json={"name": "alice", "text": "Good evening to you."})
    samples = soundfile.read(io.BytesIO(whole_wav.content), dtype="int16")[0]
    np.testing.assert_array_equal(np.frombuffer(streamed.content, "<i2"), samples)  # the same speech, little-endian
    refused = client.get("/speak/alice", params={"text": "Hi.", "format": "aac"})
    assert refused.status_code == 400 and "AAC" in refused.json()["error"]
