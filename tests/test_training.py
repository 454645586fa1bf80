"""The training side: generate-data, import-data, train-quantizer and evaluate-quantizer, with tiny models."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile
from safetensors.numpy import load_file
from support import run_process, shard_table
from teacher import write_teacher_dataset

from bark_clone.requests import TrainRequest
from bark_clone.training.quantizer import train_quantizer

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
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


@pytest.mark.slow
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
    train_quantizer(TrainRequest(data=tmp_path / "data", out=tmp_path / "by-index", arch="context",
                                 hubert=str(tiny["hubert"]), epochs=6, batch_size=8, lr=0.01, device="cpu",
                                 hidden_size=64, alignment="index"), progress=False)
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


@pytest.mark.filterwarnings("ignore:this run takes only:UserWarning")  # tiny data, on purpose
def test_resume_continues_training_exactly(generated, tiny, tmp_path, monkeypatch):
    from quantizer import train as train_module

    def request(out: str, resume: bool = False) -> TrainRequest:
        return TrainRequest(data=generated, out=tmp_path / out, arch="context", hubert=str(tiny["hubert"]), epochs=3,
                            batch_size=2, lr=3e-3, device="cpu", resume=resume, hidden_size=16)

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


@pytest.mark.slow
def test_ddp_training_with_two_processes(generated, tiny, tmp_path):
    result = run_process([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
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


def test_evaluate_quantizer_scores_an_unseen_dataset_whole_and_its_own_held_out(generated, tiny, run_cli):
    from quantizer.data import Clip, split_clips

    rows = [row for index in range(2) for row in shard_table(generated, index).select(["id", "semantic"]).to_pylist()]
    every = [Clip(row["id"], np.zeros((1, 1)), np.array(row["semantic"])) for row in rows]
    _, held_out = split_clips(every, 0.05)
    common = ["--data", generated, "--hubert", tiny["hubert"], "--device", "cpu", "--json"]

    def scored(*arguments):
        result = run_cli("evaluate-quantizer", *arguments, *common)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    published = scored("--quantizer", tiny["quantizer"])  # never saw these clips: every clip is a test clip
    assert published["split"] == "all" and not published["trained_on_this_data"]
    assert published["clips"] == len(every) == 8 and published["frames"] == sum(len(c.tokens) for c in every)
    assert 0 <= published["top1"] < 0.05 and published["top1"] <= published["top5"]  # a random quantizer
    forced = scored("--quantizer", tiny["quantizer"], "--split", "held-out")
    assert forced["clips"] == len(held_out) and forced["frames"] == sum(len(c.tokens) for c in held_out)
    trained = run_cli("train-quantizer", "--data", generated, "--out", "run", "--arch", "linear", "--hubert",
                      tiny["hubert"], "--epochs", "1", "--device", "cpu")
    assert trained.exit_code == 0
    assert "warning: this run takes only 1 optimizer step (7 training clips" in trained.stderr
    own = scored("--quantizer", "run")  # its own training data: only the held-out clips count
    assert own["split"] == "held-out" and own["trained_on_this_data"] and own["clips"] == len(held_out)


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
    table = shard_table(broken, 1)
    pq.write_table(table.slice(0, 0), broken / "shards" / "00001.parquet")
    args = ["--hubert", tiny["hubert"], "--epochs", "1", "--device", "cpu", "--arch", "linear"]
    result = run_cli("train-quantizer", "--data", broken, "--out", "run", *args)
    assert result.exit_code == 1 and "empty shard" in result.stderr
    assert not (tmp_path / "run").exists()  # nothing written

    mismatched = tmp_path / "mismatched"
    shutil.copytree(generated, mismatched)
    table = shard_table(mismatched, 0).to_pylist()
    table[0]["semantic"] = table[0]["semantic"] * 3
    pq.write_table(pq.read_table(mismatched / "shards" / "00000.parquet").from_pylist(
        table, schema=shard_table(mismatched, 0).schema), mismatched / "shards" / "00000.parquet")
    shutil.rmtree(mismatched / "features", ignore_errors=True)
    result = run_cli("train-quantizer", "--data", mismatched, "--out", "run", *args)
    assert result.exit_code == 1 and "cannot belong together" in result.stderr

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    result = run_cli("train-quantizer", "--data", generated, "--out", "taken", *args)
    assert result.exit_code == 1 and "not write as a training run; refusing to replace it: choose another" in \
        result.stderr  # never told to pass --force for a folder that is not a run
    result = run_cli("train-quantizer", "--data", generated, "--out", "taken", "--force", *args)
    assert result.exit_code == 1 and "refusing to replace it even with --force" in result.stderr
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    result = run_cli("train-quantizer", "--data", generated, "--out", "fresh", "--resume", *args)
    assert result.exit_code == 1 and "has no train_state.pt to resume from" in result.stderr
