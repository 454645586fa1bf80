"""The batched sampler: each row's counter-based stream is uniform and independent of its batch, and a draw follows
the distribution transformers' Bark samples from (its own logits warpers: temperature, top-k, top-p), checked with
a chi-square goodness-of-fit test at several settings. This replaces the old per-row ``torch.Generator`` sampler's
token-for-token equality with transformers (which consumed the global generator as ``torch.multinomial`` does)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from bark_clone.bark.sampling import STREAMS, Draws, pick, uniforms
from bark_clone.options import Sampling

DRAWS = 40_000
P_FLOOR = 1e-4  # a true distribution fails this once in 10 000 runs; a wrong one (a missed warper) fails always


def transformers_distribution(scores: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None):
    """What transformers samples from for ``scores`` (V,): its own warpers in its own order, then softmax."""
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    warped = scores[None].clone()
    warpers = [TemperatureLogitsWarper(temperature)]
    warpers += [TopKLogitsWarper(top_k)] if top_k is not None else []
    warpers += [TopPLogitsWarper(top_p)] if top_p is not None else []
    for warper in warpers:
        warped = warper(None, warped)
    return torch.softmax(warped, dim=-1)[0].double().numpy()


def fits(counts: np.ndarray, expected: np.ndarray) -> float:
    """The chi-square test's p-value, tokens whose expected count is under 5 pooled into one cell; a token drawn
    where transformers gives it no probability fails at once."""
    assert counts[expected == 0].sum() == 0, "a token outside the distribution was drawn"
    expected_counts = expected * counts.sum()
    small = (expected_counts < 5) & (expected > 0)
    big = expected_counts >= 5
    observed = np.append(counts[big], counts[small].sum())
    wanted = np.append(expected_counts[big], expected_counts[small].sum())
    if wanted[-1] == 0:
        observed, wanted = observed[:-1], wanted[:-1]
    return float(stats.chisquare(observed, wanted * observed.sum() / wanted.sum()).pvalue)


@pytest.mark.parametrize("stage, sampling, vocabulary", [
    ("semantic", Sampling(), 10_001),  # temperature 0.7, top-k 50: Bark's defaults
    ("coarse", Sampling(top_p=0.9), 1024),
    ("semantic", Sampling(semantic_temperature=1.3, top_k=None, top_p=0.5), 2048),  # sorts every row: fewer tokens
    ("fine", Sampling(), 1024),  # temperature 0.5, whole vocabulary
])
def test_draws_follow_transformers_distribution(stage, sampling, vocabulary):
    scores = torch.randn(vocabulary, generator=torch.Generator().manual_seed(7)) * 3
    temperature = sampling.temperature(stage)
    top_k, top_p = (None, None) if stage == "fine" else (sampling.top_k, sampling.top_p)
    expected = transformers_distribution(scores, temperature, top_k, top_p)
    # many rows at once (one seed each, the same draw number), and one row's consecutive draws
    across_rows = pick(scores.expand(DRAWS, -1), sampling, stage, Draws.seeded(list(range(DRAWS)), DRAWS, "cpu"),
                       torch.full((DRAWS,), 3))
    along_a_row = torch.cat([pick(scores.expand(1000, -1), sampling, stage, Draws.seeded([5] * 1000, 1000, "cpu"),
                                  torch.arange(first, first + 1000)) for first in range(0, DRAWS, 1000)])
    for drawn in (across_rows, along_a_row):
        counts = np.bincount(drawn.numpy(), minlength=vocabulary)
        assert fits(counts, expected) > P_FLOOR
    wrong = transformers_distribution(scores, temperature * 1.5, top_k, top_p)  # the test can tell a wrong one
    assert fits(np.bincount(across_rows.numpy(), minlength=vocabulary), wrong) < P_FLOOR


def test_a_rows_stream_is_uniform_and_its_own():
    seeds = torch.tensor([0, 1, 2**40 + 1, 2**61 - 1])
    counters = torch.arange(50_000)[None].expand(4, -1)
    values = uniforms(seeds, STREAMS["coarse"], counters)
    assert values.dtype == torch.float64 and bool(((values > 0) & (values < 1)).all())
    for row in values.numpy():
        assert stats.kstest(row, "uniform").pvalue > P_FLOOR
    # rows, stages and neighbouring draws are uncorrelated
    assert abs(np.corrcoef(values[0].numpy(), values[1].numpy())[0, 1]) < 0.03
    other_stage = uniforms(seeds, STREAMS["fine"], counters)
    assert abs(np.corrcoef(values[0].numpy(), other_stage[0].numpy())[0, 1]) < 0.03
    assert abs(np.corrcoef(values[0, :-1].numpy(), values[0, 1:].numpy())[0, 1]) < 0.03
    # a row's numbers depend on its seed and counters alone: the same in any batch, at any position
    alone = uniforms(seeds[2:3], STREAMS["coarse"], counters[:1, 100:200])
    torch.testing.assert_close(alone[0], values[2, 100:200], rtol=0, atol=0)


def test_unseeded_rows_follow_torch_manual_seed():
    torch.manual_seed(3)
    first = Draws.seeded(None, 4, "cpu").seeds
    torch.manual_seed(3)
    assert torch.equal(first, Draws.seeded(None, 4, "cpu").seeds) and len(set(first.tolist())) == 4
