"""Where the speech is: silero voice-activity detection and speech segments separated by pauses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import HUBERT_SAMPLE_RATE, MIN_SPEECH_SECONDS
from ..errors import UserError

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


VAD_CONTEXT_SAMPLES = 64  # silero prepends the previous frame's last 64 samples to each frame
VAD_BLOCK_FRAMES = 4096  # frames per batched pass (131 s), so memory stays flat on long recordings


class VoiceActivityDetector:
    """silero's VAD from the model file inside its wheel (no download), run in batches.

    silero's own loop feeds one 32 ms frame at a time through the whole network. Only its LSTM cell carries state
    from frame to frame, so here the STFT and convolutions run on thousands of frames at once and the recurrence
    runs in one ``nn.LSTM`` call with silero's cell weights: the same probabilities, about 10 times faster.
    """

    def __init__(self) -> None:
        import torch

        threads = torch.get_num_threads()
        from silero_vad import load_silero_vad

        self.jit = load_silero_vad()
        torch.set_num_threads(threads)  # importing silero_vad pins torch to one thread; HuBERT needs them all
        self.lstm = None
        try:
            cell = self.jit._model.decoder.rnn
            self.lstm = torch.nn.LSTM(cell.weight_ih.shape[1], cell.weight_hh.shape[1], batch_first=True)
            with torch.no_grad():
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(self.lstm, f"{name}_l0").copy_(getattr(cell, name))
            self.lstm.eval()
        except (AttributeError, RuntimeError):  # another silero layout: use its own frame-by-frame loop
            self.lstm = None

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability per 32 ms frame: (n,) float32 at 16 kHz -> (ceil(n / 512),) float32 in [0, 1]."""
        import torch

        n_frames = -(-len(samples) // VAD_FRAME_SAMPLES)
        padded = np.zeros(n_frames * VAD_FRAME_SAMPLES, dtype=np.float32)
        padded[: len(samples)] = samples
        peak = float(np.abs(padded).max())
        if peak > 0:
            padded /= peak  # a quiet recording is still speech
        frames = torch.from_numpy(padded).reshape(n_frames, VAD_FRAME_SAMPLES)
        if self.lstm is None:
            return self._frame_by_frame(frames)
        model, state = self.jit._model, None
        pieces = []
        with torch.inference_mode():
            for first in range(0, n_frames, VAD_BLOCK_FRAMES):
                block = frames[first: first + VAD_BLOCK_FRAMES]
                previous = frames[first - 1: first] if first else torch.zeros(1, VAD_FRAME_SAMPLES)
                context = torch.cat([previous, block[:-1]])[:, -VAD_CONTEXT_SAMPLES:]
                features = model.encoder(model.stft(torch.cat([context, block], dim=1))).squeeze(-1)
                hidden, state = self.lstm(features[None], state)
                pieces.append(model.decoder.decoder(hidden[0].unsqueeze(-1)).reshape(-1))
        return torch.cat(pieces).numpy().astype(np.float32)

    def _frame_by_frame(self, frames) -> np.ndarray:
        import torch

        self.jit.reset_states()
        with torch.inference_mode():
            return np.array([self.jit(frame, VAD_SAMPLE_RATE).item() for frame in frames], dtype=np.float32)


def load_vad() -> VoiceActivityDetector:
    """silero's voice-activity detector, ready for whole recordings."""
    return VoiceActivityDetector()


def speech_probabilities(vad: VoiceActivityDetector, samples: np.ndarray) -> np.ndarray:
    """Speech probability per 32 ms frame: (n,) float32 at 16 kHz -> (ceil(n / 512),) float32 in [0, 1]."""
    return vad.probabilities(samples)


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
