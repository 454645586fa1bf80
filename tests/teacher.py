"""A planted teacher: tokens that are a known function of the audio at 49.9 Hz, for the learnability test.

The 'teacher' is k-means over the features a fixed random network (the tiny HuBERT) gives at each token's time.
A quantizer can only learn it if it reads each token's frame by time, as make-speaker does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch

from bark_clone.models.codecs import load_hubert
from bark_clone.training.features import clip_features
from quantizer.models import token_frame_indices

N_CLUSTERS = 16


def synthetic_audio(n_samples: int, rng: np.random.Generator, rate: int = 24_000) -> np.ndarray:
    """Sound that changes every 20-60 ms (harmonic, noisy or tonal), so neighbouring frames differ."""
    out = np.zeros(n_samples, np.float32)
    position = 0
    while position < n_samples:
        length = int(rng.uniform(0.02, 0.06) * rate)
        time = np.arange(length) / rate
        kind = rng.integers(3)
        if kind == 0:
            pitch = rng.uniform(80, 300)
            segment = sum(np.sin(2 * np.pi * pitch * k * time + rng.uniform(0, 6)) * rng.uniform(0, 1) / k
                          for k in range(1, 10))
        elif kind == 1:
            segment = np.convolve(rng.standard_normal(length) * rng.uniform(0.1, 1),
                                  np.ones(int(rng.integers(1, 20))) / 10, mode="same")
        else:
            segment = np.sin(2 * np.pi * rng.uniform(500, 4000) * time)
        out[position: position + length] = (0.3 * segment * np.hanning(length))[: n_samples - position]
        position += length
    return out


def write_teacher_dataset(folder: Path, hubert_folder: Path, n_clips: int = 32, seed: int = 0) -> dict:
    """Write ``{n}.wav`` + ``{n}_semantic.npy`` (bark-data-gen layout) whose tokens the teacher planted.

    Each clip has 400-600 tokens (8-12 s): past 5 s, index alignment reads the wrong frame.
    Returns the majority-class frequency (the accuracy of always guessing the commonest token).
    """
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    hubert = load_hubert(str(hubert_folder), torch.device("cpu"))
    clips = []
    for _ in range(n_clips):
        n_tokens = int(rng.integers(400, 600))
        n_frames = int(np.floor(n_tokens * 75 / 49.9))  # Bark's own coarse length for n_tokens
        audio = synthetic_audio(n_frames * 320, rng)
        features = clip_features(hubert, audio, 24_000).astype(np.float32)
        clips.append((audio, features[token_frame_indices(n_tokens, len(features), 49.9, 50)]))
    kmeans = KMeans(N_CLUSTERS, n_init=2, random_state=seed).fit(np.concatenate([f for _, f in clips]))
    token_of_cluster = rng.permutation(10_000)[:N_CLUSTERS]
    labels = []
    for index, (audio, at_tokens) in enumerate(clips):
        tokens = token_of_cluster[kmeans.predict(at_tokens)].astype(np.int64)
        soundfile.write(folder / f"{index}.wav", audio, 24_000)
        np.save(folder / f"{index}_semantic.npy", tokens)
        labels.append(tokens)
    labels = np.concatenate(labels)
    return {"majority": float(np.bincount(labels).max() / len(labels))}
