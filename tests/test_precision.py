"""Precision and memory options: bfloat16 Bark runs end to end on CPU; what a device cannot run is refused."""

from __future__ import annotations

import json

import pytest
import torch


def test_bfloat16_bark_speaks_end_to_end_and_keeps_the_codec_in_float32(run_cli, arctic, model_args, tiny,
                                                                      tmp_path):
    from bark_clone.bark.core import load_bark

    bark = load_bark(str(tiny["bark"]), torch.device("cpu"), "bfloat16")
    assert next(bark.model.semantic.parameters()).dtype == torch.bfloat16
    assert next(bark.model.fine_acoustics.parameters()).dtype == torch.bfloat16
    assert next(bark.model.codec_model.parameters()).dtype == torch.float32
    assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    result = run_cli("speak", "me.npz", "hello this is a test", "-o", "bf16.wav", "--bark", tiny["bark"],
                     "--device", "cpu", "--dtype", "bfloat16", "--tries", "1", "--seed", "3")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "bf16.json").read_text())
    assert report["duration"] > 0 and len(report["chunks"]) == 1


@pytest.mark.parametrize("arguments, message", [
    (["--dtype", "float16"], "float16 is for GPUs"),
    (["--offload"], "it needs --device cuda"),
])
def test_what_the_device_cannot_run_is_refused_before_loading(run_cli, arctic, model_args, tiny, tmp_path,
                                                              arguments, message):
    assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    result = run_cli("speak", "me.npz", "hello", "-o", "out.wav", "--bark", "/nonexistent/bark", "--device", "cpu",
                     *arguments)
    assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "out.wav").exists()


def test_every_command_that_runs_bark_takes_dtype_and_offload():
    from click.testing import CliRunner

    from bark_clone.cli.main import cli

    for command in ("speak", "evaluate", "search", "serve", "make-speaker"):
        text = CliRunner().invoke(cli, [command, "--help"]).output
        assert "--dtype" in text and "--offload" in text, command
    assert "--dtype" in CliRunner().invoke(cli, ["generate-data", "--help"]).output


def test_a_batch_size_changes_no_generation(tiny):
    """Each row samples from its own generator (text i seeded with seed + i): sampled, not greedy, the same
    generations come out whatever the batch size."""
    from bark_clone.bark.core import load_bark
    from bark_clone.bark.generation import generate

    bark = load_bark(str(tiny["bark"]), torch.device("cpu"))
    texts = ["hello there", "a second sentence to speak", "and a third one"]

    def same(left, right) -> bool:
        return len(left) == len(right) and all(
            (a.fine_codes.shape == b.fine_codes.shape and (a.fine_codes == b.fine_codes).all()
             and (a.semantic_tokens == b.semantic_tokens).all()) for a, b in zip(left, right))

    whole = generate(bark, texts, seed=3)
    assert same(generate(bark, texts, seed=3, batch_size=2), whole)
    assert same(generate(bark, texts, seed=3, batch_size=1), whole)
    assert same(generate(bark, texts[2:], seed=5), whole[2:])  # text 2 of seed 3 is seed 5
    assert not same(generate(bark, texts[2:], seed=3), whole[2:])


def test_bark_is_cast_before_it_moves_to_its_device(tiny, monkeypatch):
    """A small GPU must never hold the float32 stages: the cast happens on the CPU, then the model moves. The
    ``meta`` device stands in for a GPU (moving there works without one)."""
    from transformers import BarkModel

    from bark_clone.bark.core import load_bark

    moves = []
    original = BarkModel.to

    def spy(self, *args, **kwargs):
        target = args[0] if args else kwargs.get("device")
        if target is not None and not isinstance(target, torch.dtype) and torch.device(target).type == "meta":
            moves.append(next(self.semantic.parameters()).dtype)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BarkModel, "to", spy)
    bark = load_bark(str(tiny["bark"]), torch.device("meta"), "bfloat16")
    assert moves == [torch.bfloat16]
    assert bark.device.type == "meta" and next(bark.model.fine_acoustics.parameters()).device.type == "meta"
    assert next(bark.model.codec_model.parameters()).dtype == torch.float32


def test_make_speaker_keeps_hubert_and_the_quantizer_in_float32_and_says_so(run_cli, arctic, model_args, tmp_path):
    import numpy as np

    assert run_cli("make-speaker", arctic, "-o", "f32.npz", *model_args).exit_code == 0
    result = run_cli("make-speaker", arctic, "-o", "bf16.npz", *model_args, "--dtype", "bfloat16")
    assert result.exit_code == 0 and "HuBERT and the quantizer always run in float32" in result.stderr
    with np.load(tmp_path / "f32.npz") as full, np.load(tmp_path / "bf16.npz") as asked:
        assert full.files == asked.files and all(np.array_equal(full[key], asked[key]) for key in full.files)
