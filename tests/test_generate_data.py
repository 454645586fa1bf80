"""generate-data: Bark's own samples as training data, resumable, shared across torchrun ranks, with stock voices;
and the one generation path's exactness."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile
from support import assert_same_shards, run_process, shard_table


def test_generated_samples_hold_text_tokens_audio_and_settings(generated):
    manifest = json.loads((generated / "manifest.json").read_text())
    assert manifest["format"] == "bark-clone-dataset" and manifest["n_shards"] == 2
    rows = shard_table(generated, 0).to_pylist() + shard_table(generated, 1).to_pylist()
    assert len(rows) == 8 and len({row["id"] for row in rows}) == 8
    for row in rows:
        audio, rate = soundfile.read(io.BytesIO(row["audio"]))
        assert rate == 24_000 and row["text"].strip()
        assert 0.6 <= row["semantic_temperature"] <= 0.8 and row["fine_temperature"] == 0.5
        assert all(0 <= token < 10_000 for token in row["semantic"])
        # Bark's own length rule: floor(N * 75 / 49.9) codec frames of 320 samples
        assert len(audio) == int(np.floor(len(row["semantic"]) * 75 / 49.9)) * 320


@pytest.mark.slow
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
    result = run_process(command)
    assert result.returncode == 0, result.stderr
    assert_same_shards(tmp_path / "data", generated)


@pytest.mark.slow
def test_torchrun_ranks_share_the_shards(generated, tiny, tmp_path):
    result = run_process([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                   "-m", "bark_clone", "generate-data", "--out", str(tmp_path / "data"), "--samples", "8",
                   "--bark", str(tiny["bark"]), "--batch-size", "4", "--shard-size", "4", "--device", "cpu"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert_same_shards(tmp_path / "data", generated)


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
    voices = shard_table(tmp_path / "voiced", 0).column("voice").to_pylist()
    assert set(voices) <= {"", "v2/en_speaker_0", "v2/en_speaker_1"}
    assert "" in voices and set(voices) - {""}  # random voices and stock voices both appear (fixed seed)
    refused = run_cli("generate-data", "--out", "other", "--samples", "2", "--bark", tiny["bark"], "--presets",
                      "--language", "de", "--device", "cpu")
    assert refused.exit_code == 1 and "no stock voices for language 'de'" in refused.stderr
