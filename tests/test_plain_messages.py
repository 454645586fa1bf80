"""Messages that say what happened, and precision that fits the machine (hardening, round three)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import soundfile
from trained_voices import phrases_file, train_arguments


def test_files_that_are_not_recordings_say_what_they_are(run_cli, tmp_path, model_args):
    (tmp_path / "zero.wav").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.wav")
    (tmp_path / "loop.wav").symlink_to(tmp_path / "loop.wav")
    (tmp_path / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    noise = np.random.default_rng(0).normal(0, 0.1, (8000, 1024)).astype(np.float32)
    soundfile.write(tmp_path / "many.wav", noise, 16000, subtype="FLOAT")
    voice = np.random.default_rng(1).normal(0, 0.1, 32000).astype(np.float32)
    soundfile.write(tmp_path / "cancelled.wav", np.stack([voice, -voice], axis=1), 16000)
    cases = {"zero.wav": "is not a regular file (a device, a pipe or a socket)",
             "fifo.wav": "is not a regular file (a device, a pipe or a socket)",
             "loop.wav": "is a loop of symbolic links",
             "gone.wav": "is a symbolic link to a missing file",
             "many.wav": "declares 1024 channels; recordings have 1 to 64",
             "cancelled.wav": "its 2 channels cancel out when mixed to mono"}
    for name, message in cases.items():
        result = run_cli("make-speaker", name, "-o", "out.npz", *model_args)
        assert result.exit_code == 1 and message in result.output, (name, result.output)
        assert result.output.count("\n") == 1 and "empty" not in result.output and "silence" not in result.output
    assert not (tmp_path / "out.npz").exists()


def test_a_clipped_recording_is_called_clipped(run_cli, tiny, arctic_audio, tmp_path):
    phrases = phrases_file(tmp_path / "me.wav", arctic_audio)
    samples, rate = soundfile.read(phrases, dtype="float32")
    soundfile.write(tmp_path / "loud.wav", np.clip(samples * 40, -1, 1), rate)
    result = run_cli(*train_arguments("loud.wav", tiny, "voice"))
    assert result.exit_code == 1, result.output
    line = result.output.splitlines()[-1]
    assert "clipped" in line and "record again without that" in line and "give longer recordings" not in line, line
    assert not (tmp_path / "voice").exists()


@pytest.mark.parametrize("name", ["a:b", "x" * 65, "tab\there", "full\uff1awidth"])
def test_a_script_voice_name_is_checked_where_it_is_given(name, run_cli):
    result = run_cli("speak", "--script", "play.txt", "--voice", f"{name}=alice.npz", "-o", "play.wav")
    assert result.exit_code == 2 and "cannot stand before a colon in a script line" in result.output, result.output


def test_train_voice_offers_only_the_precisions_it_trains_in(run_cli, tiny):
    result = run_cli(*train_arguments("me.wav", tiny, "voice", "--dtype", "float16"))
    assert result.exit_code == 2 and "'float16' is not one of 'auto', 'float32', 'bfloat16'" in result.output


def fake_cpu(monkeypatch, flags: set[str]) -> None:
    from bark_clone.models import devices

    devices.cpu_flags.cache_clear()
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset(flags))


@pytest.mark.parametrize("flags, expected", [({"avx2", "fma"}, "float32"), ({"avx2", "avx512_bf16"}, "bfloat16"),
                                             ({"amx_bf16"}, "bfloat16"), ({"asimd", "bf16"}, "bfloat16")])
def test_auto_precision_follows_the_cpu(flags, expected, monkeypatch):
    from bark_clone.models.devices import native_bfloat16, resolve_dtype

    fake_cpu(monkeypatch, flags)
    assert resolve_dtype("auto", "cpu") == expected and native_bfloat16() == (expected == "bfloat16")
    assert resolve_dtype("float32", "cpu") == "float32"


def test_bfloat16_on_a_cpu_that_emulates_it_is_a_warning_with_its_cost(monkeypatch, run_cli, tiny, tmp_path, arctic,
                                                                       model_args):
    from bark_clone.bark import core

    assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    fake_cpu(monkeypatch, {"avx2"})
    seen = []
    monkeypatch.setattr(core, "set_precision", lambda model, dtype: seen.append(dtype) or "float32")  # the warning
    # is the point here, not an emulated run
    arguments = ["speak", "me.npz", "Hi.", "--bark", tiny["bark"], "--device", "cpu", "--tries", "1", "--force"]
    result = run_cli(*arguments, "-o", "a.wav", "--dtype", "bfloat16")
    assert result.exit_code == 0, result.output
    assert "warning: this CPU has no native bfloat16 (no AVX-512 BF16 or AMX)" in result.stderr
    assert "100x slower than float32" in result.stderr and seen == ["bfloat16"]
    result = run_cli(*arguments, "-o", "b.wav")  # auto: float32 on this CPU, and no warning
    assert result.exit_code == 0 and "warning" not in result.stderr and seen[-1] == "float32"
    shutil.rmtree(tmp_path / "unused", ignore_errors=True)
