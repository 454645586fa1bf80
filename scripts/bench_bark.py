"""The real-size generation row of scripts/bench.py: a random Bark of suno/bark-small's dimensions, every sample
the same work (semantic generation capped at a fixed number of new tokens, end of speech out of reach), batch 1
against batch B, timed stage by stage: semantic, coarse, fine, codec decode.

    python scripts/bench.py --rows bark           # just this row (about 10-20 minutes on 2 CPU cores)
"""

from __future__ import annotations

import time

SEMANTIC_TOKENS = (192, 16)  # real / tiny: new semantic tokens per sample
BATCH = (8, 2)
PRECISION_TOKENS = (64, 8)  # real / tiny: the per-dtype rows generate less, for time


def sample_texts(batch: int) -> list[str]:
    """``batch`` texts of the same length, so every sample does the same work."""
    return [f"this is test sentence number {index}, spoken at a steady pace." for index in range(batch)]


def timed_stages(bark, texts: list[str], tokens: int, seed: int) -> dict[str, float]:
    """Seconds per stage for one batched generation of ``texts`` (and the audio seconds it made)."""
    import torch

    from bark_clone.bark.generation import (
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
    from bark_clone.bark.generation import load_bark

    bark = load_bark(str(folder), device)
    tokens, batch = SEMANTIC_TOKENS[tiny], BATCH[tiny]
    texts = sample_texts(batch)
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



def device_dtypes(device) -> list[str]:
    """The dtypes worth timing on ``device``: float16 only where a GPU runs it (the CLI refuses it on CPU)."""
    from bark_clone.bark.generation import DTYPES

    return [dtype for dtype in DTYPES if device.type == "cuda" or dtype != "float16"]


def bench_precision(folder, capped, models_paths: dict, speech, work, tiny: bool, device) -> dict:
    """Per dtype: batch-B generation speed (the ``bark`` row's stages, fewer tokens) and the peak memory of speak
    and of the search's scoring (``bench_memory``, fresh processes, Bark capped at its tokens)."""
    from bench_memory import peak_row

    from bark_clone.bark.generation import load_bark

    batch, tokens = BATCH[tiny], PRECISION_TOKENS[tiny]
    texts = sample_texts(batch)
    rows = []
    for dtype in device_dtypes(device):
        bark = load_bark(str(folder), device, dtype)
        timed_stages(bark, texts[:1], 4, 0)  # warm-up
        times = timed_stages(bark, texts, tokens, 0)
        seconds = sum(times[stage] for stage in ("semantic", "coarse", "fine", "decode"))
        del bark
        rows.append({"generation_seconds": round(seconds, 2),
                     "audio_per_second": round(times["audio_seconds"] / seconds, 3),
                     **peak_row(capped, models_paths, speech, work / dtype, tiny, device, dtype)})
    return {"model": "tiny Bark" if tiny else "bark-small dimensions", "device": device.type, "batch": batch,
            "generation_tokens": tokens, "dtypes": rows}


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
