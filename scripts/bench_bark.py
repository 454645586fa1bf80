"""The real-size generation row of scripts/bench.py: a random Bark of suno/bark-small's dimensions, every sample
the same work (semantic generation capped at a fixed number of new tokens, end of speech out of reach), batch 1
against batch B, timed stage by stage: semantic, coarse, fine, codec decode.

    python scripts/bench.py --rows bark           # just this row (about 10-20 minutes on 2 CPU cores)
"""

from __future__ import annotations

import time

SEMANTIC_TOKENS = (192, 16)  # real / tiny: new semantic tokens per sample
BATCH = (8, 2)


def timed_stages(bark, texts: list[str], tokens: int, seed: int) -> dict[str, float]:
    """Seconds per stage for one batched generation of ``texts`` (and the audio seconds it made)."""
    import torch

    from bark_clone.bark import (
        generate_coarse,
        generate_fine,
        generate_semantic,
        last_position_logits,
        prepare_inputs,
        stage_configs,
    )
    from bark_clone.constants import CODEC_FRAME_RATE_HZ, N_COARSE_CODEBOOKS

    configs = stage_configs(bark)
    configs.semantic.max_new_tokens = tokens
    torch.manual_seed(seed)
    inputs, _ = prepare_inputs(bark, texts, None)
    times = {}
    with torch.inference_mode(), last_position_logits(bark):
        started = time.perf_counter()
        # end of speech would need p >= 1.01: never, so every sample makes exactly ``tokens`` tokens
        semantic = generate_semantic(bark, inputs, None, configs, min_eos_p=1.01)
        times["semantic"] = time.perf_counter() - started
        started = time.perf_counter()
        coarse, lengths = generate_coarse(bark, semantic, None, configs)
        times["coarse"] = time.perf_counter() - started
        started = time.perf_counter()
        fine = generate_fine(bark, coarse, None, configs)
        times["fine"] = time.perf_counter() - started
        started = time.perf_counter()
        frames = (lengths // N_COARSE_CODEBOOKS).tolist()
        bark.model.codec_decode(fine, frames)
        times["decode"] = time.perf_counter() - started
    times["audio_seconds"] = float(sum(frames) / CODEC_FRAME_RATE_HZ)
    return times


def bench_bark_stages(folder, tiny: bool, device) -> dict:
    """Audio seconds per second, batch 1 (B times) against one batch of B, for each stage and end to end."""
    from bark_clone.bark import load_bark

    bark = load_bark(str(folder), device)
    tokens, batch = SEMANTIC_TOKENS[tiny], BATCH[tiny]
    texts = [f"this is test sentence number {index}, spoken at a steady pace." for index in range(batch)]
    timed_stages(bark, texts[:1], 4, 0)  # warm-up
    one = [timed_stages(bark, [text], tokens, index) for index, text in enumerate(texts)]
    single = {key: sum(run[key] for run in one) for key in one[0]}
    batched = timed_stages(bark, texts, tokens, 0)
    stages = ("semantic", "coarse", "fine", "decode")
    rows = {stage: {"batch_1_seconds": round(single[stage], 2), f"batch_{batch}_seconds": round(batched[stage], 2),
                    "speedup": round(single[stage] / batched[stage], 2)} for stage in stages}
    total_single, total_batched = (sum(times[stage] for stage in stages) for times in (single, batched))
    return {"model": "tiny Bark" if tiny else "bark-small dimensions (768 wide, 12 layers, 12 heads), random weights",
            "batch": batch,
            "semantic_tokens": tokens, "audio_seconds": round(batched["audio_seconds"], 2), "stages": rows,
            "semantic_and_coarse_speedup": round((single["semantic"] + single["coarse"])
                                                 / (batched["semantic"] + batched["coarse"]), 2),
            "end_to_end_speedup": round(total_single / total_batched, 2),
            "batch_1_audio_per_second": round(single["audio_seconds"] / total_single, 3),
            "batched_audio_per_second": round(batched["audio_seconds"] / total_batched, 3),
            "share_of_time_batch_1": {stage: round(single[stage] / total_single, 3) for stage in stages}}


if __name__ == "__main__":  # a quick look without the rest of the bench
    import json
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import builders
    import torch

    with tempfile.TemporaryDirectory() as work:
        tiny = "--tiny" in sys.argv
        folder = builders.build_bark(Path(work) / "bark", size="tiny" if tiny else "small")
        print(json.dumps(bench_bark_stages(folder, tiny, torch.device("cpu")), indent=2))


PEAK_SCRIPT = """
import json, resource, sys
import numpy as np, torch
from bark_clone.bark import load_bark
from bark_clone.longform import LongFormSettings, speak_long
from bark_clone.prompt import SpeakerPrompt
folder, run, device = sys.argv[1], sys.argv[2] == "speak", torch.device(sys.argv[3])
bark = load_bark(folder, device)
if run:
    rng = np.random.default_rng(0)
    prompt = SpeakerPrompt.from_streams(rng.integers(0, 10_000, 200), rng.integers(0, 1024, (8, 300)))
    text = "The keeper climbed the stairs at dusk. He lit the lamp and watched the sea for a while."
    speak_long(bark, prompt, text, LongFormSettings(seed=0, tries=1, batch_size=2, chunk_seconds=4.0),
               progress=False)
gpu = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "gpu_mb": gpu}))
"""
PEAK_TOKENS = (64, 16)  # real / tiny: semantic tokens a chunk (the random Bark never ends by itself)


def bench_peak_memory(folder, tiny: bool, device) -> dict:
    """Peak memory of long-form speak (2 chunks, batch 2, the guard included) in a fresh process, against the same
    process that only loads Bark: RSS on CPU, and torch.cuda.max_memory_allocated on a GPU."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    results = {}
    for run in ("load", "speak"):
        output = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(folder), run, device.type],
                                capture_output=True, text=True, check=True, cwd=repo,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"})
        results[run] = json.loads(output.stdout.strip().splitlines()[-1])
    row = {"model": "tiny Bark" if tiny else "bark-small dimensions", "semantic_tokens_per_chunk": PEAK_TOKENS[tiny],
           "load_rss_mb": round(results["load"]["rss_mb"]), "speak_rss_mb": round(results["speak"]["rss_mb"])}
    row["speak_over_load_mb"] = row["speak_rss_mb"] - row["load_rss_mb"]
    if results["speak"]["gpu_mb"] is not None:
        row["speak_gpu_peak_mb"] = round(results["speak"]["gpu_mb"])
    return row
