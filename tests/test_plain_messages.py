"""Messages that say what happened, and precision that fits the machine (hardening, round three)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import soundfile
from trained_voices import phrases_file, train_arguments

from bark_clone.prompting.format import SpeakerPrompt


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


def test_round_four_messages_say_what_happened(run_cli, tmp_path, model_args, arctic, tiny, monkeypatch):
    """An over-long file name, float16 on this CPU, a stock voice the loaded Bark lacks: one plain line each."""
    from bark_clone.bark.core import load_bark
    from bark_clone.bark.generation import generate
    from bark_clone.errors import UserError
    from bark_clone.models import devices

    long_name = "a" * 300 + ".npz"
    result = run_cli("make-speaker", arctic, "-o", long_name, *model_args)
    assert result.exit_code == 1 and "longer than this file system allows" in result.output, result.output
    assert result.output.count("\n") == 1 and "unexpected" not in result.output
    rng = np.random.default_rng(0)
    SpeakerPrompt.from_streams(rng.integers(0, 10_000, 100), rng.integers(0, 1024, (8, 150))).save(tmp_path / "x.npz")
    for native, said in ((True, "bfloat16 (this CPU computes it natively)"), (False, "float32 (this CPU has no")):
        monkeypatch.setattr(devices, "native_bfloat16", lambda native=native: native)
        result = run_cli("speak", "x.npz", "hello", "-o", "out.wav", "--bark", tiny["bark"], "--dtype", "float16",
                         "--device", "cpu")
        assert result.exit_code == 1 and said in result.output, result.output
    bark = load_bark(str(tiny["bark"]), "cpu")
    with pytest.raises(UserError, match=r"has no stock voice 'v2/en_speaker_99': it has v2/"):
        generate(bark, [("hello", "v2/en_speaker_99")])


def test_force_replaces_only_files_we_wrote(run_cli, tmp_path, model_args, arctic):
    (tmp_path / "notes.npz").write_text("my notes, not a prompt")
    result = run_cli("make-speaker", arctic, "-o", "notes.npz", "--force", *model_args)
    assert result.exit_code == 1 and "not a file bark-clone writes" in result.output, result.output
    assert (tmp_path / "notes.npz").read_text() == "my notes, not a prompt"
    assert run_cli("make-speaker", arctic, "-o", "mine.npz", *model_args).exit_code == 0
    again = run_cli("make-speaker", arctic, "-o", "mine.npz", "--force", *model_args)  # our own prompt: replaced
    assert again.exit_code == 0, again.output
