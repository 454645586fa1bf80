"""How much a generation sounds like the target, as KVoiceWalk scores voices: target similarity (GE2E embeddings
against the target's), self similarity (the generations against each other: a stable voice) and feature similarity
(spectral statistics), combined by a weighted harmonic mean."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..audio.sound import resample
from ..audio.speaker_encoder import embed
from ..constants import CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE, MIN_SPEECH_SECONDS
from ..errors import UserError

SCORE_WEIGHTS = {"target_similarity": 0.48, "self_similarity": 0.5, "feature_similarity": 0.02}  # KVoiceWalk's


def spectral_features(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Spectral statistics of speech: RMS, zero crossings, centroid, bandwidth, roll-off, flatness (mean and
    spread) and 13 MFCC means and spreads -> (36,) float64."""
    import librosa

    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) < 2048:
        samples = np.pad(samples, (0, 2048 - len(samples)))
    values = [float(np.sqrt(np.mean(samples**2))) + 1e-9,
              float(np.mean(librosa.feature.zero_crossing_rate(samples))) + 1e-9]
    for feature in (librosa.feature.spectral_centroid, librosa.feature.spectral_bandwidth,
                    librosa.feature.spectral_rolloff):
        track = feature(y=samples, sr=sample_rate)[0]
        values += [float(track.mean()) + 1e-9, float(track.std()) + 1e-9]
    flatness = librosa.feature.spectral_flatness(y=samples)[0]
    values += [float(flatness.mean()) + 1e-9, float(flatness.std()) + 1e-9]
    mfcc = librosa.feature.mfcc(y=samples, sr=sample_rate, n_mfcc=13)
    values += list(mfcc.mean(axis=1)) + list(mfcc.std(axis=1))
    return np.asarray(values, dtype=np.float64)


def feature_similarity(features: np.ndarray, target: np.ndarray) -> float:
    """1 minus the mean relative difference of the statistics (each capped at 1), floored at 0.01 (KVoiceWalk's
    feature penalty)."""
    relative = np.abs(features - target) / (np.abs(target) + 1e-6)
    # Each statistic counts at most 1 (of 36): a statistic whose target value is near zero (spectral flatness of
    # clean speech is about 0.02) would otherwise swing the whole similarity on tiny absolute differences.
    return float(max(0.01, 1.0 - np.mean(np.minimum(relative, 1.0))))


def clone_score(target_similarity: float, self_similarity: float, feature_sim: float) -> float:
    """KVoiceWalk's score: the weighted harmonic mean of the three similarities (weights 0.48 / 0.5 / 0.02)."""
    values = {"target_similarity": target_similarity, "self_similarity": self_similarity,
              "feature_similarity": feature_sim}
    weights = sum(SCORE_WEIGHTS.values())
    return float(weights / sum(SCORE_WEIGHTS[key] / max(value, 1e-6) for key, value in values.items()))


@dataclass
class Target:
    """The voice to match: the speech of one or more recordings, as an embedding and spectral statistics."""

    name: str
    embedding: np.ndarray  # (256,) unit vector
    features: np.ndarray  # (36,) spectral statistics
    speech_seconds: float


def target_from_recordings(recordings, encoder) -> Target:
    """Concatenate the recordings' speech (16 kHz) and describe it; ``UserError`` if there is none."""
    pieces = [recording.samples_16k[int(s.start * HUBERT_SAMPLE_RATE): int(s.end * HUBERT_SAMPLE_RATE)]
              for recording in recordings for s in recording.segments]
    speech = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    names = ", ".join(recording.label for recording in recordings)
    if len(speech) < MIN_SPEECH_SECONDS * HUBERT_SAMPLE_RATE:
        raise UserError(f"target {names} holds no usable speech to compare against")
    return Target(names, embed(encoder, speech), spectral_features(speech, HUBERT_SAMPLE_RATE),
                  len(speech) / HUBERT_SAMPLE_RATE)


def score_generations(generations: list[np.ndarray], target: Target, encoder) -> dict[str, float]:
    """Compare Bark's generations (24 kHz) with the target: the three similarities and their score."""
    clips = [resample(audio, CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE) for audio in generations]
    clips = [clip if len(clip) >= HUBERT_SAMPLE_RATE // 4 else np.pad(clip, (0, HUBERT_SAMPLE_RATE // 4 - len(clip)))
             for clip in clips]
    embeddings = [embed(encoder, clip) for clip in clips]
    target_similarity = float(np.mean([embedding @ target.embedding for embedding in embeddings]))
    pairs = list(itertools.combinations(embeddings, 2))
    self_similarity = float(np.mean([a @ b for a, b in pairs])) if pairs else 1.0
    features = feature_similarity(spectral_features(np.concatenate(clips), HUBERT_SAMPLE_RATE), target.features)
    return {"target_similarity": target_similarity, "self_similarity": self_similarity,
            "feature_similarity": features,
            "score": clone_score(max(target_similarity, 0.0), max(self_similarity, 0.0), features)}
