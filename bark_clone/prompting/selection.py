"""Which seconds go into the prompt: candidate windows cut at pauses, scored, the best chosen.

Bark reads only the last ~5 s of a prompt, so the window matters more than almost anything else. Every candidate
ends where a phrase ends (plus a short pause) and starts where one starts. It is scored on speech fraction,
clipping, music or tone-like sound, level and, above all, speaker consistency: how close its Resemblyzer
embedding is to the dominant speaker's centroid over the whole recording (or all --combine'd recordings).
A window holding another voice or music is disqualified outright, not merely ranked lower.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..audio.speaker_encoder import Partials, dominant_centroid, partial_embeddings
from ..audio.speech import LEAD_SECONDS, TAIL_PAUSE_SECONDS, VAD_FRAME_SAMPLES, VAD_SAMPLE_RATE, Segment
from ..constants import MIN_SPEECH_SECONDS
from ..errors import UserError

FRAME_SECONDS = VAD_FRAME_SAMPLES / VAD_SAMPLE_RATE  # 32 ms analysis frames, the VAD's own
TONAL_PEAK_RATIO = 0.4  # a frame whose strongest FFT bin holds this share of the energy may be a tone...
TONAL_RUN_SECONDS = 0.4  # ...if that bin holds still this long: voices glide, tones and held notes do not
LOUD_DB = 20.0  # non-speech within this many dB of the speech level is sound (music, noise), not silence
MUSIC_LIMIT = 0.15  # more music or tone than this (share of frames) disqualifies a window
SPEAKER_MARGIN = 0.25  # partials this far below the main speaker's typical similarity are another voice
USEFUL_SECONDS = 8.0  # Bark reads about 5-7 s; longer windows gain nothing more
WEIGHTS = {"speaker_similarity": 1.0, "worst_speaker_similarity": 0.2, "speech_fraction": 0.5, "duration": 1.0,
           "clipping": -3.0, "music": -2.0, "level": -0.05, "position": 0.01}


@dataclass
class Profile:
    """Per-recording analysis: 32 ms frame statistics (cumulative, for O(1) window sums) and speaker partials."""

    duration: float
    segments: list[Segment]
    cumulative: dict[str, np.ndarray]
    partials: Partials
    speech_partials: np.ndarray  # (P,) bool: at least half of the partial is speech


@dataclass
class Candidate:
    """A scored window of recording ``source`` (its own seconds)."""

    source: int
    start: float
    end: float
    scores: dict[str, float] = field(default_factory=dict)
    score: float = float("-inf")
    rejected: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "window": [round(self.start, 3), round(self.end, 3)],
                "score": round(self.score, 4), "scores": {k: round(v, 4) for k, v in self.scores.items()},
                **({"rejected": self.rejected} if self.rejected else {})}


def _cumulative(values: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])


def profile_recording(samples_16k: np.ndarray, clipped: np.ndarray, speech_probabilities: np.ndarray,
                      segments: list[Segment], encoder) -> Profile:
    """Frame statistics and speaker partials of one recording: its 16 kHz samples, the share of clipped samples
    per 32 ms (counted in the original, before resampling smoothed them) and the VAD's frame probabilities."""
    n_frames = len(speech_probabilities)
    padded = np.zeros(n_frames * VAD_FRAME_SAMPLES, dtype=np.float32)
    padded[: len(samples_16k)] = samples_16k
    frames = padded.reshape(n_frames, VAD_FRAME_SAMPLES)
    power = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / VAD_FRAME_SAMPLES
    speech = speech_probabilities >= 0.5
    speech_level = np.median(power[speech]) if speech.any() else power.max()
    loud = power > speech_level * 10 ** (-LOUD_DB / 10)
    tonal = loud & steady_tone_frames(frames)
    non_speech_sound = loud & (speech_probabilities < 0.2)
    clipped = np.pad(clipped, (0, max(0, n_frames - len(clipped))))[:n_frames]
    partials = partial_embeddings(encoder, samples_16k)
    speech_frames = _cumulative(speech)
    first = np.minimum((partials.starts / FRAME_SECONDS).astype(int), n_frames)
    last = np.minimum(np.ceil(partials.ends / FRAME_SECONDS).astype(int), n_frames)
    partial_speech = (speech_frames[last] - speech_frames[first]) / np.maximum(last - first, 1)
    return Profile(
        duration=len(samples_16k) / VAD_SAMPLE_RATE,
        segments=segments,
        cumulative={"music": _cumulative(tonal | non_speech_sound), "clipping": _cumulative(clipped),
                    "speech_power": _cumulative(np.where(speech, power, 0.0)), "speech_frames": speech_frames},
        partials=partials,
        speech_partials=partial_speech >= 0.5,
    )


def steady_tone_frames(frames: np.ndarray, block: int = 8192) -> np.ndarray:
    """(n_frames, 512) -> (n_frames,) bool: frames inside a run of at least 0.4 s dominated by one steady FFT bin.

    The spectra are taken ``block`` frames at a time, so a long recording's spectrogram never sits in memory whole.
    """
    import torch

    window = torch.hann_window(frames.shape[1], periodic=False)
    peak_ratio, peak_bin = np.empty(len(frames)), np.empty(len(frames), dtype=np.int64)
    for first in range(0, len(frames), block):
        spectrum = torch.fft.rfft(torch.from_numpy(frames[first: first + block]) * window).abs()[:, 1:] ** 2
        peak_ratio[first: first + block] = (spectrum.max(dim=1).values / (spectrum.sum(dim=1) + 1e-12)).numpy()
        peak_bin[first: first + block] = spectrum.argmax(dim=1).numpy()
    steady = (peak_ratio > TONAL_PEAK_RATIO) & (np.abs(np.diff(peak_bin, prepend=-10)) <= 1)
    steady |= np.roll(steady, -1) & (peak_ratio > TONAL_PEAK_RATIO)  # a run's first frame has no steady predecessor
    tonal = np.zeros(len(frames), dtype=bool)
    minimum = int(TONAL_RUN_SECONDS / FRAME_SECONDS)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], steady.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start >= minimum:
            tonal[start:stop] = True
    return tonal


