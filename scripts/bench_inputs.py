"""What the benchmarks speak and where they find it: the repository, its ARCTIC clip, and longer speech made from it.
Importing it also puts the repository and its tests (the random-weight model builders) on the import path."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
ARCTIC = REPO / "tests" / "data" / "arctic_a0007.wav"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the random-weight model builders live with the tests, not in the wheel


def speech_file(path: Path, seconds: float, rate: int = 16_000, seed: int = 0) -> Path:
    """ARCTIC a0007's speech repeated with random gains and 0.4-0.8 s pauses, ``seconds`` long."""
    from bark_clone.audio.sound import resample

    samples, source_rate = soundfile.read(ARCTIC, dtype="float32")
    phrase = resample(samples[int(0.35 * source_rate): int(3.55 * source_rate)], source_rate, rate)
    rng = np.random.default_rng(seed)
    with soundfile.SoundFile(path, "w", rate, 1, subtype="PCM_16") as handle:
        written = 0
        while written < seconds * rate:
            piece = np.concatenate([rng.uniform(0.6, 1.1) * phrase, np.zeros(int(rng.uniform(0.4, 0.8) * rate))])
            piece = piece[: int(seconds * rate) - written]
            handle.write(piece)
            written += len(piece)
    return path
