#!/usr/bin/env python
"""bark-clone benchmarks: make-speaker latency, long inputs, training throughput, data generation and long-form speech.

Every target is a ratio of two numbers measured in the same run, on the same machine. Models are the real
architectures (HuBERT base, EnCodec 24 kHz, the published LSTM v0/v1 shapes) with random weights: fine for timing.

    python scripts/bench.py                 # CPU (or CUDA when present), real sizes; about 15 minutes on 2 cores
    python scripts/bench.py --json out.json # also write the numbers
    python scripts/bench.py --tiny          # tiny models and inputs: checks the bench itself works (the tests do)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
from bench_generation import median_time  # beside this script

REPO = Path(__file__).resolve().parents[1]
ARCTIC = REPO / "tests" / "data" / "arctic_a0007.wav"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the random-weight model builders live with the tests, not in the wheel

SIZES = {  # real / tiny
    "speech_seconds": ([10, 60], [3, 8]),
    "long_minutes": ([1, 10, 30], [0.25, 1.0]),
}


def size(key: str, tiny: bool):
    return SIZES[key][1 if tiny else 0]


def speech_file(path: Path, seconds: float, rate: int = 16_000, seed: int = 0) -> Path:
    """ARCTIC a0007's speech repeated with random gains and 0.4-0.8 s pauses, ``seconds`` long."""
    from bark_clone.audio import resample

    samples, source_rate = soundfile.read(ARCTIC, dtype="float32")
    phrase = resample(samples[int(0.35 * source_rate): int(3.55 * source_rate)], source_rate, rate)
    rng = np.random.default_rng(seed)
    with soundfile.SoundFile(path, "w", rate, 1, subtype="PCM_16") as handle:
        written = 0
        while written < seconds * rate:
            piece = np.concatenate([rng.uniform(0.6, 1.1) * phrase, np.zeros(int(rng.uniform(0.4, 0.8) * rate))])
            piece = piece[: int(seconds * rate) - written]
            handle.write(piece)
            written += len(piece)
    return path


def build_models(folder: Path, tiny: bool) -> dict[str, Path]:
    import builders as testing

    width = 32 if tiny else 768
    return {
        "hubert": testing.build_hubert(folder / "hubert", tiny=tiny),
        "encodec": testing.build_encodec(folder / "encodec", tiny=tiny),
        "v0": testing.write_gitmylo_quantizer(folder / "v0.pth", width, 0, hidden_size=64 if tiny else 1024),
        "v1": testing.write_gitmylo_quantizer(folder / "v1.pth", width, 1, hidden_size=64 if tiny else 1024),
        "bark": testing.build_bark(folder / "bark", tiny=True),
    }


