"""The benchmark suite keeps working: run once at tiny sizes (the numbers mean nothing here; the bench is not a test
of speed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

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
        assert row["warm_total"] >= row["bare"] * 0.5
    assert [row["minutes"] for row in report["long_inputs"]["rows"]] == [0.25, 1.0]
    assert report["training"]["reference_v1"] > 0 and report["training"]["ours_v1"] > 0
    assert report["generation"]["batched_audio_per_second"] > 0
    long_form = report["long_form"]
    assert long_form["chunks"] >= 4 and long_form["batched_audio_per_second"] > 0
    assert long_form["speedup"] == pytest.approx(long_form["batched_audio_per_second"]
                                                 / long_form["sequential_audio_per_second"])
    assert "long-form speak" in result.stdout
    scoring = report["search_scoring"]
    assert scoring["batched_per_minute"] > 0 and scoring["sequential_per_minute"] > 0
    assert "candidates scored per minute" in result.stdout
    bark = report["bark"]
    assert set(bark["stages"]) == {"semantic", "coarse", "fine", "decode"} and bark["batch"] == 2
    assert bark["audio_seconds"] > 0 and abs(sum(bark["share_of_time_batch_1"].values()) - 1) < 0.01
    assert any("Bark end to end" in check["measure"] for check in report["targets"])
    assert "Bark generation" in result.stdout
    memory = report["peak_memory"]
    assert memory["speak_rss_mb"] >= memory["load_rss_mb"] > 0 and "peak memory of speak" in result.stdout
    only = subprocess.run([sys.executable, str(REPO / "scripts" / "bench.py"), "--tiny", "--rows", "training"],
                          capture_output=True, text=True, timeout=600)
    assert only.returncode == 0 and "training frames/s" in only.stdout and "make-speaker" not in only.stdout
    measures = [check["measure"] for check in report["targets"]]
    assert any("cold CLI" in m for m in measures) and any("training throughput" in m for m in measures)
    assert "make-speaker (warm" in result.stdout and "(target" in result.stdout  # the table and its verdicts
