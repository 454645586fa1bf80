#!/usr/bin/env python
"""bark-clone benchmarks: make-speaker latency, long inputs, training throughput, data generation, long-form
speech, each generation path batched against one sentence at a time (evaluate, refine, search scoring), Bark
generation at bark-small size stage by stage, and per dtype: generation speed and peak memory of speak and search.

Every target is a ratio of two numbers measured in the same run, on the same machine. Models are the real
architectures (HuBERT base, EnCodec 24 kHz, the published LSTM v0/v1 shapes) with random weights: fine for timing.

    python scripts/bench.py                 # CUDA when present, else CPU; real sizes; 32 minutes on 2 CPU cores
    python scripts/bench.py --device cuda   # the CUDA rows (float16 too, and peak GPU memory); refused without one
    python scripts/bench.py --json out.json # also write the numbers
    python scripts/bench.py --rows bark     # only some rows (comma-separated)
    python scripts/bench.py --tiny          # tiny models and inputs: checks the bench itself works (the tests do)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_generation import median_time  # beside this script
from bench_inputs import REPO, speech_file

SIZES = {  # real / tiny
    "speech_seconds": ([10, 60], [3, 8]),
    "long_minutes": ([1, 10, 30], [0.25, 1.0]),
}


def size(key: str, tiny: bool):
    return SIZES[key][1 if tiny else 0]


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
import json, sys, time
started = time.perf_counter()
sys.path.insert(0, "scripts")
from bench_memory import peak_rss_mb
from bark_clone.prompting.pipeline import analyse, load_models, make_speakers
hubert, encodec, quantizer, path, out = sys.argv[1:6]
models = load_models(hubert, encodec, quantizer, "cpu")
loaded = time.perf_counter()
speaker = make_speakers([analyse(path, models.vad)], models, 14.0)[0]
speaker.write(out)
done = time.perf_counter()
print(json.dumps({"load": loaded - started, "work": done - loaded, "rss_mb": peak_rss_mb()}))
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

    from bark_clone.models.codecs import encodec_encode, hubert_features
    from bark_clone.prompting.pipeline import analyse, cut_window, load_models, make_speakers
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
        cold, _ = median_time(lambda: run_fresh([
            sys.executable, "-m", "bark_clone", "make-speaker", str(path), "-o", str(out), "--hubert",
            str(models_paths["hubert"]), "--encodec", str(models_paths["encodec"]), "--quantizer",
            str(models_paths["v0"]), "--device", "cpu", "--force"]), repeats)  # a fresh process varies by seconds
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

    from bark_clone.models.devices import cpu_description, native_bfloat16, resolve_dtype

    return {"cpu": cpu_description(), "native_bfloat16": native_bfloat16(), "auto_dtype": resolve_dtype("auto", device),
            "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
            "python": platform.python_version()}


ROWS = ("make_speaker", "long_inputs", "training", "generation", "long_form", "evaluate", "refine", "search_scoring",
        "bark", "search_batching", "precision", "voice_training", "voice_memory", "voice_generation", "streaming", "service", "ray",
        "decoders", "engine")


def run_rows(rows: list[str], work: Path, tiny: bool, repeats: int, device) -> dict:
    """Each requested row, measured in this process (the make-speaker row also starts fresh processes)."""
    import builders
    from bench_bark import bench_bark_stages, bench_search_batching
    from bench_decoders import bench_decoders
    from bench_engine import bench_engine
    from bench_generation import bench_generation, bench_long_form
    from bench_memory import PEAK_TOKENS, bench_voice_memory
    from bench_paths import bench_evaluate, bench_refine, bench_search_scoring
    from bench_precision import bench_precision
    from bench_ray import bench_ray
    from bench_service import bench_service_rows
    from bench_streaming import bench_streaming
    from bench_training import bench_training
    from bench_voices import bench_merged_generation, bench_voice_training

    models_paths = build_models(work / "models", tiny)

    @functools.cache
    def bark_folder(name: str, cap: int | None = None, size: str | None = None) -> Path:
        return builders.build_bark(work / name, size=size or ("tiny" if tiny else "small"),
                                   semantic_max_new_tokens=cap)

    measure = {
        "make_speaker": lambda: bench_make_speaker(models_paths, work, tiny, repeats),
        "long_inputs": lambda: bench_long_inputs(models_paths, work, tiny),
        "training": lambda: bench_training(work, tiny, device),
        "generation": lambda: bench_generation(models_paths, tiny, device),
        "long_form": lambda: bench_long_form(models_paths, tiny, device),
        "evaluate": lambda: bench_evaluate(models_paths, tiny, device),
        "refine": lambda: bench_refine(models_paths, work, tiny, device),
        "search_scoring": lambda: bench_search_scoring(models_paths, tiny, device),
        "bark": lambda: bench_bark_stages(bark_folder("bark-sized"), tiny, device),
        "search_batching": lambda: bench_search_batching(bark_folder("bark-sized"), tiny, device),
        "precision": lambda: bench_precision(
            bark_folder("bark-sized"), bark_folder("bark-capped", PEAK_TOKENS[tiny]),
            models_paths, speech_file(work / "search.wav", 10), work, tiny, device),
        "voice_training": lambda: bench_voice_training(bark_folder("bark-sized"), tiny, device),
        "voice_memory": lambda: bench_voice_memory(
            bark_folder("bark-sized"),
            bark_folder("bark-large", size="large") if device.type == "cuda" and not tiny else None, tiny, device),
        "voice_generation": lambda: bench_merged_generation(bark_folder("bark-voice", 32), tiny, device, repeats),
        "streaming": lambda: bench_streaming(
            {"tiny Bark": models_paths["bark"],
             **({} if tiny else {"bark-small size, 64 tokens a chunk": bark_folder("bark-stream", 64)})}, device),
        "service": lambda: bench_service_rows(
            models_paths, {"tiny Bark": (models_paths["bark"], 0.5, 2),
                           "tiny Bark, 8 plain prompts": (models_paths["bark"], None, 0),
                           **({} if tiny else {"bark-small size, 64 tokens": (bark_folder("bark-stream", 64), None, 2),
                                               "bark-small size, 8 plain prompts": (bark_folder("bark-stream", 64),
                                                                                    None, 0)})},
            work / "service"),
        "decoders": lambda: bench_decoders(models_paths["encodec"], work, tiny, device),
        "engine": lambda: bench_engine({"tiny Bark": models_paths["bark"],
                                        **({} if tiny else {"bark-small size, float32": bark_folder("bark-sized")})},
                                       tiny, device),
        "ray": lambda: bench_ray(models_paths, work, Path(__file__).parents[1] / "tests" / "data" / "arctic_a0007.wav"),
    }
    return {row: measure[row]() for row in rows}


def main() -> None:
    from bench_report import print_table, targets  # beside this script

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny models and inputs (a smoke test of the bench)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions per measurement (median)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {', '.join(ROWS)}")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to run (auto: CUDA when present); cuda adds float16 to the per-dtype rows and "
                             "reports peak GPU memory")
    arguments = parser.parse_args()
    rows = [row.strip() for row in arguments.rows.split(",") if row.strip()]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows: {', '.join(unknown)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if arguments.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device here, so no CUDA row can be measured")
    cuda = arguments.device == "cuda" or (arguments.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    with tempfile.TemporaryDirectory() as folder:
        results = {"machine": machine(device), "tiny": arguments.tiny,
                   **run_rows(rows, Path(folder), arguments.tiny, arguments.repeats, device)}
        results["targets"] = targets(results, device)
    print_table(results)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
