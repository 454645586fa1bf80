"""Hostile and careless files: the work is bounded by what the header declares, before any decoding."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from bark_clone.audio.sound import RecordingTooLong, check_audio_header, load_audio
from bark_clone.errors import UserError

MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"seconds": time.perf_counter() - started, "code": result.returncode, "stderr": result.stderr,
                  "rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def measured(arguments: list[str]) -> dict:
    """Run ``arguments`` in a fresh process: its wall time, exit code, stderr and peak RSS (KiB)."""
    output = subprocess.run([sys.executable, "-c", MEASURE, *arguments], capture_output=True, text=True, check=True)
    return json.loads(output.stdout)


def wav_with_rate(path: Path, rate: int, n_frames: int = 20_000) -> Path:
    """A 16-bit mono WAV whose header claims ``rate`` Hz (soundfile refuses to write such rates itself)."""
    buffer = io.BytesIO()
    noise = (0.1 * np.random.default_rng(0).standard_normal(n_frames)).astype(np.float32)
    soundfile.write(buffer, noise, 16_000, subtype="PCM_16", format="WAV")
    data = bytearray(buffer.getvalue())
    data[24:32] = struct.pack("<II", rate, min(rate * 2, 2**32 - 1))
    path.write_bytes(bytes(data))
    return path


def test_a_1_hz_header_is_refused_at_once_in_flat_memory(tmp_path):
    path = wav_with_rate(tmp_path / "slow.wav", 1)  # 40 KB: 20 000 frames "lasting" 5.5 hours
    assert path.stat().st_size < 50_000
    baseline = measured([sys.executable, "-m", "bark_clone", "make-speaker", str(tmp_path / "missing.wav")])
    run = measured([sys.executable, "-m", "bark_clone", "make-speaker", str(path), "-o", str(tmp_path / "out")])
    assert run["code"] == 1 and run["stderr"].count("\n") == 1 and "sample rate of 1 Hz" in run["stderr"]
    assert run["seconds"] < 2.0, run
    assert (run["rss_kb"] - baseline["rss_kb"]) / 1024 < 100, (run, baseline)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("rate", [1, 3_999, 384_001, 2_147_483_647])
def test_absurd_sample_rates_are_one_line_errors(tmp_path, rate, run_cli):
    path = wav_with_rate(tmp_path / "odd.wav", rate)
    with pytest.raises(UserError, match=f"sample rate of {rate} Hz"):
        load_audio(path)
    result = run_cli("make-speaker", path)
    assert result.exit_code == 1 and "sample rate" in result.stderr and "unexpected" not in result.stderr
    assert not (tmp_path / "speakers" / "odd.npz").exists()


@pytest.fixture(scope="module")
def speech_then_an_hour_of_dc(tmp_path_factory, arctic_audio) -> Path:
    """4 s of speech, then an hour of DC: a small FLAC (DC compresses to nothing) declaring 3604 s."""
    samples, rate = arctic_audio
    path = tmp_path_factory.mktemp("dc") / "dc.flac"
    with soundfile.SoundFile(path, "w", rate, 1, subtype="PCM_16", format="FLAC") as handle:
        handle.write(samples)
        block = np.full(600 * rate, 0.25, dtype=np.float32)
        for _ in range(6):
            handle.write(block)
    return path


def test_declared_length_over_the_limit_is_refused_before_decoding(speech_then_an_hour_of_dc):
    path = speech_then_an_hour_of_dc
    assert path.stat().st_size < 2_000_000
    started = time.perf_counter()
    with pytest.raises(RecordingTooLong, match="lasts 3604 s; at most 60 s") as caught:
        load_audio(path, 16_000, max_seconds=60)
    assert time.perf_counter() - started < 0.5 and caught.value.exact
    assert check_audio_header(path) == pytest.approx(3604, abs=1)


def test_a_header_that_understates_stops_decoding_at_the_limit(tmp_path, arctic_audio, monkeypatch):
    """A WAV written as a stream (data size left open) declares nothing; decoding stops once past the limit."""
    from bark_clone.audio import sound as audio_module

    samples, rate = arctic_audio
    path = tmp_path / "long.wav"
    soundfile.write(path, np.tile(samples, 30), rate)  # about 2 minutes
    monkeypatch.setattr(audio_module, "_check_header", lambda *args: None)  # as if the header said nothing
    monkeypatch.setattr(audio_module, "STREAM_BLOCK_SECONDS", 5.0)
    with pytest.raises(RecordingTooLong, match="lasts over 20 s") as caught:
        load_audio(path, 16_000, max_seconds=20)
    assert not caught.value.exact and 20 < caught.value.seconds <= 25


def test_server_refuses_the_long_flac_with_413_without_decoding_it(client, speech_then_an_hour_of_dc):
    started = time.perf_counter()
    response = client.post("/speakers", data={"name": "dc"},
                           files={"audio": ("dc.flac", speech_then_an_hour_of_dc.read_bytes(), "audio/flac")})
    assert response.status_code == 413 and "lasts 3604 s; this server takes at most 60 s" in response.json()["error"]
    assert time.perf_counter() - started < 2.0


def test_server_answers_400_for_an_absurd_rate_naming_the_clients_file(client, tmp_path):
    path = wav_with_rate(tmp_path / "odd.wav", 2_147_483_647)
    response = client.post("/speakers", data={"name": "odd"}, files={"audio": ("mine.wav", path.read_bytes())})
    assert response.status_code == 400
    message = response.json()["error"]
    assert "mine.wav declares a sample rate of 2147483647 Hz" in message and "bark-clone-upload" not in message


def test_a_folder_is_called_a_folder(tmp_path, run_cli):
    (tmp_path / "voices").mkdir()
    result = run_cli("make-speaker", tmp_path / "voices")
    assert result.exit_code == 1 and "is a folder, not an audio file" in result.stderr


def npy_header(shape: tuple[int, ...], dtype: str = "<i8") -> bytes:
    buffer = io.BytesIO()  # numpy writes the magic string and the header
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def prompt_with(path: Path, fine_shape: tuple[int, int], fine_bytes: int | None = None) -> Path:
    """A prompt .npz whose fine_prompt declares ``fine_shape``, holding ``fine_bytes`` of zeros (default: all)."""
    import zipfile

    declared = fine_shape[0] * fine_shape[1] * 8
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, array in (("semantic_prompt", np.zeros(100, np.int64)),
                           ("coarse_prompt", np.zeros((2, 150), np.int64))):
            archive.writestr(f"{key}.npy", npy_header(array.shape) + array.tobytes())
        with archive.open("fine_prompt.npy", "w", force_zip64=True) as entry:
            entry.write(npy_header(fine_shape))
            remaining = declared if fine_bytes is None else fine_bytes
            while remaining > 0:
                entry.write(b"\0" * min(remaining, 1 << 20))
                remaining -= 1 << 20
    return path


def test_inspect_bounds_what_an_npz_may_expand_to(tmp_path):
    bomb = prompt_with(tmp_path / "bomb.npz", (8, 3_200_000))  # 205 MB of zeros in a small file
    assert bomb.stat().st_size < 1_000_000
    small = prompt_with(tmp_path / "small.npz", (8, 150))
    baseline = measured([sys.executable, "-m", "bark_clone", "inspect", str(small)])
    run = measured([sys.executable, "-m", "bark_clone", "inspect", str(bomb)])
    assert run["code"] == 1 and "declares 25600000 values; a prompt holds at most 2160000" in run["stderr"]
    assert (run["rss_kb"] - baseline["rss_kb"]) / 1024 < 50, (run, baseline)  # not the 205 MB


def test_inspect_names_impossible_shapes_and_truncated_entries(tmp_path, run_cli):
    huge = prompt_with(tmp_path / "huge.npz", (8, 125_000_000_000), fine_bytes=1024)  # 10^12 values declared
    result = run_cli("inspect", huge)
    assert result.exit_code == 1 and "declares 1000000000000 values" in result.stderr
    assert "unexpected" not in result.stderr and "MemoryError" not in result.stderr
    short = prompt_with(tmp_path / "short.npz", (8, 150), fine_bytes=4000)
    result = run_cli("inspect", short)
    assert result.exit_code == 1 and "is truncated: entry fine_prompt.npy declares 9600 bytes" in result.stderr
    assert "Python objects" not in result.stderr