def candidate_windows(segments: list[Segment], duration: float,
                      max_seconds: float) -> list[tuple[float, float, float]]:
    """Every (start, end, speech seconds) that starts 0.1 s before a phrase, ends up to 0.3 s after one (never
    into the next), lasts at most ``max_seconds`` and holds at least 1 s of speech."""
    spoken = np.concatenate([[0.0], np.cumsum([segment.duration for segment in segments])])
    windows = []
    for last, segment in enumerate(segments):
        following = segments[last + 1].start - 0.02 if last + 1 < len(segments) else duration
        end = min(segment.end + TAIL_PAUSE_SECONDS, following, duration)
        for first in range(last, -1, -1):
            start = max(segments[first].start - LEAD_SECONDS, segments[first - 1].end if first else 0.0, 0.0)
            if end - start > max_seconds:
                if first == last:  # one phrase longer than the limit: keep its tail
                    windows.append((end - max_seconds, end, min(segment.duration, max_seconds)))
                break
            speech = float(spoken[last + 1] - spoken[first])  # whole phrases first..last, nothing else
            if speech >= MIN_SPEECH_SECONDS:
                windows.append((start, end, speech))
    return windows


def _window_sum(profile: Profile, key: str, start: float, end: float) -> float:
    cumulative = profile.cumulative[key]
    first = min(int(start / FRAME_SECONDS), len(cumulative) - 1)
    last = min(int(np.ceil(end / FRAME_SECONDS)), len(cumulative) - 1)
    return float(cumulative[last] - cumulative[first])


def score_window(profile: Profile, source: int, start: float, end: float, speech: float, centroid: np.ndarray,
                 speaker_floor: float) -> Candidate:
    """All the scores of one window, the weighted total, and the reason it is disqualified, if any."""
    duration = end - start
    n_frames = max(duration / FRAME_SECONDS, 1.0)
    speech_frames = _window_sum(profile, "speech_frames", start, end)
    level = 10 * np.log10(_window_sum(profile, "speech_power", start, end) / max(speech_frames, 1) + 1e-12)
    partials = profile.partials
    inside = (partials.starts >= start - 0.05) & (partials.ends <= end + 0.05) & profile.speech_partials
    if not inside.any():  # a window shorter than one partial: use those that overlap it
        inside = (partials.ends > start) & (partials.starts < end) & profile.speech_partials
    similarities = partials.embeddings[inside] @ centroid if inside.any() else np.array([0.0])
    mean_embedding = partials.embeddings[inside].mean(axis=0) if inside.any() else np.zeros_like(centroid)
    scores = {
        "speaker_similarity": float(mean_embedding @ centroid / (np.linalg.norm(mean_embedding) + 1e-9)),
        "worst_speaker_similarity": float(similarities.min()),
        "speech_fraction": speech / duration,
        "duration": min(1.0, duration / USEFUL_SECONDS),
        "clipping": _window_sum(profile, "clipping", start, end) / n_frames,
        "music": _window_sum(profile, "music", start, end) / n_frames,
        "level": max(0.0, -40.0 - level) + max(0.0, level + 3.0),  # dB outside -40..-3 dBFS
        "position": end / max(profile.duration, 1e-9),  # ties go to the end, like the tail default
    }
    candidate = Candidate(source, start, end, {**scores, "speech_seconds": speech, "level_dbfs": level})
    candidate.score = sum(WEIGHTS[key] * value for key, value in scores.items())
    if speech < MIN_SPEECH_SECONDS:
        candidate.rejected = f"only {speech:.1f} s of speech"
    elif scores["music"] > MUSIC_LIMIT:
        candidate.rejected = "holds music or a tone"
    elif scores["worst_speaker_similarity"] < speaker_floor:
        candidate.rejected = "holds another voice"
    return candidate


def speaker_reference(profiles: list[Profile]) -> tuple[np.ndarray, float]:
    """The dominant speaker's centroid over all the recordings' speech, and the similarity below which a
    1.6 s stretch counts as another voice."""
    speech = [profile.partials.embeddings[profile.speech_partials] for profile in profiles]
    pooled = np.concatenate([embeddings for embeddings in speech if len(embeddings)] or
                            [profile.partials.embeddings for profile in profiles])
    centroid = dominant_centroid(pooled)
    similarities = pooled @ centroid
    typical = float(np.median(similarities[similarities >= np.quantile(similarities, 0.4)]))
    return centroid, typical - SPEAKER_MARGIN


def rank_windows(profiles: list[Profile], max_seconds: float, names: list[str]) -> list[Candidate]:
    """Every candidate window of every recording, best first; ``UserError`` if none qualifies."""
    centroid, floor = speaker_reference(profiles)
    candidates = [score_window(profile, index, start, end, speech, centroid, floor)
                  for index, profile in enumerate(profiles)
                  for start, end, speech in candidate_windows(profile.segments, profile.duration, max_seconds)]
    qualified = sorted((c for c in candidates if c.rejected is None), key=lambda c: c.score, reverse=True)
    if not qualified:
        reasons = sorted({c.rejected for c in candidates if c.rejected}) or ["no phrase of at least 1 s"]
        raise UserError(f"no usable window in {', '.join(names)}: every stretch of speech is too short or "
                        f"disqualified ({'; '.join(reasons)})")
    return qualified
