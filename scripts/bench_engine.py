"""The engine row of scripts/bench.py: rows per second of the three stages at batch 1 (each row its own generation)
and batch 8 (one generation), 8 rows in 4 voices (two prompts, a stock voice, none), tiny Bark and bark-small size;
the decoder (the same work at any batch size) timed apart. torch's profiler says where a generation's time goes:
matrix products, attention, sampling, the other tensor operations, and Python (the wall time no operator accounts
for: the loops, dispatch, bookkeeping).

    python scripts/bench.py --rows engine        # about 10 minutes on 2 CPU cores
"""

from __future__ import annotations

import time

from bench_bark import engine_run, sample_texts

ROWS = 8
SIZES = {  # name -> (builder size, semantic tokens a row); --tiny: tiny Bark only, fewer tokens
    "tiny Bark": ("tiny", 256),
    "bark-small size, float32": ("small", 64),
}
TINY_TOKENS = 32
CATEGORIES = {  # the profiler's operator names -> where the time goes (first match wins)
    "matrix products": ("aten::mm", "aten::addmm", "aten::bmm", "aten::linear", "aten::matmul", "aten::baddbmm"),
    "attention": ("aten::_scaled_dot_product", "aten::scaled_dot_product", "aten::_softmax", "aten::softmax"),
    "sampling": ("aten::topk", "aten::sort", "aten::cumsum", "aten::searchsorted", "aten::multinomial",
                 "aten::argmax", "aten::bitwise_xor", "aten::bitwise_and", "aten::__rshift__", "aten::div"),
}


def voices(bark) -> list:
    """Four voices for eight rows: two random prompts, a stock voice of the loaded Bark (when it has one), none."""
    from bench_paths import random_prompts

    first, second = random_prompts(2, 3)
    stock = next(iter(bark.presets("en")), None)
    return [first, second, stock, None] * (ROWS // 4)


def profile(bark, rows: list, tokens: int) -> dict[str, float]:
    """Seconds by category of one engine generation of ``rows`` (the decoder included: it is one more operator)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    started = time.perf_counter()
    with profiler(activities=[ProfilerActivity.CPU]) as recorded:
        engine_run(bark, rows, tokens, 0)
    wall = time.perf_counter() - started
    shares = dict.fromkeys([*CATEGORIES, "other operators"], 0.0)
    for event in recorded.key_averages():
        category = next((name for name, prefixes in CATEGORIES.items()
                         if event.key.startswith(prefixes)), "other operators")
        shares[category] += event.self_cpu_time_total / 1e6
    shares["python and dispatch"] = max(wall - sum(shares.values()), 0.0)
    return {key: round(value, 3) for key, value in shares.items()}


def stages_seconds(times: dict[str, float]) -> float:
    return times["semantic"] + times["coarse"] + times["fine"]


def bench_engine(folders: dict, tiny: bool, device) -> dict:
    """Per size: the three stages' seconds at batch 1 (8 generations) and batch 8 (one), the speedup, the decoder
    apart, and the profiler's breakdown of both."""
    from bark_clone.bark.core import load_bark

    results = {"rows": ROWS, "sizes": {}}
    for name, folder in folders.items():
        tokens = TINY_TOKENS if tiny else SIZES[name][1]
        bark = load_bark(str(folder), device)
        rows = list(zip(sample_texts(ROWS), voices(bark)))
        engine_run(bark, rows[:2], 4, 0)  # warm-up
        one = [engine_run(bark, [row], tokens, index) for index, row in enumerate(rows)]
        together = engine_run(bark, rows, tokens, 0)
        batch_1 = sum(stages_seconds(times) for times in one)
        batch_8 = stages_seconds(together)
        breakdown = {"batch_1": profile(bark, rows[:1], tokens), "batch_8": profile(bark, rows, tokens)}
        results["sizes"][name] = {
            "semantic_tokens": tokens, "batch_1_stages_seconds": round(batch_1, 3),
            "batch_8_stages_seconds": round(batch_8, 3), "speedup": round(batch_1 / batch_8, 2),
            "batch_1_by_stage": {stage: round(sum(times[stage] for times in one), 3)
                                 for stage in ("semantic", "coarse", "fine", "decode")},
            "batch_8_by_stage": {stage: round(together[stage], 3) for stage in ("semantic", "coarse", "fine",
                                                                                 "decode")},
            "profile_one_row": breakdown["batch_1"], "profile_batch_8": breakdown["batch_8"]}
        del bark
    return results


TINY_TARGET = 5.0  # issue 36: tiny Bark, batch 8 makes rows at least this many times as fast as batch 1


def engine_targets(row: dict) -> list[dict]:
    """The tiny row's batch gain against its target (a ratio from this run)."""
    tiny = row["sizes"].get("tiny Bark")
    if tiny is None:
        return []
    return [{"measure": "engine, tiny Bark, 8 rows in 4 voices: batch 1 / batch 8, three stages",
             "value": tiny["speedup"], "target": f">= {TINY_TARGET:g}", "met": tiny["speedup"] >= TINY_TARGET}]


def print_engine(row: dict) -> None:
    print(f"\nengine: {row['rows']} rows in 4 voices, three stages (decoder apart), batch 1 / batch 8")
    for name, size in row["sizes"].items():
        print(f"  {name}, {size['semantic_tokens']} tokens: {size['batch_1_stages_seconds']:.2f} s / "
              f"{size['batch_8_stages_seconds']:.2f} s = {size['speedup']:.2f}x")
        for label in ("profile_one_row", "profile_batch_8"):
            parts = ", ".join(f"{key} {value:.2f}" for key, value in size[label].items())
            print(f"    {label.removeprefix('profile_').replace('_', ' ')}: {parts} s")