RUNNER = """
import json, resource, sys, time
started = time.perf_counter()
from bark_clone.pipeline import analyse, load_models, make_speakers
hubert, encodec, quantizer, path, out = sys.argv[1:6]
models = load_models(hubert, encodec, quantizer, "cpu")
loaded = time.perf_counter()
speaker = make_speakers([analyse(path, models.vad)], models, 14.0)[0]
speaker.write(out)
done = time.perf_counter()
print(json.dumps({"load": loaded - started, "work": done - loaded, "rss_mb": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_fresh(arguments: list[str]) -> tuple[float, dict]:
    """Wall time of a fresh Python process (interpreter start included) and what it printed last."""
    start = time.perf_counter()
    result = subprocess.run(arguments, capture_output=True, text=True, cwd=REPO, env={**os.environ,
                                                                                      "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return wall, json.loads(lines[-1]) if lines else {}


def bench_make_speaker(models_paths: dict, work: Path, tiny: bool, repeats: int) -> dict:
    """Warm latency by stage, against the bare HuBERT + quantizer + EnCodec passes on the same window; cold CLI."""
    import torch

    from bark_clone.models import encodec_encode, hubert_features
    from bark_clone.pipeline import analyse, cut_window, load_models, make_speakers
    from quantizer.models import predict_tokens

    models = load_models(str(models_paths["hubert"]), str(models_paths["encodec"]), str(models_paths["v0"]), "cpu")
    rows = []
    for seconds in size("speech_seconds", tiny):
        path = speech_file(work / f"speech{seconds}.wav", seconds)
        make_speakers([analyse(path, models.vad)], models, 14.0)  # warm-up
        total, speaker = median_time(lambda: make_speakers([analyse(path, models.vad)], models, 14.0)[0], repeats)
        cut = cut_window(analyse(path, models.vad), *speaker.sidecar["window"])
        hubert, features = median_time(lambda: hubert_features(models.hubert, cut.samples_16k), repeats)
        n_tokens = len(speaker.prompt.semantic_tokens)
        quantizer, _ = median_time(lambda: predict_tokens(models.quantizer.model, torch.from_numpy(features),
                                                          n_tokens, 49.9, 50.0), repeats)
        encodec, _ = median_time(lambda: encodec_encode(models.encodec, cut.samples_24k), repeats)
        bare = hubert + quantizer + encodec
        out = work / f"cold{seconds}.npz"
        cold, _ = run_fresh([sys.executable, "-m", "bark_clone", "make-speaker", str(path), "-o", str(out),
                             "--hubert", str(models_paths["hubert"]), "--encodec", str(models_paths["encodec"]),
                             "--quantizer", str(models_paths["v0"]), "--device", "cpu", "--force"])
        _, fresh = run_fresh([sys.executable, "-c", RUNNER, str(models_paths["hubert"]), str(models_paths["encodec"]),
                              str(models_paths["v0"]), str(path), str(work / f"rss{seconds}.npz")])
        rows.append({"speech_seconds": seconds, "window_seconds": round(cut.end - cut.start, 2),
                     "hubert": hubert, "quantizer": quantizer, "encodec": encodec, "other": total - bare,
                     "warm_total": total, "bare": bare, "warm_over_bare": total / bare, "cold_cli": cold,
                     "cold_over_warm": cold / total, "peak_rss_mb": fresh.get("rss_mb")})
    return {"rows": rows}


def bench_long_inputs(models_paths: dict, work: Path, tiny: bool) -> dict:
    """1, 10 and 30 minutes (48 kHz) through decoding, VAD, selection and make-speaker, each in a fresh process."""
    rows = []
    for minutes in size("long_minutes", tiny):
        path = speech_file(work / f"long{minutes}.wav", minutes * 60, rate=48_000, seed=1)
        _, fresh = run_fresh([sys.executable, "-c", RUNNER, str(models_paths["hubert"]), str(models_paths["encodec"]),
                              str(models_paths["v0"]), str(path), str(work / f"long{minutes}.npz")])
        rows.append({"minutes": minutes, "work_seconds": fresh["work"], "peak_rss_mb": fresh["rss_mb"]})
        path.unlink()
    first = rows[0]
    for row in rows:
        row["time_ratio"] = row["work_seconds"] / first["work_seconds"]
        row["rss_ratio"] = row["peak_rss_mb"] / first["peak_rss_mb"]
        row["input_ratio"] = row["minutes"] / first["minutes"]
    return {"rows": rows}


def machine(device) -> dict:
    import torch

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": model, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
            "python": platform.python_version()}


def targets(results: dict, device) -> list[dict]:
    checks = []
    for row in results["make_speaker"]["rows"]:
        checks.append({"measure": f"make-speaker warm / bare passes ({row['speech_seconds']} s of speech)",
                       "value": row["warm_over_bare"], "target": "<= 1.25", "met": row["warm_over_bare"] <= 1.25})
        checks.append({"measure": f"cold CLI / warm ({row['speech_seconds']} s of speech)",
                       "value": row["cold_over_warm"], "target": "<= 3", "met": row["cold_over_warm"] <= 3})
    long_rows = results["long_inputs"]["rows"]
    pair = next((row for row in long_rows if row["input_ratio"] == 10), long_rows[-1])
    checks.append({"measure": f"{pair['minutes']} min vs {long_rows[0]['minutes']} min: time", "value":
                   pair["time_ratio"], "target": f"<= {1.1 * pair['input_ratio']:.1f}",
                   "met": pair["time_ratio"] <= 1.1 * pair["input_ratio"]})
    checks.append({"measure": f"{pair['minutes']} min vs {long_rows[0]['minutes']} min: peak RSS",
                   "value": pair["rss_ratio"], "target": "<= 1.5", "met": pair["rss_ratio"] <= 1.5})
    wanted = 10.0 if device.type == "cuda" else 1.3
    checks.append({"measure": f"training throughput, {device.type}, v1 shape / reference loop",
                   "value": results["training"]["v1_speedup"], "target": f">= {wanted}",
                   "met": results["training"]["v1_speedup"] >= wanted})
    checks.append({"measure": "batched / sequential data generation", "value": results["generation"]["speedup"],
                   "target": ">= 4", "met": results["generation"]["speedup"] >= 4})
    return checks


def print_table(results: dict) -> None:
    print(f"\nmachine: {results['machine']}\n")
    print("make-speaker (warm, seconds; median)        hubert  quant  encodec  other  total  bare  ratio  cold  RSS MB")
    for row in results["make_speaker"]["rows"]:
        print(f"  {row['speech_seconds']:>4} s of speech ({row['window_seconds']:>5} s window)         "
              f"{row['hubert']:6.2f} {row['quantizer']:6.2f} {row['encodec']:8.2f} {row['other']:6.2f} "
              f"{row['warm_total']:6.2f} {row['bare']:5.2f} {row['warm_over_bare']:6.2f} {row['cold_cli']:5.1f} "
              f"{row['peak_rss_mb']:7.0f}")
    print("\nlong inputs (fresh process each)   work s   RSS MB   time x   RSS x")
    for row in results["long_inputs"]["rows"]:
        print(f"  {row['minutes']:>5} min                      {row['work_seconds']:7.2f} {row['peak_rss_mb']:8.0f} "
              f"{row['time_ratio']:7.2f} {row['rss_ratio']:7.2f}")
    training = results["training"]
    print(f"\ntraining frames/s: reference v1 {training['reference_v1']:.0f}, ours v1 {training['ours_v1']:.0f} "
          f"({training['v1_speedup']:.2f}x), ours context {training['ours_context']:.0f} "
          f"({training['context_speedup']:.2f}x)")
    generation = results["generation"]
    print(f"data generation (audio s per s): batched {generation['batched_audio_per_second']:.2f}, sequential "
          f"{generation['sequential_audio_per_second']:.2f} ({generation['speedup']:.2f}x, {generation['model']})")
    long_form = results["long_form"]
    print(f"long-form speak, {long_form['chunks']} chunks (audio s per s): batched "
          f"{long_form['batched_audio_per_second']:.2f}, chunk by chunk {long_form['sequential_audio_per_second']:.2f} "
          f"({long_form['speedup']:.2f}x, {long_form['model']})")
    scoring = results["search_scoring"]
    print(f"search: candidates scored per minute: batched {scoring['batched_per_minute']:.1f}, one sentence at a "
          f"time {scoring['sequential_per_minute']:.1f} ({scoring['speedup']:.2f}x, {scoring['model']})\n")
    for check in results["targets"]:
        print(f"  {'met ' if check['met'] else 'MISS'} {check['measure']}: {check['value']:.2f} (target "
              f"{check['target']})")


def main() -> None:
    from bench_generation import (  # beside this script
        bench_generation,
        bench_long_form,
        bench_search_scoring,
    )
    from bench_training import bench_training

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny models and inputs (a smoke test of the bench)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions per measurement (median)")
    arguments = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        models_paths = build_models(work / "models", arguments.tiny)
        results = {"machine": machine(device), "tiny": arguments.tiny}
        results["make_speaker"] = bench_make_speaker(models_paths, work, arguments.tiny, arguments.repeats)
        results["long_inputs"] = bench_long_inputs(models_paths, work, arguments.tiny)
        results["training"] = bench_training(work, arguments.tiny, device)
        results["generation"] = bench_generation(models_paths, arguments.tiny, device)
        results["long_form"] = bench_long_form(models_paths, arguments.tiny, device)
        results["search_scoring"] = bench_search_scoring(models_paths, arguments.tiny, device)
        results["targets"] = targets(results, device)
    print_table(results)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
