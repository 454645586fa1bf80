"""Peak memory rows of scripts/bench.py, each measured in a fresh process: long-form ``speak`` and the search's
scoring at the size of the given Bark, against the same process that only loads the models and pages their
weights in. RSS on CPU; ``torch.cuda.max_memory_allocated`` as well on a GPU.

The bench runs this file as a child:  python scripts/bench_memory.py MODE BARK DEVICE DTYPE [HUBERT ENCODEC
QUANTIZER SPEECH WORK]   (MODE: load, speak, search-load or search); or  MODE BARK DEVICE DTYPE BATCH  with MODE
train-coarse or train-fine (one train-voice step of that stage). It prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PEAK_TOKENS = (64, 16)  # real / tiny: semantic tokens a generation (the random Bark never ends by itself)
SPEAK_TEXT = "The keeper climbed the stairs at dusk. He lit the lamp and watched the sea for a while."


def peak_rss_mb() -> float:
    """This process's own peak RSS. Linux's ``ru_maxrss`` is not it: it keeps the parent's RSS across fork and exec
    (a child of a 1.5 GB bench reports 1.5 GB), so read the address space's high-water mark, VmHWM, instead."""
    status = Path("/proc/self/status")
    if status.exists():
        return next(int(line.split()[1]) for line in status.read_text().splitlines()
                    if line.startswith("VmHWM:")) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # macOS: bytes, and no /proc


def child(mode: str, folder: str, device_name: str, dtype: str, extra: list[str]) -> dict:
    """What one fresh process measures: load (and run) in ``mode``."""
    import numpy as np
    import torch

    from bark_clone.bark.core import load_bark
    from bark_clone.errors import UserError

    device = torch.device(device_name)
    bark = load_bark(folder, device, "float32" if mode.startswith("train-") else dtype)
    with torch.no_grad():  # page the memory-mapped weights in, so "over load" is the work's memory, not the weights'
        for parameter in bark.model.parameters():
            parameter.sum()
    models, scored = None, None
    if mode.startswith("train-"):  # weights in float32, the step under bf16 autocast or not (train-voice's way)
        from bench_voices import train_steps

        train_steps(bark, mode.removeprefix("train-"), dtype, int(extra[0]), 1, device)
    if mode.startswith("search"):
        from bark_clone.prompting.pipeline import load_models

        models = load_models(*extra[:3], device_name)
    if mode == "speak":
        from bark_clone.prompting.format import SpeakerPrompt
        from bark_clone.speaking.longform import LongFormSettings, speak_long
        from bark_clone.speaking.session import SpeakingSession

        rng = np.random.default_rng(0)
        prompt = SpeakerPrompt.from_streams(rng.integers(0, 10_000, 200), rng.integers(0, 1024, (8, 300)))
        speak_long(SpeakingSession.open(bark), prompt, SPEAK_TEXT,
                   LongFormSettings(seed=0, tries=1, batch_size=2, chunk_seconds=4.0),
                   progress=False)
    if mode == "search":
        from bark_clone.prompting.pipeline import analyse
        from bark_clone.search.command import search_recordings
        from bark_clone.search.steps import SearchSettings

        # the starting population only (2 windows, no stock voices; a budget that ends before the first step)
        settings = SearchSettings(keep=1, windows=2, presets=0, minutes=1e-9)
        work = Path(extra[4])
        work.parent.mkdir(parents=True, exist_ok=True)
        try:
            search_recordings([analyse(extra[3], models.vad)], models, bark, settings, work, {}, progress=False)
        except UserError:
            pass  # the random Bark's candidates may all be rejected as silent: they were generated all the same
        scored = len(json.loads((work / "search.json").read_text())["candidates"])
    gpu = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
    return {"rss_mb": peak_rss_mb(), "gpu_mb": gpu,
            "candidates": scored}


def fresh(arguments: list[str]) -> dict:
    repo = Path(__file__).resolve().parents[1]
    output = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True, cwd=repo,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if output.returncode != 0:
        raise RuntimeError(output.stderr[-2000:])
    return json.loads(output.stdout.strip().splitlines()[-1])


def peak_row(bark_folder, models_paths: dict, speech: Path, work: Path, tiny: bool, device, dtype: str) -> dict:
    """Peak memory of speak (2 chunks, batch 2, the guard included) and of scoring the search's starting population
    (2 windows x 3 sentences), each against a process that only loads what it loads."""
    models = [str(models_paths[key]) for key in ("hubert", "encodec", "v0")]
    runs = {mode: fresh([mode, str(bark_folder), device.type, dtype, *models, str(speech), str(work / mode)])
            for mode in ("load", "speak", "search-load", "search")}
    row = {"dtype": dtype, "semantic_tokens": PEAK_TOKENS[tiny], "search_candidates": runs["search"]["candidates"]}
    for name, load, run in (("speak", "load", "speak"), ("search", "search-load", "search")):
        row[f"{name}_load_rss_mb"] = round(runs[load]["rss_mb"])
        row[f"{name}_rss_mb"] = round(runs[run]["rss_mb"])
        row[f"{name}_over_load_mb"] = row[f"{name}_rss_mb"] - row[f"{name}_load_rss_mb"]
        if runs[run]["gpu_mb"] is not None:
            row[f"{name}_gpu_peak_mb"] = round(runs[run]["gpu_mb"])
    return row


def bench_voice_memory(small: Path, large: Path | None, tiny: bool, device) -> dict:
    """Peak memory of one training step per stage and dtype in a fresh process, over a process that only loads the
    same Bark; on CUDA, ``large`` (suno/bark's size) at train-voice's default batch, with peak GPU memory."""
    from bench_voices import BATCH

    rows = []
    sizes = [("tiny" if tiny else "bark-small", small, BATCH[tiny])]
    if large is not None:
        sizes.append(("bark", large, 8))  # train-voice's default batch
    for size, folder, batch in sizes:
        load = fresh(["load", str(folder), device.type, "float32"])
        for stage in ("coarse", "fine"):
            for dtype in ("float32", "bfloat16"):
                run = fresh([f"train-{stage}", str(folder), device.type, dtype, str(batch)])
                row = {"size": size, "stage": stage, "dtype": dtype, "batch": batch, "rss_mb": round(run["rss_mb"]),
                       "over_load_mb": round(run["rss_mb"] - load["rss_mb"])}
                if run["gpu_mb"] is not None:
                    row["gpu_peak_mb"] = round(run["gpu_mb"])
                rows.append(row)
    return {"rows": rows}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    print(json.dumps(child(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])))
