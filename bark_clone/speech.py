"""Where the speech is: silero voice-activity detection and speech segments separated by pauses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import HUBERT_SAMPLE_RATE, MIN_SPEECH_SECONDS
from .errors import UserError

VAD_SAMPLE_RATE = HUBERT_SAMPLE_RATE  # silero runs at 16 kHz, like HuBERT, so one resampled copy serves both
VAD_FRAME_SAMPLES = 512  # silero scores 32 ms frames
VAD_THRESHOLD = 0.5
PAUSE_SECONDS = 0.2  # a gap at least this long ends a phrase; windows are cut only there
MIN_SEGMENT_SECONDS = 0.25  # shorter bursts (clicks, breaths) are not speech
SPEECH_PAD_SECONDS = 0.03
LEAD_SECONDS = 0.1  # kept before the first word of a window
TAIL_PAUSE_SECONDS = 0.3  # kept after the last word: Bark continues from here, so the prompt should end in a pause


@dataclass(frozen=True)
class Segment:
    """A stretch of speech, in seconds of the recording."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def load_vad():
    """silero's voice-activity detector, from the model file inside its wheel (no download)."""
    import torch
    from silero_vad import load_silero_vad

    threads = torch.get_num_threads()
    model = load_silero_vad()
    torch.set_num_threads(threads)  # importing silero_vad pins torch to one thread; HuBERT needs them all
    return model


def speech_probabilities(vad, samples: np.ndarray) -> np.ndarray:
    """Speech probability per 32 ms frame: (n,) float32 at 16 kHz -> (ceil(n / 512),) float32 in [0, 1]."""
    import torch

    n_frames = -(-len(samples) // VAD_FRAME_SAMPLES)
    padded = np.zeros(n_frames * VAD_FRAME_SAMPLES, dtype=np.float32)
    padded[: len(samples)] = samples
    peak = float(np.abs(padded).max())
    if peak > 0:
        padded /= peak  # a quiet recording is still speech
    frames = torch.from_numpy(padded).reshape(n_frames, VAD_FRAME_SAMPLES)
    vad.reset_states()
    probabilities = np.empty(n_frames, dtype=np.float32)
    with torch.inference_mode():
        for index in range(n_frames):
            probabilities[index] = vad(frames[index], VAD_SAMPLE_RATE).item()
    return probabilities


def speech_segments(probabilities: np.ndarray, n_samples: int) -> list[Segment]:
    """Speech segments from frame probabilities; segments are separated by pauses of at least 0.2 s."""
    from silero_vad import get_speech_timestamps_from_probs

    stamps = get_speech_timestamps_from_probs(
        probabilities.tolist(),
        sampling_rate=VAD_SAMPLE_RATE,
        threshold=VAD_THRESHOLD,
        min_speech_duration_ms=int(MIN_SEGMENT_SECONDS * 1000),
        min_silence_duration_ms=int(PAUSE_SECONDS * 1000),
        speech_pad_ms=int(SPEECH_PAD_SECONDS * 1000),
        audio_length_samples=n_samples,
    )
    return [Segment(stamp["start"] / VAD_SAMPLE_RATE, stamp["end"] / VAD_SAMPLE_RATE) for stamp in stamps]


def speech_seconds(segments: list[Segment], start: float = 0.0, end: float = float("inf")) -> float:
    """Seconds of speech inside [start, end]."""
    return sum(max(0.0, min(segment.end, end) - max(segment.start, start)) for segment in segments)


def require_speech(segments: list[Segment], source: str) -> None:
    """Refuse a recording with less than about a second of speech."""
    total = speech_seconds(segments)
    if total < MIN_SPEECH_SECONDS:
        raise UserError(
            f"{source} holds {total:.1f} s of speech; a Bark prompt needs at least about {MIN_SPEECH_SECONDS:g} s"
        )
