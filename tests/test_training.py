"""The training side: generate-data, import-data, train-quantizer and evaluate-quantizer, with tiny models."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile
import torch
from safetensors.numpy import load_file

from bark_clone.generate import generate_data
from bark_clone.requests import GenerateOptions, TrainRequest
from bark_clone.training import train_quantizer

from teacher import write_teacher_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def generated(tiny, tmp_path_factory) -> Path:
    """8 Bark samples from the tiny model, in 2 shards."""
    out = tmp_path_factory.mktemp("generated") / "data"
    generate_data(out, GenerateOptions(samples=8, bark=str(tiny["bark"]), batch_size=4, shard_size=4), "cpu",
                  progress=False)
    return out


def _table(folder: Path, index: int):
    return pq.read_table(folder / "shards" / f"{index:05d}.parquet")


def assert_same_shards(first: Path, second: Path, n_shards: int = 2) -> None:
    """Every column equal; the decoded audio may differ by one 16-bit step, because EnCodec's float sums round
    differently with another thread count (torchrun runs one thread per process)."""
    for index in range(n_shards):
        a, b = _table(first, index), _table(second, index)
        for column in a.column_names:
            if column != "audio":
                assert a.column(column).equals(b.column(column)), (index, column)
        for blob_a, blob_b in zip(a.column("audio").to_pylist(), b.column("audio").to_pylist()):
            audio_a, audio_b = soundfile.read(io.BytesIO(blob_a))[0], soundfile.read(io.BytesIO(blob_b))[0]
            assert len(audio_a) == len(audio_b) and np.abs(audio_a - audio_b).max() <= 1.5 / 32768


def test_generated_samples_hold_text_tokens_audio_and_settings(generated):
    manifest = json.loads((generated / "manifest.json").read_text())
    assert manifest["format"] == "bark-clone-dataset" and manifest["n_shards"] == 2
    rows = _table(generated, 0).to_pylist() + _table(generated, 1).to_pylist()
    assert len(rows) == 8 and len({row["id"] for row in rows}) == 8
    for row in rows:
        audio, rate = soundfile.read(io.BytesIO(row["audio"]))
        assert rate == 24_000 and row["text"].strip()
        assert 0.6 <= row["semantic_temperature"] <= 0.8 and row["fine_temperature"] == 0.5
        assert all(0 <= token < 10_000 for token in row["semantic"])
        # Bark's own length rule: floor(N * 75 / 49.9) codec frames of 320 samples
        assert len(audio) == int(np.floor(len(row["semantic"]) * 75 / 49.9)) * 320


def test_full_chain_every_arch_then_make_speaker_passes_barks_checks(generated, tiny, run_cli, bark_checks,
                                                                      tmp_path):
    common = ["--data", generated, "--hubert", tiny["hubert"], "--epochs", "1", "--batch-size", "4",
              "--device", "cpu"]
    runs = {"lstm": ["--hidden-size", "16", "--export-gitmylo", "exported.pth"], "linear": [],
            "context": ["--hidden-size", "32"], "kmeans": ["--clusters", "8"]}
    speaker_args = ["--hubert", tiny["hubert"], "--encodec", tiny["encodec"], "--device", "cpu"]
    for arch, extra in runs.items():
        result = run_cli("train-quantizer", *common, "--out", f"runs/{arch}", "--arch", arch, *extra)
        assert result.exit_code == 0, result.output
        run = tmp_path / "runs" / arch
        assert {"config.json", "model.safetensors", "metrics.json", "metrics.png"} <= {p.name for p in run.iterdir()}
        assert json.loads((run / "config.json").read_text())["hubert"] == str(tiny["hubert"])
        result = run_cli("make-speaker", REPO / "tests" / "data" / "arctic_a0007.wav", "-o", f"{arch}.npz",
                         "--quantizer", run, *speaker_args)
        assert result.exit_code == 0, result.output
        bark_checks(tmp_path / f"{arch}.npz")
    result = run_cli("make-speaker", REPO / "tests" / "data" / "arctic_a0007.wav", "-o", "exported.npz",
                     "--quantizer", "exported.pth", *speaker_args)
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "exported.npz")["semantic_prompt"],
                                  np.load(tmp_path / "lstm.npz")["semantic_prompt"])  # same model, both formats


def test_learnability_planted_teacher_and_misaligned_labels_score_worse(tiny, run_cli, tmp_path):
    """The quantizer must learn tokens that are a known function of the audio at 49.9 Hz.

    Threshold: the teacher has 16 classes and the commonest covers under 10 % of tokens, so guessing scores below
    0.10. Time-aligned training must reach 0.45 held-out (observed about 0.65 after 6 epochs). Labels paired by index
    (the published trainer's way) are one frame off for half of each 8-12 s clip, which must cost at least 0.15.
    """
    stats = write_teacher_dataset(tmp_path / "teacher", tiny["hubert"], n_clips=28)
    assert stats["majority"] < 0.10
    assert run_cli("import-data", "teacher", "--out", "data", "--held-out", "0.3").exit_code == 0
    common = ["--data", "data", "--hubert", tiny["hubert"], "--arch", "context", "--hidden-size", "64",
              "--epochs", "6", "--batch-size", "8", "--lr", "0.01", "--device", "cpu"]
    result = run_cli("train-quantizer", *common, "--out", "aligned")
    assert result.exit_code == 0, result.output
    train_quantizer(TrainRequest(tmp_path / "data", tmp_path / "by-index", "context", str(tiny["hubert"]), 6, 8,
                                 0.01, "cpu", hidden_size=64, alignment="index"), progress=False)
    scores = {}
    for run in ("aligned", "by-index"):
        result = run_cli("evaluate-quantizer", "--quantizer", run, "--data", "data", "--hubert", tiny["hubert"],
                         "--device", "cpu", "--json")
        assert result.exit_code == 0, result.output
        scores[run] = json.loads(result.stdout)
        assert {"top1", "top5", "frames"} <= set(scores[run]) and scores[run]["frames"] > 2000
    assert scores["aligned"]["top1"] >= 0.45, scores
    assert scores["aligned"]["top1"] - scores["by-index"]["top1"] >= 0.15, scores
    assert scores["aligned"]["top5"] >= scores["aligned"]["top1"]
    recorded = json.loads((tmp_path / "aligned" / "metrics.json").read_text())["best"]["held_out"]
    assert recorded["top1"] == pytest.approx(scores["aligned"]["top1"])  # training's split is evaluate's split


def test_resume_continues_training_exactly(generated, tiny, tmp_path, monkeypatch):
    from quantizer import train as train_module

    def request(out: str, resume: bool = False) -> TrainRequest:
        return TrainRequest(generated, tmp_path / out, "context", str(tiny["hubert"]), 3, 2, 3e-3, "cpu",
                            resume=resume, hidden_size=16)

    train_quantizer(request("straight"), progress=False)
    original, calls = train_module.write_metrics, []

    def die_after_first_epoch(folder, metrics):
        original(folder, metrics)
        calls.append(1)
        raise KeyboardInterrupt  # killed right after epoch 1 was saved

    monkeypatch.setattr(train_module, "write_metrics", die_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_quantizer(request("killed"), progress=False)
    monkeypatch.setattr(train_module, "write_metrics", original)
    assert json.loads((tmp_path / "killed" / "metrics.json").read_text())["epochs"][-1]["epoch"] == 1
    train_quantizer(request("killed", resume=True), progress=False)
    straight = load_file(str(tmp_path / "straight" / "model.safetensors"))
    resumed = load_file(str(tmp_path / "killed" / "model.safetensors"))
    assert straight.keys() == resumed.keys()
    for key in straight:
        np.testing.assert_array_equal(straight[key], resumed[key], err_msg=key)
    epochs = json.loads((tmp_path / "killed" / "metrics.json").read_text())["epochs"]
    assert [record["epoch"] for record in epochs] == [1, 2, 3]


def _run(arguments: list[str], env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(arguments, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_killed_generate_data_resumes_into_the_same_dataset(generated, tiny, tmp_path):
    command = [sys.executable, "-m", "bark_clone", "generate-data", "--out", str(tmp_path / "data"),
               "--samples", "8", "--bark", str(tiny["bark"]), "--batch-size", "4", "--shard-size", "4",
               "--device", "cpu"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = tmp_path / "data" / "shards" / "00000.parquet"
    deadline = time.time() + 120
    while not first.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert first.exists() and not (tmp_path / "data" / "shards" / "00001.parquet").exists()
    assert not list((tmp_path / "data" / "shards").glob("00001*"))  # nothing half-written
    result = _run(command)
    assert result.returncode == 0, result.stderr
    assert_same_shards(tmp_path / "data", generated)


def test_torchrun_ranks_share_the_shards(generated, tiny, tmp_path):
    result = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                   "-m", "bark_clone", "generate-data", "--out", str(tmp_path / "data"), "--samples", "8",
                   "--bark", str(tiny["bark"]), "--batch-size", "4", "--shard-size", "4", "--device", "cpu"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert_same_shards(tmp_path / "data", generated)


def test_ddp_training_with_two_processes(generated, tiny, tmp_path):
    result = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                   "-m", "bark_clone", "train-quantizer", "--data", str(generated), "--out", str(tmp_path / "run"),
                   "--arch", "linear", "--hubert", str(tiny["hubert"]), "--epochs", "2", "--batch-size", "2",
                   "--device", "cpu"])
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [record["epoch"] for record in metrics["epochs"]] == [1, 2]
    assert metrics["epochs"][-1]["world_size"] == 2
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_prepared_features_import_and_train_with_their_hubert(tiny, tmp_path, run_cli):
    rng = np.random.default_rng(0)
    source = tmp_path / "ready"
    source.mkdir()
    for index in range(6):
        tokens = rng.integers(0, 10_000, 300)
        np.save(source / f"{index}_semantic.npy", tokens)
        np.save(source / f"{index}_semantic_features.npy", rng.standard_normal((301, 32)).astype(np.float32))
    assert run_cli("import-data", source, "--out", "data", "--features-hubert", tiny["hubert"]).exit_code == 0
    result = run_cli("train-quantizer", "--data", "data", "--out", "run", "--arch", "linear", "--hubert",
                     tiny["hubert"], "--epochs", "1", "--device", "cpu")
    assert result.exit_code == 0, result.output
    refused = run_cli("train-quantizer", "--data", "data", "--out", "run2", "--arch", "linear", "--epochs", "1",
                      "--device", "cpu")  # default HuBERT: not the one that made these features
    assert refused.exit_code == 1 and "holds features from HuBERT" in refused.stderr


def test_evaluate_published_format_quantizer_as_json(generated, tiny, run_cli):
    result = run_cli("evaluate-quantizer", "--quantizer", tiny["quantizer"], "--data", generated, "--hubert",
                     tiny["hubert"], "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert 0 <= report["top1"] <= report["top5"] <= 1 and report["frames"] > 0


def _prepared(folder: Path, n_tokens: int = 300, n_frames: int = 301, nan: bool = False,
              semantic: np.ndarray | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    features = np.zeros((n_frames, 32), np.float32)
    if nan:
        features[5, 3] = np.nan
    np.save(folder / "0_semantic.npy", np.arange(n_tokens) if semantic is None else semantic)
    np.save(folder / "0_semantic_features.npy", features)
    return folder


def test_import_refuses_bad_data(tmp_path, run_cli, arctic_audio):
    samples, rate = arctic_audio
    cases = {
        "missing half": (lambda d: (d.mkdir(), np.save(d / "0_semantic.npy", np.arange(10)),
                                    soundfile.write(d / "1.wav", samples, rate)), "has no matching"),
        "empty tokens": (lambda d: _prepared(d, semantic=np.zeros(0, np.int64)), "empty"),
        "lengths": (lambda d: _prepared(d, n_tokens=300, n_frames=900), "cannot belong together"),
        "nan": (lambda d: _prepared(d, nan=True), "NaN"),
        "wav lengths": (lambda d: (d.mkdir(), np.save(d / "0_semantic.npy", np.arange(600)),
                                   soundfile.write(d / "0.wav", samples, rate)), "cannot belong together"),
    }
    for name, (build, words) in cases.items():
        source = tmp_path / name.replace(" ", "-")
        build(source)
        result = run_cli("import-data", source, "--out", f"out-{source.name}")
        assert result.exit_code == 1 and words in result.stderr, (name, result.stderr)
        assert not (tmp_path / f"out-{source.name}").exists(), name


def test_training_refuses_bad_data_and_existing_output(generated, tiny, tmp_path, run_cli):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(generated, broken)
    table = _table(broken, 1)
    pq.write_table(table.slice(0, 0), broken / "shards" / "00001.parquet")
    args = ["--hubert", tiny["hubert"], "--epochs", "1", "--device", "cpu", "--arch", "linear"]
    result = run_cli("train-quantizer", "--data", broken, "--out", "run", *args)
    assert result.exit_code == 1 and "empty shard" in result.stderr
    assert not (tmp_path / "run").exists()  # nothing written

    mismatched = tmp_path / "mismatched"
    shutil.copytree(generated, mismatched)
    table = _table(mismatched, 0).to_pylist()
    table[0]["semantic"] = table[0]["semantic"] * 3
    pq.write_table(pq.read_table(mismatched / "shards" / "00000.parquet").from_pylist(
        table, schema=_table(mismatched, 0).schema), mismatched / "shards" / "00000.parquet")
    shutil.rmtree(mismatched / "features", ignore_errors=True)
    result = run_cli("train-quantizer", "--data", mismatched, "--out", "run", *args)
    assert result.exit_code == 1 and "cannot belong together" in result.stderr

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    result = run_cli("train-quantizer", "--data", generated, "--out", "taken", *args)
    assert result.exit_code == 1 and "--resume" in result.stderr and "--force" in result.stderr
    result = run_cli("train-quantizer", "--data", generated, "--out", "taken", "--force", *args)
    assert result.exit_code == 1 and "refusing to delete" in result.stderr
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    result = run_cli("train-quantizer", "--data", generated, "--out", "fresh", "--resume", *args)
    assert result.exit_code == 1 and "has no train_state.pt to resume from" in result.stderr


def test_generate_data_refuses_other_settings_in_an_existing_dataset(generated, tiny, run_cli):
    result = run_cli("generate-data", "--out", generated, "--samples", "8", "--bark", tiny["bark"],
                     "--batch-size", "2", "--shard-size", "4", "--device", "cpu")
    assert result.exit_code == 1 and "other settings" in result.stderr
    again = run_cli("generate-data", "--out", generated, "--samples", "8", "--bark", tiny["bark"],
                    "--batch-size", "4", "--shard-size", "4", "--device", "cpu")
    assert again.exit_code == 0 and "0 shard(s) made now" in again.stdout  # finished shards are skipped


def test_presets_give_some_batches_a_stock_voice(tiny, run_cli, tmp_path):
    result = run_cli("generate-data", "--out", "voiced", "--samples", "8", "--bark", tiny["bark"], "--batch-size",
                     "2", "--shard-size", "8", "--presets", "--seed", "1", "--device", "cpu")
    assert result.exit_code == 0, result.output
    voices = _table(tmp_path / "voiced", 0).column("voice").to_pylist()
    assert set(voices) <= {"", "v2/en_speaker_0", "v2/en_speaker_1"}
    assert "" in voices and set(voices) - {""}  # random voices and stock voices both appear (fixed seed)
    refused = run_cli("generate-data", "--out", "other", "--samples", "2", "--bark", tiny["bark"], "--presets",
                      "--language", "de", "--device", "cpu")
    assert refused.exit_code == 1 and "no stock voices for language 'de'" in refused.stderr


def test_last_position_logits_change_no_generated_token(tiny, monkeypatch):
    import contextlib

    from bark_clone import bark as bark_module

    bark = bark_module.load_bark(str(tiny["bark"]), torch.device("cpu"))
    texts = ["hello this is a test", "the voice"]
    fast = bark_module.generate_batch(bark, texts, seed=3)
    monkeypatch.setattr(bark_module, "last_position_logits", lambda bark: contextlib.nullcontext())
    full = bark_module.generate_batch(bark, texts, seed=3)
    for generation_a, generation_b in zip(fast, full):
        np.testing.assert_array_equal(generation_a.semantic_tokens, generation_b.semantic_tokens)
        np.testing.assert_array_equal(generation_a.fine_codes, generation_b.fine_codes)
        np.testing.assert_allclose(generation_a.audio, generation_b.audio, atol=1e-6)
