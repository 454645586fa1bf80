"""The streaming row of scripts/bench.py: how soon the first audio of a 7-chunk text is ready when speech is
streamed (the first chunk generated alone, each chunk handed on as it passes the guard) against the whole file,
and what streaming costs the whole."""

from __future__ import annotations

import time

import numpy as np

SENTENCE = ("The keeper number {n} climbed the long stairs of the lighthouse at dusk, lit the great lamp, checked the "
            "lens for salt, and sat by the window to watch the ships go by.")
SEVEN_CHUNKS = " ".join(SENTENCE.format(n=n) for n in range(7))  # one 12 s chunk per sentence


def speak_once(bark, prompt, listeners, streamed: bool) -> dict:
    """One long-form run, one try per chunk (random Bark never ends a chunk, so every try would be retried)."""
    from bark_clone.speaking.longform import LongFormSettings, speak_long
    from bark_clone.speaking.session import SpeakingSession

    encoder, vad = listeners
    started, first = time.perf_counter(), []

    def ready(index: int, total: int, piece) -> None:
        if not first:
            first.append(time.perf_counter() - started)

    settings = LongFormSettings(seed=0, batch_size=4, tries=1)
    audio, report = speak_long(SpeakingSession(bark, encoder, vad), prompt, SEVEN_CHUNKS, settings, progress=False,
                               on_piece=ready if streamed else None, hurry_first=streamed)
    whole = time.perf_counter() - started
    return {"first_audio_seconds": first[0] if streamed else whole, "whole_seconds": whole,
            "chunks": len(report["chunks"]), "audio_seconds": report["duration"]}


def bench_streaming(bark_folders: dict[str, object], device) -> dict:
    """For each Bark (label -> folder): the whole file, then streamed; ratios of the two."""
    from bark_clone.audio.speaker_encoder import load_voice_encoder
    from bark_clone.audio.speech import load_vad
    from bark_clone.bark.core import load_bark
    from bark_clone.prompting.format import SpeakerPrompt

    listeners = (load_voice_encoder(device), load_vad())
    rng = np.random.default_rng(0)
    prompt = SpeakerPrompt.from_streams(rng.integers(0, 10_000, 200), rng.integers(0, 1024, (8, 300)))
    rows = []
    for label, folder in bark_folders.items():
        bark = load_bark(str(folder), device)
        whole, streamed = (speak_once(bark, prompt, listeners, streamed) for streamed in (False, True))
        rows.append({"model": label, "chunks": whole["chunks"], "whole": whole, "streamed": streamed,
                     "first_audio_ratio": streamed["first_audio_seconds"] / whole["first_audio_seconds"],
                     "whole_ratio": streamed["whole_seconds"] / whole["whole_seconds"]})
    return {"rows": rows}
