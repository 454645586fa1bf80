"""How Bark picks its tokens, as a ``Sampling`` (``options``) says, for every row of a batch in one set of tensor
operations: transformers' order (temperature, top-k, top-p, softmax), then a draw by the inverse of each row's
cumulative distribution at a uniform number from that row's own random stream.

Each row's stream is counter-based: its uniform for a draw is a hash of (the row's seed, the stage, the draw's
counter, the element), so a row draws the same numbers whatever rows share its batch, at any batch size and
position, and a row may join a running batch at any step. torch has no batched per-row generator (one
``torch.Generator`` per row meant a Python loop over rows at every step), hence the hash, written here: a 32-bit
integer mix (xor-shift and multiply, kept below 2**63 in int64 so no product overflows), applied in turn to every
32-bit half of the key. The draws are not transformers' for the same seed (its ``torch.multinomial`` reads the global
generator); the distributions are, checked by a goodness-of-fit test (``tests/test_sampling.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..options import Sampling

MASK_32 = 0xFFFFFFFF
MIX = 0x45D9F3B  # the multiplier of a well-mixing 32-bit integer hash (below 2**27: x * MIX stays under 2**59)
STREAMS = {"semantic": 1, "coarse": 2, "fine": 3}  # each stage draws from its own part of a row's stream
SEED_BITS = 62  # seeds are taken modulo 2**62 (two 32-bit halves, the high one under 2**30)


def _mix(values):
    """A 32-bit integer hash of int64 ``values`` in [0, 2**32), element-wise."""
    values = ((values >> 16) ^ values) * MIX & MASK_32
    values = ((values >> 16) ^ values) * MIX & MASK_32
    return (values >> 16) ^ values


def uniforms(seeds, stream: int, counters):
    """One float64 uniform in (0, 1) per element of ``counters`` (int64, (B,) or (B, T), each below 2**62), for the
    rows of ``seeds`` ((B,) int64): a function of (seed, stream, counter) alone."""
    import torch

    seeds = seeds.reshape(seeds.shape + (1,) * (counters.dim() - 1))
    key = _mix(counters & MASK_32)
    key = _mix(key ^ (counters >> 32))
    key = _mix(key ^ stream)
    key = _mix(key ^ (seeds & MASK_32))
    key = _mix(key ^ (seeds >> 32))
    return (key.to(torch.float64) + 0.5) / 2.0 ** 32


@dataclass
class Draws:
    """Where each row's random numbers come from: ``seeds`` (B,) int64, one per row."""

    seeds: Any

    @classmethod
    def seeded(cls, seeds: list[int] | None, count: int, device) -> Draws:
        """Rows seeded as given, or (None) from torch's global generator: ``torch.manual_seed`` still decides."""
        import torch

        if seeds is None:
            return cls(torch.randint(0, 2 ** SEED_BITS, (count,), dtype=torch.int64).to(device))
        return cls(torch.tensor([int(seed) % 2 ** SEED_BITS for seed in seeds], dtype=torch.int64, device=device))

    def of(self, rows) -> Draws:
        """The draws of some rows (a list of indices or an index tensor)."""
        import torch

        return Draws(self.seeds[torch.as_tensor(rows, dtype=torch.long, device=self.seeds.device)])


def draw(probabilities, chances):
    """The index each row of ``probabilities`` (..., V) picks at its uniform ``chances`` (...): the first index whose
    cumulative probability reaches the chance times the total. A token of probability 0 is never picked."""
    import torch

    cumulative = probabilities.cumsum(dim=-1)  # float32: a token of probability 0 adds exactly nothing
    target = (chances.to(cumulative.dtype) * cumulative[..., -1])[..., None]
    return torch.searchsorted(cumulative, target).squeeze(-1).clamp_(max=probabilities.shape[-1] - 1)


def keep_nucleus(scores, top_p: float):
    """``scores`` with every token outside the nucleus at -inf: sorted from the least likely up, a token goes while
    the probability of it and all less likely ones is at most 1 - top_p; the likeliest token always stays."""
    import torch

    ordered, order = torch.sort(scores, dim=-1)
    below = torch.softmax(ordered, dim=-1).cumsum(dim=-1) <= 1 - top_p
    below[..., -1] = False
    return scores.masked_fill(torch.zeros_like(below).scatter(-1, order, below), float("-inf"))


def candidates(scores, sampling: Sampling, stage: str):
    """(..., V) float32 scores -> what transformers samples from, as (probabilities (..., C), their token ids
    (..., C) or None for all V in order): divided by the temperature, the ``top_k`` best kept (then only they are
    carried on: the same distribution over far fewer candidates), those outside the ``top_p`` nucleus removed,
    softmax. None: greedy."""
    import torch

    temperature = sampling.temperature(stage)
    if temperature is None:
        return None
    scores = scores / temperature
    ids = None
    if sampling.top_k is not None and sampling.top_k < scores.shape[-1] and stage != "fine":
        # unsorted (a quickselect: a third faster on 1024 scores), then in vocabulary order: the draw walks the
        # candidates in a fixed order, so logits that differ in the last bit between batches (other kernels, other
        # padding) move an interval's edge by that much, never reorder the intervals (as a sort by value would)
        scores, ids = torch.topk(scores, sampling.top_k, dim=-1, sorted=False)  # (the fine loop: the whole softmax)
        ids, order = ids.sort(dim=-1)
        scores = scores.gather(-1, order)
    if sampling.top_p is not None and sampling.top_p < 1 and stage != "fine":
        scores = keep_nucleus(scores, sampling.top_p)
    return torch.softmax(scores, dim=-1), ids


def pick(scores, sampling: Sampling, stage: str, draws: Draws, counters):
    """Every row's token from (B, V) (or every frame's, (B, T, V)) float32 scores: the argmax when greedy, else a
    draw from each row's stream at ``counters`` ((B,) or (B, T) int64: the draw's number in the row's stream)."""
    import torch

    chosen = candidates(scores, sampling, stage)
    if chosen is None:
        return scores.argmax(dim=-1)
    distribution, ids = chosen
    picked = draw(distribution, uniforms(draws.seeds, STREAMS[stage], counters))
    return picked if ids is None else torch.gather(ids, -1, picked[..., None])[..., 0]
