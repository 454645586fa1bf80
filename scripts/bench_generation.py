"""The generation rows of scripts/bench.py: Bark batched against one sample at a time, for generate-data and for
long-form speak (the same text, batched chunks against chunk by chunk)."""

from __future__ import annotations

import statistics
import time

import numpy as np

GENERATE_SAMPLES = (8, 4)  # real / tiny
LONG_FORM_TEXT = ("The lighthouse stood on the rock for a century. Storms came and went. The keepers wrote the weather "
                  "into a thick book, page after page. Then the lamp was automated. Nobody climbs the stairs now. "
                  "The book sits in a museum in the town. Visitors read it in silence. Some of them smile.")


def median_time(function, repeats: int) -> tuple[float, object]:
    """The median wall time of ``repeats`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench_generation(models_paths: dict, tiny: bool, device) -> dict:
    """Seconds of audio per second: one batch of B samples against B one-sample batches (tiny Bark)."""
    from bark_clone.bark.core import load_bark
    from bark_clone.bark.generation import generate
    from bark_clone.training.texts import TextSource

    bark = load_bark(str(models_paths["bark"]), device)
    texts = [TextSource("en").sample(np.random.default_rng(i)) for i in range(GENERATE_SAMPLES[tiny])]
    generate(bark, texts[:1])  # warm-up
    batched_time, batched = median_time(lambda: generate(bark, texts, seed=0), 1)
    sequential_time, sequential = median_time(lambda: [generate(bark, [text])[0] for text in texts], 1)
    batched_audio = sum(len(generation.audio) for generation in batched) / 24_000
    sequential_audio = sum(len(generation.audio) for generation in sequential) / 24_000
    return {"batch_size": len(texts), "batched_audio_per_second": batched_audio / batched_time,
            "sequential_audio_per_second": sequential_audio / sequential_time,
            "speedup": (batched_audio / batched_time) / (sequential_audio / sequential_time), "model": "tiny Bark"}


def bench_long_form(models_paths: dict, tiny: bool, device) -> dict:
    """Seconds of audio per second of long-form speak on one text: chunks in batches of 4 against one at a time.

    One try per chunk (the guard still judges each), so both runs do the same generations.
    """
    from bark_clone.audio.speaker_encoder import load_voice_encoder
    from bark_clone.audio.speech import load_vad
    from bark_clone.bark.core import load_bark
    from bark_clone.prompting.format import SpeakerPrompt
    from bark_clone.speaking.longform import LongFormSettings, speak_long
    from bark_clone.speaking.session import SpeakingSession

    bark = load_bark(str(models_paths["bark"]), device)
    encoder, vad = load_voice_encoder(device), load_vad()
    rng = np.random.default_rng(0)
    fine = rng.integers(0, 1024, (8, 300))
    prompt = SpeakerPrompt.from_streams(rng.integers(0, 10_000, 200), fine)
    rows = {}
    for name, batch_size in (("batched", 4), ("sequential", 1)):
        settings = LongFormSettings(seed=0, batch_size=batch_size, tries=1, chunk_seconds=4.0)
        started = time.perf_counter()
        audio, report = speak_long(SpeakingSession(bark, encoder, vad), prompt, LONG_FORM_TEXT, settings,
                                   progress=False)
        rows[name] = (sum(row["duration"] for row in report["chunks"]) / (time.perf_counter() - started),
                      len(report["chunks"]))
    return {"chunks": rows["batched"][1], "batched_audio_per_second": rows["batched"][0],
            "sequential_audio_per_second": rows["sequential"][0],
            "speedup": rows["batched"][0] / rows["sequential"][0], "model": "tiny Bark"}
