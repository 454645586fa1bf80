"""The Bark rows of scripts/bench.py: a random Bark of suno/bark-small's dimensions, rows of fixed length (semantic
generation capped at a fixed number of new tokens, end of speech out of reach), timed stage by stage (semantic,
coarse, fine, codec decode) for the engine and its peers (``bench_peers``): batch 1 (8 generations) and batch 8,
float32 and bfloat16, a batch of 8 different voices, and the roofline (``bench_roofline``).

    python scripts/bench.py --rows bark           # just this row (about 15-25 minutes on 2 CPU cores)
"""

from __future__ import annotations

import contextlib
import time

SEMANTIC_TOKENS = (64, 16)  # real / tiny: new semantic tokens per row
BATCH = (8, 2)
PRECISION_TOKENS = (64, 8)  # real / tiny: the per-dtype rows of the precision row
STAGES = ("semantic", "coarse", "fine", "decode")


def device_dtypes(device) -> list[str]:
    """The dtypes worth timing on ``device``: float16 only where a GPU runs it (the CLI refuses it on CPU)."""
    from bark_clone.constants import DTYPES

    return [dtype for dtype in DTYPES if device.type == "cuda" or dtype != "float16"]


def sample_texts(batch: int) -> list[str]:
    """``batch`` texts of the same length, so every row does the same work."""
    return [f"this is test sentence number {index}, spoken at a steady pace." for index in range(batch)]


@contextlib.contextmanager
def stage_clock(times: dict[str, float]):
    """Time the engine's stage functions (and the decoder) while ``generate`` runs."""
    from bark_clone.bark import rows
    from bark_clone.models import decoders

    targets = [(rows, "semantic_stage", "semantic"), (rows, "coarse_stage", "coarse"), (rows, "fine_stage", "fine"),
               (decoders.Decoder, "decode", "decode")]
    originals = [getattr(module, name) for module, name, _ in targets]

    def timed(original, key):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                times[key] = times.get(key, 0.0) + time.perf_counter() - started
        return run

    for (module, name, key), original in zip(targets, originals):
        setattr(module, name, timed(original, key))
    try:
        yield
    finally:
        for (module, name, _), original in zip(targets, originals):
            setattr(module, name, original)


@contextlib.contextmanager
def semantic_cap(bark, tokens: int):
    config = bark.configs.semantic
    saved = config.max_new_tokens
    config.max_new_tokens = tokens
    try:
        yield
    finally:
        config.max_new_tokens = saved


def engine_run(bark, rows: list, tokens: int, seed: int) -> dict[str, float]:
    """Seconds per stage of one engine generation of ``rows`` ((text, voice) pairs), ``tokens`` tokens a row."""
    from bark_clone.bark.generation import generate
    from bark_clone.options import Sampling

    times: dict[str, float] = {}
    with semantic_cap(bark, tokens), stage_clock(times):
        generations = generate(bark, rows, Sampling(min_eos_p=2.0), seed)
    times["audio_seconds"] = sum(generation.fine_codes.shape[1] for generation in generations) / 75
    return times


def total(times: dict[str, float]) -> float:
    return sum(times[stage] for stage in STAGES)


def summed(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: sum(run[key] for run in runs) for key in runs[0]}


def path_runs(bark, path: str, texts: list[str], voices: list, tokens: int) -> dict[str, dict[str, float]]:
    """One path's runs: each text alone (batch 1, summed) and, where the path batches, all in one batch."""
    from bench_peers import suno_loaded, suno_run, transformers_run

    if path == "suno":
        with suno_loaded(bark) as generation:
            suno_run(generation, texts[0], 4, 0)  # warm-up
            return {"batch_1": summed([suno_run(generation, text, tokens, index)
                                       for index, text in enumerate(texts)])}
    run = (lambda chosen, seed: engine_run(bark, [(text, voice) for text, voice in chosen], tokens, seed)) \
        if path == "engine" else (lambda chosen, seed: transformers_run(bark, [text for text, _ in chosen],
                                                                        chosen[0][1], tokens, seed))
    pairs = list(zip(texts, voices))
    run(pairs[:1], 0)  # warm-up
    result = {"batch_1": summed([run([pair], index) for index, pair in enumerate(pairs)])}
    if path == "engine" or len({id(voice) for voice in voices}) == 1:  # transformers: one voice a batch
        result[f"batch_{len(texts)}"] = run(pairs, 0)
    return result


def bench_bark_stages(folder, tiny: bool, device) -> dict:
    """Per dtype and path: seconds per stage and audio seconds per second, batch 1 (x B) and batch B; the engine's
    batch of B different voices against transformers' one generation per voice; the roofline."""
    from bench_paths import random_prompts
    from bench_peers import transformers_run
    from bench_roofline import roofline, stage_shares

    from bark_clone.bark.core import load_bark

    tokens, batch = SEMANTIC_TOKENS[tiny], BATCH[tiny]
    texts, voices = sample_texts(batch), random_prompts(batch, 5)
    results: dict = {"model": "tiny Bark" if tiny else "bark-small dimensions (768 wide, 12 layers, 12 heads), "
                     "random weights", "batch": batch, "semantic_tokens": tokens, "dtypes": {}}
    import torch

    for dtype in device_dtypes(device):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        bark = load_bark(str(folder), device, dtype)
        paths = {path: path_runs(bark, path, texts, [None] * batch, tokens)
                 for path in ("engine", "transformers", "suno")}
        paths["engine mixed voices"] = {f"batch_{batch}": engine_run(bark, list(zip(texts, voices)), tokens, 0)}
        paths["transformers one voice a generation"] = {"batch_1": summed(
            [transformers_run(bark, [text], voice, tokens, index)
             for index, (text, voice) in enumerate(zip(texts, voices))])}
        results["dtypes"][dtype] = {path: {mode: {**{key: round(value, 3) for key, value in times.items()},
                                                   "total": round(total(times), 3),
                                                   "audio_per_second": round(times["audio_seconds"] / total(times),
                                                                             4)}
                                           for mode, times in runs.items()} for path, runs in paths.items()}
        if device.type == "cuda":  # every path of this dtype, weights included
            results["dtypes"][dtype]["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
        del bark
    results["roofline"] = roofline(device)
    results["shares"] = stage_shares(folder, results, tokens, batch)
    return results


def bench_search_batching(folder, tiny: bool, device) -> dict:
    """The search's scoring at bark-small size: 4 candidates x 3 sentences, all in one engine batch, against
    today's before the engine (transformers, one generation per candidate)."""
    from bench_paths import random_prompts
    from bench_peers import transformers_run

    from bark_clone.bark.core import load_bark

    tokens = SEMANTIC_TOKENS[tiny]
    bark = load_bark(str(folder), device)
    candidates, sentences = random_prompts(4, 9), sample_texts(3)
    engine_run(bark, [(sentences[0], candidates[0])], 4, 0)  # warm-up
    batched = total(engine_run(bark, [(text, voice) for voice in candidates for text in sentences], tokens, 0))
    per_candidate = sum(total(transformers_run(bark, sentences, voice, tokens, 0)) for voice in candidates)
    return {"model": "tiny Bark" if tiny else "bark-small dimensions", "candidates": len(candidates),
            "sentences": len(sentences), "semantic_tokens": tokens,
            "batched_per_minute": round(60 * len(candidates) / batched, 2),
            "before_per_minute": round(60 * len(candidates) / per_candidate, 2),
            "speedup": round(per_candidate / batched, 2)}
