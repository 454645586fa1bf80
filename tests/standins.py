"""Stand-in generators whose voice is known in advance, built from real speech: the shape of Bark's batched path
(texts, a prompt and a seed in; one Generation per text, 24 kHz audio, out), but the voice is chosen by the test."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import soundfile
from recordings import espeak

from bark_clone.audio import resample
from bark_clone.bark import Generation
from bark_clone.constants import CODEC_HOP_LENGTH, CODEC_SAMPLE_RATE, semantic_length_for_frames

ARCTIC_SPEECH = (0.35, 3.55)  # seconds of a0007 that hold its one phrase


def generation_of(audio_24k: np.ndarray, ended: bool = True, seed: int = 0) -> Generation:
    """A Generation around real audio: streams of the right shapes (contents arbitrary), so bootstraps work."""
    n_frames = max(1, len(audio_24k) // CODEC_HOP_LENGTH)
    rng = np.random.default_rng(seed)
    return Generation(rng.integers(0, 10_000, semantic_length_for_frames(n_frames)),
                      rng.integers(0, 1024, (8, n_frames)), audio_24k[: n_frames * CODEC_HOP_LENGTH], ended)


def arctic_speech(path) -> np.ndarray:
    """The ARCTIC speaker's phrase with half a second of silence around it, at 24 kHz."""
    samples, rate = soundfile.read(path, dtype="float32")
    phrase = samples[int(ARCTIC_SPEECH[0] * rate): int(ARCTIC_SPEECH[1] * rate)]
    padded = np.concatenate([np.zeros(rate // 2, np.float32), phrase, np.zeros(rate // 2, np.float32)])
    return resample(padded, rate, CODEC_SAMPLE_RATE)


@dataclass
class VoiceStandIn:
    """Speaks every text in the ARCTIC speaker's voice, except where the test says otherwise: the first
    generation of each text in ``off_first`` and every generation of each text in ``never`` come in an espeak-ng
    voice. ``calls`` counts the generations per text."""

    speaker_audio: np.ndarray
    off_first: set[str] = field(default_factory=set)
    never: set[str] = field(default_factory=set)
    other_voice: str = "en-us+m3"
    calls: Counter = field(default_factory=Counter)
    batches: list[tuple[list[str], int]] = field(default_factory=list)

    def other(self, text: str) -> np.ndarray:
        spoken = espeak(text, self.other_voice)
        spoken = 0.3 * spoken / (np.abs(spoken).max() + 1e-9)
        return resample(np.concatenate([np.zeros(8000, np.float32), spoken, np.zeros(8000, np.float32)]),
                        16_000, CODEC_SAMPLE_RATE)

    def __call__(self, texts: list[str], prompt, seed: int) -> list[Generation]:
        self.batches.append((list(texts), seed))
        results = []
        for text in texts:
            off = text in self.never or (text in self.off_first and self.calls[text] == 0)
            self.calls[text] += 1
            results.append(generation_of(self.other(text) if off else self.speaker_audio, seed=seed))
        return results
