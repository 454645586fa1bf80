"""Training data for quantizers: clips of (features, tokens), the held-out split, alignment and padded batches."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch

from .models import token_frame_indices

IGNORE_INDEX = -100  # padded token positions


@dataclass
class Clip:
    """One utterance: ``features`` (T, D) float16 at the feature rate, ``tokens`` (N,) int64 at the token rate."""

    id: str
    features: np.ndarray
    tokens: np.ndarray


def is_held_out(clip_id: str, fraction: float) -> bool:
    """A clip's split depends only on its id, so training, resuming and evaluation always agree."""
    return zlib.crc32(clip_id.encode("utf-8")) % 10_000 < round(fraction * 10_000)


def split_clips(clips: list[Clip], fraction: float) -> tuple[list[Clip], list[Clip]]:
    """(train, held_out); if the hash puts nothing aside in a small set, the last clip is held out."""
    held = [clip for clip in clips if is_held_out(clip.id, fraction)]
    train = [clip for clip in clips if not is_held_out(clip.id, fraction)]
    if fraction > 0 and not held and len(train) > 1:
        held, train = train[-1:], train[:-1]
    return train, held


def frame_indices(clip: Clip, token_rate_hz: float, frame_rate_hz: float, alignment: str = "time") -> np.ndarray:
    """The feature frame each token is read from: (N,) int64.

    ``time`` (ours): token i covers [i / 49.9, (i + 1) / 49.9) s and reads the 50 Hz frame holding its centre.
    ``index``: the published trainer's way: frames and tokens paired by position after dropping the surplus
    tokens from the front, which misaligns every clip. Kept only to measure how much that costs.
    """
    n_tokens, n_frames = len(clip.tokens), len(clip.features)
    if alignment == "time":
        return token_frame_indices(n_tokens, n_frames, token_rate_hz, frame_rate_hz)
    if alignment == "index":
        surplus = max(0, n_tokens - n_frames)
        indices = np.full(n_tokens, -1, dtype=np.int64)  # -1: the token is dropped
        indices[surplus:] = np.arange(n_tokens - surplus)
        return indices
    raise ValueError(f"unknown alignment {alignment!r}")


@dataclass
class Batch:
    """Padded tensors for one step.

    ``features`` (B, T, D) float32, ``lengths`` (B,) frames, ``frames`` (B, N) int64 frame index per token
    (0 where padded), ``tokens`` (B, N) int64 with ``IGNORE_INDEX`` where padded or dropped.
    """

    features: torch.Tensor
    lengths: torch.Tensor
    frames: torch.Tensor
    tokens: torch.Tensor

    def to(self, device) -> Batch:
        non_blocking = torch.device(device).type == "cuda"
        return Batch(*(tensor.to(device, non_blocking=non_blocking) for tensor in
                       (self.features, self.lengths, self.frames, self.tokens)))


def collate(clips: list[Clip], token_rate_hz: float, frame_rate_hz: float, alignment: str = "time") -> Batch:
    """Pad a list of clips into one ``Batch``."""
    max_frames = max(len(clip.features) for clip in clips)
    max_tokens = max(len(clip.tokens) for clip in clips)
    dim = clips[0].features.shape[1]
    features = np.zeros((len(clips), max_frames, dim), dtype=np.float32)
    frames = np.zeros((len(clips), max_tokens), dtype=np.int64)
    tokens = np.full((len(clips), max_tokens), IGNORE_INDEX, dtype=np.int64)
    for row, clip in enumerate(clips):
        features[row, : len(clip.features)] = clip.features
        indices = frame_indices(clip, token_rate_hz, frame_rate_hz, alignment)
        kept = indices >= 0
        frames[row, : len(indices)] = np.where(kept, indices, 0)
        tokens[row, : len(indices)] = np.where(kept, clip.tokens, IGNORE_INDEX)
    lengths = torch.tensor([len(clip.features) for clip in clips], dtype=torch.long)
    return Batch(torch.from_numpy(features), lengths, torch.from_numpy(frames), torch.from_numpy(tokens))


def epoch_batches(clips: list[Clip], batch_size: int, seed: int, epoch: int) -> list[list[Clip]]:
    """Shuffled mini-batches of similar lengths (little padding), reproducible from (seed, epoch) alone."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(clips))
    pool = batch_size * 32
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda index: len(clips[index].features))
        batches.extend([clips[index] for index in chunk[i : i + batch_size]]
                       for i in range(0, len(chunk), batch_size))
    return [batches[index] for index in rng.permutation(len(batches))]


def gather_logits(logits: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """(B, T, V) per-frame logits -> (B, N, V) logits at each token's frame."""
    return torch.gather(logits, 1, frames[..., None].expand(-1, -1, logits.shape[-1]))
