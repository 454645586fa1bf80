"""The precision row of scripts/bench.py: per dtype, the engine's batch-B generation speed (the ``bark`` row's
stages, fewer tokens) and the peak memory of speak and of the search's scoring (``bench_memory``)."""

from __future__ import annotations


def bench_precision(folder, capped, models_paths: dict, speech, work, tiny: bool, device) -> dict:
    """Per dtype: batch-B generation speed and the peak memory of speak and of the search's scoring (fresh
    processes, Bark capped at its tokens)."""
    from bench_bark import BATCH, PRECISION_TOKENS, device_dtypes, engine_run, sample_texts, total
    from bench_memory import peak_row

    from bark_clone.bark.core import load_bark

    batch, tokens = BATCH[tiny], PRECISION_TOKENS[tiny]
    rows = [(text, None) for text in sample_texts(batch)]
    results = []
    for dtype in device_dtypes(device):
        bark = load_bark(str(folder), device, dtype)
        engine_run(bark, rows[:1], 4, 0)  # warm-up
        times = engine_run(bark, rows, tokens, 0)
        seconds = total(times)
        del bark
        results.append({"generation_seconds": round(seconds, 2),
                        "audio_per_second": round(times["audio_seconds"] / seconds, 3),
                        **peak_row(capped, models_paths, speech, work / dtype, tiny, device, dtype)})
    return {"model": "tiny Bark" if tiny else "bark-small dimensions", "device": device.type, "batch": batch,
            "generation_tokens": tokens, "dtypes": results}
