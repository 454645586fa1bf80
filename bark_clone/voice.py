"""Who is speaking: Resemblyzer (GE2E) speaker embeddings, spectral statistics, and KVoiceWalk's clone score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .audio import normalize_level
from .constants import HUBERT_SAMPLE_RATE

EMBEDDING_RATE = HUBERT_SAMPLE_RATE  # Resemblyzer works at 16 kHz, like HuBERT and the VAD
PARTIAL_SECONDS = 1.6  # Resemblyzer's partial utterance: 160 mel frames of 10 ms
PARTIAL_HOP_SECONDS = 0.5
RESEMBLYZER_LEVEL_DBFS = -30.0  # the level Resemblyzer's own preprocessing normalises to
SCORE_WEIGHTS = {"target_similarity": 0.48, "self_similarity": 0.5, "feature_similarity": 0.02}  # KVoiceWalk's


def load_voice_encoder(device=None):
    """Resemblyzer's GE2E speaker encoder, from the weights inside its wheel (no download)."""
    from resemblyzer import VoiceEncoder

    return VoiceEncoder(device=str(device) if device is not None else "cpu", verbose=False)


def _levelled(samples: np.ndarray) -> np.ndarray:
    levelled, _ = normalize_level(samples, target_dbfs=RESEMBLYZER_LEVEL_DBFS)
    return levelled


def embed(encoder, samples: np.ndarray) -> np.ndarray:
    """One speaker embedding for a stretch of audio: (n,) float32 at 16 kHz -> (256,) unit vector."""
    return np.asarray(encoder.embed_utterance(_levelled(samples)), dtype=np.float32)


@dataclass
class Partials:
    """Embeddings of overlapping 1.6 s stretches: ``embeddings`` (P, 256) unit vectors, ``starts`` (P,) seconds."""

    embeddings: np.ndarray
    starts: np.ndarray

    @property
    def ends(self) -> np.ndarray:
        return self.starts + PARTIAL_SECONDS


def partial_embeddings(encoder, samples: np.ndarray, batch_size: int = 256) -> Partials:
    """Embeddings every 0.5 s over a whole recording (16 kHz), computed from one mel spectrogram."""
    import torch
    from resemblyzer.audio import wav_to_mel_spectrogram

    mel = wav_to_mel_spectrogram(_levelled(samples))  # (frames, 40) at 100 Hz
    width, hop = int(PARTIAL_SECONDS * 100), int(PARTIAL_HOP_SECONDS * 100)
    if len(mel) < width:
        mel = np.pad(mel, ((0, width - len(mel)), (0, 0)))
    firsts = np.arange(0, len(mel) - width + 1, hop)
    pieces = []
    with torch.inference_mode():
        for start in range(0, len(firsts), batch_size):
            batch = np.stack([mel[first: first + width] for first in firsts[start: start + batch_size]])
            pieces.append(encoder(torch.from_numpy(batch).to(encoder.device)).cpu().numpy())
    return Partials(np.concatenate(pieces).astype(np.float32), firsts / 100.0)


def dominant_centroid(embeddings: np.ndarray, keep: float = 0.6, rounds: int = 4) -> np.ndarray:
    """The main speaker's centroid: the mean of the embeddings, refined by keeping the closest 60 % each round.

    A second speaker holding less than half the speech ends up outside the kept set after the first round.
    """
    centroid = embeddings.mean(axis=0)
    for _ in range(rounds):
        centroid /= np.linalg.norm(centroid) + 1e-9
        similarity = embeddings @ centroid
        kept = embeddings[similarity >= np.quantile(similarity, 1 - keep)]
        centroid = kept.mean(axis=0)
    return (centroid / (np.linalg.norm(centroid) + 1e-9)).astype(np.float32)


def spectral_features(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Spectral statistics of speech: RMS, zero crossings, centroid, bandwidth, roll-off, flatness (mean and
    spread) and 13 MFCC means and spreads -> (40,) float64."""
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
    """1 minus the mean relative difference of the statistics, floored at 0.01 (KVoiceWalk's feature penalty)."""
    relative = np.abs(features - target) / (np.abs(target) + 1e-6)
    return float(max(0.01, 1.0 - np.mean(np.minimum(relative, 10.0))))


def clone_score(target_similarity: float, self_similarity: float, feature_sim: float) -> float:
    """KVoiceWalk's score: the weighted harmonic mean of the three similarities (weights 0.48 / 0.5 / 0.02)."""
    values = {"target_similarity": target_similarity, "self_similarity": self_similarity,
              "feature_similarity": feature_sim}
    weights = sum(SCORE_WEIGHTS.values())
    return float(weights / sum(SCORE_WEIGHTS[key] / max(value, 1e-6) for key, value in values.items()))
