#!/usr/bin/env python
"""The measurement behind each row's semantic budget (constants: SPEECH_CHARACTERS_PER_SECOND,
DEFAULT_SEMANTIC_BUDGET, MIN_BUDGET_SECONDS).

Speaking rate, in characters of text per second of speech (leading and trailing silence trimmed), on the guard's
voices (scripts/guard_threshold.py): ARCTIC a0007 with its transcript, and seven espeak-ng voices saying three
texts at espeak-ng's default rate and at a slow one (120 words a minute, slower than most read speech). The budget
must let the slowest of them finish: the multiple has to exceed (the rate we assume) / (the slowest rate measured),
with room for Bark's pauses and breaths.

    python scripts/semantic_budget.py        # needs espeak-ng (scripts/test.sh installs it)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the espeak-ng helper lives with the tests
sys.path.insert(0, str(REPO / "scripts"))

ARCTIC_TEXT = "And you always want to see it in the superlative degree."  # CMU ARCTIC's prompt a0007
SPEEDS = (150, 120)  # espeak-ng's words per minute: its default, and slow speech


def speech_seconds(samples: np.ndarray, rate: int) -> float:
    """Seconds from the first to the last 10 ms frame within 35 dB of the loudest."""
    frame = rate // 100
    energy = np.array([np.sqrt(np.mean(samples[i: i + frame] ** 2)) for i in range(0, len(samples) - frame, frame)])
    loud = np.flatnonzero(energy > energy.max() * 10 ** (-35 / 20))
    return (loud[-1] - loud[0] + 1) * frame / rate


def main() -> None:
    from guard_threshold import TEXTS, VOICES
    from recordings import RATE, espeak

    from bark_clone.constants import DEFAULT_SEMANTIC_BUDGET, SPEECH_CHARACTERS_PER_SECOND

    samples, rate = soundfile.read(REPO / "tests" / "data" / "arctic_a0007.wav", dtype="float32")
    rates = {"arctic a0007": len(ARCTIC_TEXT) / speech_seconds(samples, rate)}
    for voice in VOICES:
        for speed in SPEEDS:
            measured = [len(text) / speech_seconds(espeak(text, voice, speed), RATE) for text in TEXTS]
            rates[f"{voice} at {speed} wpm"] = float(np.mean(measured))
    for name, value in rates.items():
        print(f"{name:28s} {value:5.1f} characters a second")
    slowest = min(rates.values())
    needed = SPEECH_CHARACTERS_PER_SECOND / slowest
    print(f"mean {np.mean(list(rates.values())):.1f}, slowest {slowest:.1f}; assumed rate "
          f"{SPEECH_CHARACTERS_PER_SECOND}: the slowest voice needs a multiple of {needed:.2f}; the default "
          f"{DEFAULT_SEMANTIC_BUDGET} leaves it {DEFAULT_SEMANTIC_BUDGET / needed:.2f}x room")
    sys.exit(0 if DEFAULT_SEMANTIC_BUDGET > 1.5 * needed else 1)


if __name__ == "__main__":
    main()
