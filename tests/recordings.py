"""Messy recordings built from parts: the ARCTIC speaker, a second (espeak-ng) voice, a tone, silences."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from bark_clone.audio.sound import resample

RATE = 16_000


def espeak(text: str, voice: str = "en-us+f3", speed: int = 150) -> np.ndarray:
    """espeak-ng's voice saying ``text``: (n,) float32 at 16 kHz. espeak-ng comes from Debian (scripts/test.sh)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True,
                       capture_output=True)
        samples, rate = soundfile.read(path, dtype="float32")
    return resample(samples, rate, RATE)


@dataclass
class Layout:
    """What is where in a built recording, in seconds."""

    samples: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    main_phrases: list[tuple[float, float]] = field(default_factory=list)
    other_voice: list[tuple[float, float]] = field(default_factory=list)
    tone: list[tuple[float, float]] = field(default_factory=list)

    def add(self, piece: np.ndarray, kind: str | None = None) -> None:
        start = len(self.samples) / RATE
        self.samples = np.concatenate([self.samples, piece.astype(np.float32)])
        if kind is not None:
            getattr(self, kind).append((start, len(self.samples) / RATE))

    def write(self, path: Path) -> Path:
        soundfile.write(path, self.samples, RATE)
        return path


def main_speaker_phrase(arctic: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """ARCTIC a0007's speech (0.35-3.55 s): one phrase of the main speaker."""
    return gain * arctic[int(0.35 * RATE): int(3.55 * RATE)]


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def podcast(arctic: np.ndarray) -> Layout:
    """Main speaker with pauses, a second speaker in the middle, the main speaker again, a tone at the end."""
    layout = Layout()
    layout.add(silence(0.5))
    for gain in (1.0, 0.8, 1.1):
        layout.add(main_speaker_phrase(arctic, gain), "main_phrases")
        layout.add(silence(0.6))
    other = espeak("Meanwhile the other speaker talks about the weather, the trains, and the price of bread in "
                   "the city, and then he keeps going for a while.")
    layout.add(0.25 * other / np.abs(other).max(), "other_voice")
    layout.add(silence(0.7))
    for gain in (0.9, 1.0):
        layout.add(main_speaker_phrase(arctic, gain), "main_phrases")
        layout.add(silence(0.6))
    time = np.arange(3 * RATE) / RATE
    layout.add(0.2 * np.sin(2 * np.pi * 440 * time).astype(np.float32), "tone")
    layout.add(silence(0.5))
    return layout


def overlaps(window: tuple[float, float], spans: list[tuple[float, float]]) -> bool:
    return any(window[0] < end and start < window[1] for start, end in spans)
