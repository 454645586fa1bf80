"""Datasets and training checkpoints are someone else's files: manifests typed and bounded, shards found in the
folder, clips checked (or left out with a count), a resumed checkpoint checked before training (hardening, round
three)."""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import pytest
import torch
from trained_voices import phrases_file, train_arguments


def dataset_copy(generated: Path, root: Path, name: str) -> Path:
    target = root / name
    shutil.copytree(generated, target)
    return target


def edit_manifest(folder: Path, **fields) -> None:
    path = folder / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


@pytest.mark.parametrize("fields, expected", [
    ({"n_shards": 10**12}, "n_shards must be an integer in 1..100000"),
    ({"n_shards": "2"}, "n_shards must be an integer"),
    ({"n_shards": True}, "n_shards must be an integer"),
    ({"held_out_fraction": 2}, "held_out_fraction must lie between 0 and 0.5"),
    ({"settings": []}, "settings and features must be JSON objects"),
    ({"sample_rate": 8000}, "sample_rate must be 24000"),
])
def test_manifest_fields_are_typed_and_bounded(fields, expected, generated, tmp_path, run_cli, tiny):
    folder = dataset_copy(generated, tmp_path, "data")
    edit_manifest(folder, **fields)
    started = time.monotonic()
    result = run_cli("train-quantizer", "--data", folder, "--out", "run", "--hubert", tiny["hubert"], "--device",
                     "cpu")
    assert result.exit_code == 1 and expected in result.output and result.output.count("\n") == 1, result.output
    assert time.monotonic() - started < 10  # never looped over the claimed shards
    assert not (tmp_path / "run").exists()


def test_what_is_not_a_shard_is_named(generated, tmp_path, run_cli, tiny):
    for stray, make in (("notes.txt", lambda p: p.write_text("x")), ("00007.parquet", lambda p: p.mkdir()),
                        ("00099.parquet", lambda p: p.write_bytes(b"PAR1"))):
        folder = dataset_copy(generated, tmp_path, stray.replace(".", "-"))
        make(folder / "shards" / stray)
        result = run_cli("train-quantizer", "--data", folder, "--out", "run", "--hubert", tiny["hubert"],
                         "--device", "cpu")
        assert result.exit_code == 1 and f"shards/{stray} is not one of this dataset's parquet shards" in \
            result.output, result.output


def corrupt_clips(folder: Path, change) -> None:
    """Rewrite every shard with ``change(index, row)`` applied to its rows (``index`` counts across shards)."""
    from bark_clone.datasets import open_dataset

    dataset = open_dataset(folder)
    for shard in dataset.present_shards():
        rows = dataset.read_shard(shard).to_pylist()
        dataset.write_shard(shard, [change(shard * len(rows) + index, dict(row)) for index, row in enumerate(rows)])


def test_train_voice_leaves_out_clips_that_do_not_hold_together(generated, tmp_path, run_cli, tiny):
    def damage(index, row):
        codes = list(row["codes"])
        if index == 0:
            row["codes"] = codes[:-3]  # not whole codebooks
        elif index == 1:
            row["codes"] = [2000] + codes[1:]  # out of range (int16 holds it)
        elif index == 2:
            row["semantic"] = list(row["semantic"]) * 4  # four times as long as its codes
        return row

    from bark_clone.voices.command import dataset_rows

    folder = dataset_copy(generated, tmp_path, "mixed")
    corrupt_clips(folder, damage)
    skipped: list[str] = []
    rows = dataset_rows(folder, lambda: pytest.fail("every clip has codes"), skipped)
    assert len(rows) == 8 - 3 and len(skipped) == 3
    assert "not 8 whole codebooks" in skipped[0] and "must lie in 0..1023" in skipped[1]
    assert "cannot belong together" in skipped[2]
    assert all(codes.shape[0] == 8 and codes.max() < 1024 for _, _, codes in rows)
    arguments = [value for value in train_arguments("unused.wav", tiny, "voice", "--steps", "2")
                 if value != "unused.wav"]
    folder = dataset_copy(generated, tmp_path, "all-bad")
    corrupt_clips(folder, lambda index, row: {**row, "codes": [5000] * len(row["codes"])})
    result = run_cli(*arguments, "--data", folder)
    assert result.exit_code == 1 and "holds no usable clip (8 skipped" in result.output, result.output


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, tiny, arctic_audio) -> Path:
    """A train-voice run stopped after the coarse stage's first checkpoint."""
    from click.testing import CliRunner

    from bark_clone.cli.main import cli
    from bark_clone.voices import checkpoint as voice_folder

    root = tmp_path_factory.mktemp("interrupted")
    phrases = phrases_file(root / "me.wav", arctic_audio)
    original = voice_folder.save_checkpoint

    def stop(out, state):
        original(out, state)
        raise KeyboardInterrupt

    voice_folder.save_checkpoint = stop
    try:
        result = CliRunner().invoke(cli, [str(value) for value in train_arguments(phrases, tiny, str(root / "run"))],
                                    catch_exceptions=False)
    finally:
        voice_folder.save_checkpoint = original
    assert result.exit_code == 130 and (root / "run" / "train_state.pt").is_file()
    return root


TAMPERING = {
    "an adapter of another rank": (lambda s: s["adapter"].update(
        {key: torch.zeros(8, *value.shape[1:]) if "lora_A" in key else value for key, value in s["adapter"].items()}),
                                   "adapter tensors do not fit"),
    "a missing adapter tensor": (lambda s: s["adapter"].pop(sorted(s["adapter"])[0]), "adapter tensors do not fit"),
    "non-finite best": (lambda s: s.update(best={key: value * float("nan") for key, value in s["adapter"].items()}),
                        "best tensors are not finite"),
    "a run field more": (lambda s: s.update(run=json.dumps({**json.loads(s["run"]), "extra": 1})), "run record"),
    "a step as text": (lambda s: s.update(run=json.dumps({**json.loads(s["run"]), "step": "3"})), "run record"),
    "no optimizer": (lambda s: s.pop("optimizer"), "not one train-voice wrote"),
    "another optimizer": (lambda s: s.update(optimizer={"state": {}, "param_groups": []}), "optimizer state"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_a_resumed_checkpoint_that_does_not_fit_is_refused_in_one_line(case, interrupted, tiny, run_cli, tmp_path):
    change, expected = TAMPERING[case]
    run = tmp_path / "run"
    shutil.copytree(interrupted / "run", run)
    state = torch.load(run / "train_state.pt", weights_only=True)
    change(state["stages"]["coarse"])
    buffer = io.BytesIO()
    torch.save(state, buffer)
    (run / "train_state.pt").write_bytes(buffer.getvalue())
    result = run_cli(*train_arguments(interrupted / "me.wav", tiny, "run", "--resume"))
    errors = [line for line in result.output.splitlines() if not line.startswith("warning:")]
    assert result.exit_code == 1 and len(errors) == 1 and expected in errors[0], result.output
    assert not (run / "voice.json").exists()
