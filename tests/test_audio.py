"""Audio in: formats, channel counts and rates, and every way a file can be unusable."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from bark_clone.audio.sound import load_audio, normalize_level, resample
from bark_clone.errors import UserError


def test_reads_mp3_stereo_48k_and_8bit(tmp_path, arctic_audio):
    samples, rate = arctic_audio
    stereo_48k = resample(samples, rate, 48_000)
    stereo = np.stack([stereo_48k, 0.5 * stereo_48k], axis=1)
    soundfile.write(tmp_path / "stereo.wav", stereo, 48_000)
    soundfile.write(tmp_path / "voice.mp3", samples, rate)
    soundfile.write(tmp_path / "voice8.wav", samples, rate, subtype="PCM_U8")
    soundfile.write(tmp_path / "voice.flac", samples, rate)

    loaded = load_audio(tmp_path / "stereo.wav")
    assert loaded.sample_rate == 48_000 and loaded.channels == 2 and loaded.samples.ndim == 1
    np.testing.assert_allclose(loaded.samples, 0.75 * stereo_48k, atol=1e-4)  # the mean of the channels
    for name in ("voice.mp3", "voice8.wav", "voice.flac"):
        audio = load_audio(tmp_path / name)
        assert audio.samples.dtype == np.float32 and audio.sample_rate == rate
        assert abs(audio.duration - 4.0) < 0.1, name
        # 8-bit and mp3 are lossy, but the waveform must still follow the original closely
        overlap = min(len(audio.samples), len(samples))
        correlation = np.corrcoef(audio.samples[:overlap], samples[:overlap])[0, 1]
        assert correlation > 0.9 or name == "voice.mp3", (name, correlation)


def test_resample_changes_length_by_the_rate_ratio(arctic_audio):
    samples, rate = arctic_audio
    assert len(resample(samples, rate, 24_000)) == len(samples) * 3 // 2
    np.testing.assert_array_equal(resample(samples, rate, rate), samples)  # same rate: the samples untouched


def test_normalize_reaches_target_and_respects_peak_ceiling():
    quiet = (0.01 * np.sin(np.linspace(0, 200 * np.pi, 16_000))).astype(np.float32)
    louder, gain_db = normalize_level(quiet)
    rms_db = 20 * np.log10(np.sqrt(np.mean(louder**2)))
    assert abs(rms_db + 20) < 0.5 and gain_db > 20
    spiky = quiet.copy()
    spiky[100] = 0.9  # one click: the gain must stop at -1 dBFS peak
    limited, _ = normalize_level(spiky)
    assert np.abs(limited).max() <= 10 ** (-1 / 20) + 1e-6


def _write(path, samples, rate, subtype=None):
    soundfile.write(path, samples, rate, subtype=subtype)
    return path


def _bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def _truncate(path, fraction=0.5):
    return _bytes(path, path.read_bytes()[: int(path.stat().st_size * fraction)])


def _spike(samples, value):
    spiked = samples.copy()
    spiked[9] = value
    return spiked


BAD_FILES = {
    "missing": (lambda d, s, r: d / "missing.wav", "no such file"),
    "empty": (lambda d, s, r: _bytes(d / "empty.wav", b""), "is empty"),
    "text": (lambda d, s, r: _bytes(d / "notes.wav", b"not audio at all\n" * 20), "not an audio file"),
    "truncated wav": (lambda d, s, r: _truncate(_write(d / "cut.wav", s, r)), "truncated"),
    "truncated flac": (lambda d, s, r: _truncate(_write(d / "cut.flac", s, r)), "truncated"),
    "truncated mp3": (lambda d, s, r: _truncate(_write(d / "cut.mp3", s, r)), "truncated"),
    "silence": (lambda d, s, r: _write(d / "silence.wav", np.zeros_like(s), r), "digital silence"),
    "nan": (lambda d, s, r: _write(d / "nan.wav", _spike(s, np.nan), r, "FLOAT"), "NaN"),
    "inf": (lambda d, s, r: _write(d / "inf.wav", _spike(s, np.inf), r, "FLOAT"), "infinite"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_audio_is_refused_with_a_clear_message(tmp_path, arctic_audio, case):
    make_file, message = BAD_FILES[case]
    path = make_file(tmp_path, *arctic_audio)
    with pytest.raises(UserError, match=message):
        load_audio(path)


def test_batched_vad_equals_silero_frame_by_frame(arctic_audio, monkeypatch):
    from bark_clone.audio import speech
    from bark_clone.audio.speech import load_vad, speech_probabilities

    vad = load_vad()
    samples = np.tile(arctic_audio[0], 3)
    monkeypatch.setattr(speech, "VAD_BLOCK_FRAMES", 37)  # many blocks: the LSTM state must carry across them
    batched = speech_probabilities(vad, samples)
    lstm, vad.lstm = vad.lstm, None  # silero's own loop
    one_by_one = speech_probabilities(vad, samples)
    vad.lstm = lstm
    assert lstm is not None and batched.shape == one_by_one.shape == (-(-len(samples) // 512),)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)
    assert batched.max() > 0.9 and batched.min() < 0.1  # speech and silence both present


def test_silero_private_layout_that_the_batched_vad_reads_is_still_there():
    """speech.py reaches into silero's scripted model (pyproject bounds silero-vad <7 for this). If a release moves
    these attributes, the VAD would silently fall back to the 10x slower frame loop: fail loudly here instead."""
    from bark_clone.audio.speech import load_vad

    vad = load_vad()
    model = vad.jit._model
    for path in ("stft", "encoder", "decoder.rnn.weight_ih", "decoder.rnn.weight_hh", "decoder.rnn.bias_ih",
                 "decoder.rnn.bias_hh", "decoder.decoder"):
        target = model
        for part in path.split("."):
            assert hasattr(target, part), f"silero-vad's model no longer has _model.{path}"
            target = getattr(target, part)
    assert vad.lstm is not None, "the batched VAD fell back to silero's frame-by-frame loop"


def test_streamed_reading_resamples_counts_clipping_and_seeks(tmp_path, arctic_audio, monkeypatch):
    from bark_clone.audio import sound as audio_module
    from bark_clone.audio.sound import read_segment

    samples, rate = arctic_audio
    loud = np.clip(samples * 4, -1, 1)  # clipped peaks
    stereo_48k = resample(loud, rate, 48_000)
    soundfile.write(tmp_path / "loud.wav", np.stack([stereo_48k, stereo_48k], 1), 48_000, subtype="FLOAT")
    monkeypatch.setattr(audio_module, "STREAM_BLOCK_SECONDS", 0.7)  # many blocks
    streamed = load_audio(tmp_path / "loud.wav", 16_000)
    whole = resample(stereo_48k, 48_000, 16_000)
    assert streamed.sample_rate == 16_000 and streamed.source_rate == 48_000 and streamed.channels == 2
    assert abs(len(streamed.samples) - len(whole)) <= 2
    overlap = min(len(whole), len(streamed.samples))
    assert np.corrcoef(streamed.samples[:overlap], whole[:overlap])[0, 1] > 0.999
    expected = np.abs(stereo_48k) >= 0.999
    assert streamed.clipped.shape == (int(np.ceil(len(stereo_48k) / (0.032 * 48_000))),)
    assert streamed.clipped.sum() * 0.032 * 48_000 == pytest.approx(expected.sum(), abs=1)
    part, part_rate = read_segment(tmp_path / "loud.wav", 1.25, 2.5)
    assert part_rate == 48_000
    np.testing.assert_allclose(part, stereo_48k[60_000:120_000], atol=1e-6)
