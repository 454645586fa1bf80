"""Stand-in generators whose voice is known in advance, built from real speech: the shape of Bark's batched path
(texts, a prompt and a seed in; one Generation per text, 24 kHz audio, out), but the voice is chosen by the test."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import soundfile
from recordings import espeak

from bark_clone.audio.sound import resample
from bark_clone.bark.generation import Generation
from bark_clone.constants import CODEC_HOP_LENGTH, CODEC_SAMPLE_RATE, semantic_length_for_frames

ARCTIC_SPEECH = (0.35, 3.55)  # seconds of a0007 that hold its one phrase


def generation_of(audio_24k: np.ndarray, ended: bool = True, seed: int = 0) -> Generation:
    """A Generation around real audio: streams of the right shapes (contents arbitrary), so bootstraps work."""
    n_frames = max(1, len(audio_24k) // CODEC_HOP_LENGTH)
    rng = np.random.default_rng(seed)
    return Generation(rng.integers(0, 10_000, semantic_length_for_frames(n_frames)),
                      rng.integers(0, 1024, (8, n_frames)), audio_24k[: n_frames * CODEC_HOP_LENGTH], ended)


def arctic_speech(path, pad_seconds: float = 0.5) -> np.ndarray:
    """The ARCTIC speaker's phrase with ``pad_seconds`` of silence around it, at 24 kHz."""
    samples, rate = soundfile.read(path, dtype="float32")
    phrase = samples[int(ARCTIC_SPEECH[0] * rate): int(ARCTIC_SPEECH[1] * rate)]
    pad = np.zeros(int(pad_seconds * rate), np.float32)
    padded = np.concatenate([pad, phrase, pad])
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


MARK = 1000  # a fine code of 1000 + L in the last frame of codebook 7 marks a bootstrap of level L


def prompt_level(prompt) -> int:
    """How far a prompt's voice is from the speaker, 0 (the speaker) .. 8: a bootstrap carries its level in a
    marker code; any other prompt (a window, a stock voice) gets 4..8 from its codes."""
    code = int(prompt.fine_codes[7, -1])
    return code - MARK if MARK <= code <= MARK + 8 else 4 + code % 5


@dataclass
class LevelStandIn:
    """A generator whose voice is a known function of the prompt: the speaker (ARCTIC) mixed with another voice
    (espeak-ng) in the proportion level / 8, so the closest candidate is known by construction. Each generation
    carries the level two below its prompt's, so bootstrapping walks towards the speaker."""

    speaker_audio: np.ndarray
    other_voice: str = "en-us+m3"
    scoring_calls: int = 0
    _other: dict = field(default_factory=dict)

    def other(self, text: str) -> np.ndarray:
        if text not in self._other:
            spoken = resample(espeak(text, self.other_voice), 16_000, CODEC_SAMPLE_RATE)
            self._other[text] = 0.3 * spoken / (np.abs(spoken).max() + 1e-9)
        return self._other[text]

    def __call__(self, texts: list[str], prompt, seed: int) -> list[Generation]:
        self.scoring_calls += len(texts) > 2
        weight = prompt_level(prompt) / 8
        results = []
        for text in texts:
            other = self.other(text)
            length = max(len(self.speaker_audio), len(other))
            mixed = np.zeros(length, np.float32)
            mixed[: len(self.speaker_audio)] += (1 - weight) * self.speaker_audio
            mixed[: len(other)] += weight * other
            generation = generation_of(mixed, seed=seed)
            generation.fine_codes[7, -1] = MARK + max(prompt_level(prompt) - 2, 0)
            results.append(generation)
        return results
