"""The speaker-consistency guard: is a generated chunk in the speaker's voice, and does it show one of Bark's known
failures (cut off before end-of-speech, mostly silence, a duration implausible for its text)?"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .audio import read_segment, resample
from .chunking import speaking_rate
from .constants import CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE
from .files import file_sha256
from .speech import speech_probabilities, speech_segments

# Measured with the GE2E encoder against ARCTIC a0007 (scripts/guard_threshold.py): 2 s pieces of the same speaker
# score 0.90-0.93, one espeak-ng voice across different texts 0.81-0.92, other voices 0.45-0.62 (KVoiceWalk's
# nearest stock voice to its target: 0.71). DEFAULT_MIN_SIMILARITY (0.75) sits in the gap between them.
MIN_SPEECH_FRACTION = 0.3  # below this share of speech (VAD), a chunk is "mostly silence"
DURATION_SLACK = 2.5  # speech lasting under 1/2.5 or over 2.5 times the language's estimate is implausible
DURATION_ALLOWANCE_SECONDS = 1.0  # short texts vary most: this much more is always allowed
FLAGS = ("off-voice", "cut-off", "silence", "duration")


@dataclass
class Reference:
    """What the chunks are compared with: a (256,) unit embedding, and where it came from."""

    embedding: np.ndarray
    kind: str  # "recording" (the sidecar's source window) or "prompt decode" (Bark's codec)
    detail: str = ""


def recording_window(sidecar_path: Path) -> tuple[np.ndarray, str] | None:
    """The seconds of the source recording the prompt was made from (16 kHz), when the sidecar names a file that is
    still there with the same SHA-256; None otherwise."""
    try:
        sidecar = json.loads(Path(sidecar_path).read_text(encoding="utf-8"))
        source = sidecar["selection"]["source"]
        start, end = sidecar["window"]
        recorded = next(item for item in sidecar["sources"] if item["path"] == source)
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None
    path = Path(source)
    if not path.is_file() or file_sha256(path) != recorded.get("sha256"):
        return None
    samples, rate = read_segment(path, float(start), float(end))
    return resample(samples, rate, HUBERT_SAMPLE_RATE), f"{path.name} {float(start):.2f}-{float(end):.2f} s"


def reference_for(prompt, encoder, bark=None, sidecar_path: Path | None = None) -> Reference:
    """The speaker's reference: the recording window named by the sidecar, or else the prompt decoded with Bark's
    own codec (``bark`` required then)."""
    from .voice import embed

    window = recording_window(sidecar_path) if sidecar_path is not None else None
    if window is not None:
        return Reference(embed(encoder, window[0]), "recording", window[1])
    from .bark import bark_codec
    from .models import encodec_decode

    audio = encodec_decode(bark_codec(bark), prompt.fine_codes)
    return Reference(embed(encoder, resample(audio, CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE)), "prompt decode",
                     f"{prompt.seconds:.2f} s of codes")


@dataclass
class Attempt:
    """One try at a chunk: its audio (24 kHz, trimmed to the speech), what the guard found, and the seed."""

    audio: np.ndarray
    seed: int
    similarity: float
    flags: list[str] = field(default_factory=list)
    generation: Any = None

    @property
    def passed(self) -> bool:
        return not self.flags

    def rank(self) -> tuple[int, float]:
        """Best first: fewer of Bark's failures (a wrong voice counts less than a broken chunk), then similarity."""
        broken = sum(flag != "off-voice" for flag in self.flags)
        return (-broken, self.similarity)


def speech_span(audio_24k: np.ndarray, vad) -> tuple[float, float, float]:
    """(first speech second, last speech second, seconds of speech) by the VAD; (0, 0, 0) for no speech."""
    samples = resample(audio_24k, CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE)
    if len(samples) == 0:
        return 0.0, 0.0, 0.0
    segments = speech_segments(speech_probabilities(vad, samples), len(samples))
    if not segments:
        return 0.0, 0.0, 0.0
    return segments[0].start, segments[-1].end, sum(segment.duration for segment in segments)


def failure_flags(text: str, language: str, seconds: float, speech_seconds: float, ended: bool) -> list[str]:
    """Bark's known failures, from the chunk's text and its (untrimmed) audio."""
    flags = []
    if not ended:
        flags.append("cut-off")
    if seconds <= 0 or speech_seconds < MIN_SPEECH_FRACTION * seconds:
        flags.append("silence")
    expected = len(text.strip()) / speaking_rate(language)
    if speech_seconds > 0 and not (expected / DURATION_SLACK - DURATION_ALLOWANCE_SECONDS <= speech_seconds
                                   <= expected * DURATION_SLACK + DURATION_ALLOWANCE_SECONDS):
        flags.append("duration")
    return flags


def judge(generation, text: str, language: str, seed: int, reference: Reference, encoder, vad,
          min_similarity: float, trim_pad: float = 0.1) -> Attempt:
    """One generated chunk judged: trimmed to its speech (plus ``trim_pad`` s), compared with the reference, and
    flagged for a wrong voice or one of Bark's failures."""
    from .voice import embed

    audio = np.asarray(generation.audio, dtype=np.float32)
    start, end, speech = speech_span(audio, vad)
    if speech > 0:
        first = max(0, int((start - trim_pad) * CODEC_SAMPLE_RATE))
        audio = audio[first: int((end + trim_pad) * CODEC_SAMPLE_RATE)]
    clip = resample(audio, CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE)
    similarity = float(embed(encoder, clip) @ reference.embedding) if len(clip) else 0.0
    flags = failure_flags(text, language, len(generation.audio) / CODEC_SAMPLE_RATE, speech,
                          bool(getattr(generation, "ended", True)))
    if similarity < min_similarity:
        flags.insert(0, "off-voice")
    return Attempt(audio, seed, similarity, flags, generation)
