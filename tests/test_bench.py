"""The benchmark suite keeps working: run once at tiny sizes (the numbers mean nothing here; the bench is not a test
of speed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_runs_at_tiny_sizes_and_reports_every_measure(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "bench.py"), "--tiny", "--repeats", "1",
                             "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["tiny"] is True and report["machine"]["cores"] >= 1
    for row in report["make_speaker"]["rows"]:
        for key in ("hubert", "quantizer", "encodec", "warm_total", "bare", "cold_cli", "peak_rss_mb"):
            assert math.isfinite(row[key]) and row[key] > 0, (key, row)
        # (no ratio between them here: at tiny sizes both are tenths of a second from separate runs, and another
        # process on the machine flips their order; the bench itself reports the ratios at real sizes)
    assert [row["minutes"] for row in report["long_inputs"]["rows"]] == [0.25, 1.0]
    assert report["training"]["reference_v1"] > 0 and report["training"]["ours_v1"] > 0
    assert report["generation"]["batched_audio_per_second"] > 0
    long_form = report["long_form"]
    assert long_form["chunks"] >= 4 and long_form["batched_audio_per_second"] > 0
    assert long_form["speedup"] == pytest.approx(long_form["batched_audio_per_second"]
                                                 / long_form["sequential_audio_per_second"])
    assert "long-form speak" in result.stdout
    for path, line in (("evaluate", "evaluate: voices"), ("refine", "make-speaker --refine: candidates"),
                       ("search_scoring", "search scoring: candidates")):
        row = report[path]
        assert row["batched_per_minute"] > 0 and row["one_at_a_time_per_minute"] > 0 and line in result.stdout
        assert row["speedup"] == pytest.approx(row["batched_per_minute"] / row["one_at_a_time_per_minute"], rel=0.02)
    assert report["refine"]["candidates"] == 2 and report["evaluate"]["sentences"] == 5
    check_engine_rows(report, result.stdout)
    check_decoder_rows(report, result.stdout)
    check_batching_row(report["engine"], result.stdout)
    precision = report["precision"]
    assert [entry["dtype"] for entry in precision["dtypes"]] == ["float32", "bfloat16"]  # no float16 on CPU
    for entry in precision["dtypes"]:
        assert entry["audio_per_second"] > 0
        for name in ("speak", "search"):  # each run loads what its baseline loads, then generates on top
            assert entry[f"{name}_rss_mb"] >= entry[f"{name}_load_rss_mb"] > 0 and f"{name}_gpu_peak_mb" not in entry
        assert entry["search_load_rss_mb"] > entry["speak_load_rss_mb"]  # the search also holds HuBERT and EnCodec
        assert entry["search_candidates"] == 2  # its starting population was generated (and checked)
    assert "Bark per dtype on cpu" in result.stdout and "no GPU here: not measured" in result.stdout
    only = subprocess.run([sys.executable, str(REPO / "scripts" / "bench.py"), "--tiny", "--rows", "training"],
                          capture_output=True, text=True, timeout=600)
    assert only.returncode == 0 and "training frames/s" in only.stdout and "make-speaker" not in only.stdout
    if not torch.cuda.is_available():
        cuda = subprocess.run([sys.executable, str(REPO / "scripts" / "bench.py"), "--tiny", "--device", "cuda"],
                              capture_output=True, text=True, timeout=600)
        assert cuda.returncode == 2 and "no CUDA device here" in cuda.stderr and "machine:" not in cuda.stdout
    voice = report["voice_training"]
    for stage in ("coarse", "fine"):
        for dtype in ("float32", "bfloat16"):
            assert voice[f"{stage}_{dtype}_tokens_per_second"] > 0 and voice[f"{stage}_{dtype}_minutes_per_epoch"] > 0
    memory = report["voice_memory"]["rows"]  # one training step per stage and dtype, each in a fresh process
    assert {(row["stage"], row["dtype"]) for row in memory} == {(stage, dtype) for stage in ("coarse", "fine")
                                                                 for dtype in ("float32", "bfloat16")}
    assert all(row["over_load_mb"] > 0 and ("gpu_peak_mb" in row) == torch.cuda.is_available() for row in memory)
    merged = report["voice_generation"]
    assert merged["ratio"] == pytest.approx(merged["merged_seconds"] / merged["base_seconds"])
    assert "voice adapters (LoRA rank 16)" in result.stdout
    measures = [check["measure"] for check in report["targets"]]
    assert any("cold CLI" in m for m in measures) and any("training throughput" in m for m in measures)
    assert "make-speaker (warm" in result.stdout and "(target" in result.stdout  # the table and its verdicts


def check_engine_rows(report: dict, stdout: str) -> None:
    """The engine and its peers, per dtype, stage by stage; the search's batched scoring; their targets."""
    bark = report["bark"]
    assert bark["batch"] == 2 and set(bark["dtypes"]) == {"float32", "bfloat16"}
    for paths in bark["dtypes"].values():
        assert set(paths) == {"engine", "transformers", "suno", "engine mixed voices",
                              "transformers one voice a generation"}
        assert set(paths["engine"]) == {"batch_1", "batch_2"} and set(paths["suno"]) == {"batch_1"}
        for modes in paths.values():
            for times in modes.values():
                assert times["total"] == pytest.approx(sum(times[stage] for stage in ("semantic", "coarse", "fine",
                                                                                       "decode")), abs=0.01)
                assert times["audio_seconds"] > 0
    assert bark["roofline"]["matmul_gflops"]["float32"] > 0 and bark["shares"]["float32"]["fine"]["gflops"] > 0
    assert report["search_batching"]["speedup"] == pytest.approx(
        report["search_batching"]["batched_per_minute"] / report["search_batching"]["before_per_minute"], rel=0.02)
    measures = [check["measure"] for check in report["targets"]]
    assert any("suno / the engine" in m for m in measures) and any("search scoring, all" in m for m in measures)
    assert "Bark generation" in stdout


def check_batching_row(row: dict, stdout: str) -> None:
    """The engine row's schema: every stage timed at both batch sizes, the profiler's categories, the target."""
    (size,) = row["sizes"].values()  # --tiny: tiny Bark only
    for mode in ("batch_1_by_stage", "batch_8_by_stage"):
        assert set(size[mode]) == {"semantic", "coarse", "fine", "decode"} and all(
            value > 0 for value in size[mode].values()), size[mode]
    for mode in ("profile_one_row", "profile_batch_8"):
        assert set(size[mode]) == {"matrix products", "attention", "sampling", "other operators",
                                   "python and dispatch"} and all(value >= 0 for value in size[mode].values())
        assert size[mode]["matrix products"] > 0 and size[mode]["sampling"] > 0  # the profiler saw them run
    assert "engine: 8 rows in 4 voices" in stdout and "engine, tiny Bark, 8 rows in 4 voices" in stdout


def check_decoder_rows(report: dict, stdout: str) -> None:
    """EnCodec against Vocos, per dtype, each timed through the decoder seam."""
    decoders = report["decoders"]["rows"]
    assert [entry["dtype"] for entry in decoders] == ["float32", "bfloat16"] and "Vocos/EnCodec" in stdout
    for entry in decoders:
        assert entry["vocos_over_encodec"] == pytest.approx(
            entry["vocos_seconds_per_audio_second"] / entry["encodec_seconds_per_audio_second"], rel=0.05)
