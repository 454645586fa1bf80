"""How Bark picks its tokens, as a ``Sampling`` (``options``) says, passed whole from a request to the generation
loops: the pick itself (transformers' order: temperature, top-k,
top-p, then a multinomial draw from the row's own generator)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..options import Sampling


@dataclass
class Draws:
    """Where each row's random numbers come from: one torch.Generator per row, seeded with the row's seed, so a row
    draws the same numbers in any batch (None: the global generator, one call for the batch)."""

    generators: list | None = None

    def of(self, rows: list[int]) -> list | None:
        return None if self.generators is None else [self.generators[row] for row in rows]


def draw(probabilities, generators: list | None):
    """One index per row of (B, V) probabilities: with ``generators``, each row from its own."""
    import torch

    if generators is None:
        return torch.multinomial(probabilities, num_samples=1)[:, 0]
    return torch.cat([torch.multinomial(probabilities[row: row + 1], num_samples=1, generator=generator)[:, 0]
                      for row, generator in enumerate(generators)])


def keep_nucleus(scores, top_p: float):
    """``scores`` with every token outside the nucleus at -inf: sorted from the least likely up, a token goes while
    the probability of it and all less likely ones is at most 1 - top_p; the likeliest token always stays."""
    import torch

    ordered, order = torch.sort(scores, dim=-1)
    below = torch.softmax(ordered, dim=-1).cumsum(dim=-1) <= 1 - top_p
    below[..., -1] = False
    return scores.masked_fill(torch.zeros_like(below).scatter(-1, order, below), float("-inf"))


def pick(scores, sampling: Sampling, stage: str, generators: list | None = None):
    """Sample (or, greedy, take the argmax of) each row of (B, V) float32 scores, as transformers does: scores
    divided by the temperature, all but the ``top_k`` best removed, then all outside the ``top_p`` nucleus,
    softmax over the whole vocabulary, a multinomial draw."""
    import torch

    temperature = sampling.temperature(stage)
    if temperature is None:
        return scores.argmax(dim=-1)
    if temperature != 1.0:
        scores = scores / temperature
    if sampling.top_k is not None:
        kth = torch.topk(scores, min(sampling.top_k, scores.shape[-1]), dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if sampling.top_p is not None and sampling.top_p < 1:
        scores = keep_nucleus(scores, sampling.top_p)
    return draw(torch.softmax(scores, dim=-1), generators)


def fine_pick(logits, relative: int, sampling: Sampling, generator=None) -> Any:
    """One row's fine codes for the frames after ``relative``: softmax over the whole window then sliced, as
    transformers does (the slice's rows are each a full softmax, so slicing first would be equal)."""
    import torch

    temperature = sampling.temperature("fine")
    if temperature is None:
        return logits[relative:].argmax(dim=-1)
    probabilities = torch.softmax(logits / temperature, dim=-1)[relative:]
    return torch.multinomial(probabilities, num_samples=1, generator=generator)[:, 0]
