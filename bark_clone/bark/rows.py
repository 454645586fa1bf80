"""Bark's three generation loops over rows that each carry their own voice: per-row histories, windows and lengths,
batched on the engine (``engine.py``). They follow transformers' ``BarkSemanticModel`` / ``BarkCoarseModel`` /
``BarkFineModel.generate`` (suno's generation.py) step for step, so a row alone samples what transformers samples
for the same seed, and a row in a batch of other voices is what it is alone (its own windows and masks).

Differences, on purpose: the coarse model picks among its step's codebook codes only (suno's rule; transformers
leaves 48 special ids open on odd steps), and a row's fine windows read its own coarse codes only (transformers
pads every row to the batch's longest, so a short row's last window read another row's length of junk)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..constants import BARK_SEMANTIC_HISTORY, CODEBOOK_SIZE, N_COARSE_CODEBOOKS, N_FINE_CODEBOOKS, SEMANTIC_VOCAB_SIZE
from .layouts import (
    COARSE_INFER_TOKEN,
    COARSE_SEMANTIC_PAD,
    FINE_HISTORY,
    FINE_PAD,
    FINE_WINDOW,
    MAX_COARSE_HISTORY,
    MAX_COARSE_INPUT,
    MAX_SEMANTIC_HISTORY,
    SEMANTIC_TO_COARSE,
    SLIDING_WINDOW,
    coarse_histories,
    fine_passes,
    flatten_coarse,
    generated_length,
)
from .sampling import Draws, Sampling, pick

SEMANTIC_PAD = SEMANTIC_VOCAB_SIZE  # end of speech, and the semantic history's padding
MAX_SEMANTIC_INPUT = BARK_SEMANTIC_HISTORY  # the text model reads this many history tokens (and text ids)
FINE_TILE_ROWS = 1024  # the fine heads and their sampling run on tiles of this many (row, frame) pairs: a whole
# batch's window at once is tens of MB per tensor, past the caches (measured: 8 rows at once took 15x one row's time)
FRAME_BITS = 24  # a fine draw's counter: (pass, codebook) above a frame number below 2**24 (62 hours of audio)


def semantic_stage(stage, text_ids, histories: list[np.ndarray | None], config, sampling: Sampling, draws: Draws,
                   budgets: list[int] | None = None):
    """Text ids (B, 256: the tokenizer's ids + offset, padding already ``text_pad_token``) and each row's semantic
    history -> ((B, N) tokens, each row ``SEMANTIC_PAD`` from its end on; (B,) bool: the row ended its speech itself).
    A row stops at its end of speech or after its ``budgets`` tokens (default, and at most: the checkpoint's
    ``max_new_tokens``); every step samples all rows at once."""
    import torch

    batch, device = text_ids.shape[0], text_ids.device
    history = torch.full((batch, MAX_SEMANTIC_INPUT), SEMANTIC_PAD, dtype=torch.long, device=device)
    for row, tokens in enumerate(histories):
        if tokens is not None and len(tokens):
            tail = torch.as_tensor(np.asarray(tokens[-MAX_SEMANTIC_INPUT:], dtype=np.int64), device=device)
            history[row, : len(tail)] = tail
    infer = torch.full((batch, 1), config.semantic_infer_token, dtype=torch.long, device=device)
    embeds = torch.cat([stage.embed(text_ids[:, :MAX_SEMANTIC_INPUT]) + stage.embed(history), stage.embed(infer)], 1)
    prefill, limit = embeds.shape[1], int(config.max_new_tokens)
    budget = torch.tensor([min(int(value), limit) for value in (budgets or [limit] * batch)], device=device)
    most = max(int(budget.max()), 1)
    stage.start(batch, prefill + most)
    valid = torch.ones((batch, prefill + most), dtype=torch.bool, device=device)
    allowed = slice(0, SEMANTIC_PAD + 1)  # the semantic vocabulary and end of speech: the rest is never picked
    logits = stage.step(embeds, torch.arange(prefill, device=device)[None].expand(batch, -1), 0, valid,
                        vocabulary=allowed)
    finished = budget <= 0
    ended = torch.zeros(batch, dtype=torch.bool, device=device)
    tokens = []
    for step in range(most):
        scores = logits.float()
        if sampling.min_eos_p is not None:  # BarkEosPrioritizerLogitsProcessor: end once it is likely enough
            ending = scores[:, SEMANTIC_PAD] - torch.logsumexp(scores, dim=-1) > math.log(sampling.min_eos_p)
            only_end = torch.full_like(scores, float("-inf"))
            only_end[:, SEMANTIC_PAD] = scores[:, SEMANTIC_PAD]
            scores = torch.where(ending[:, None], only_end, scores)
        chosen = pick(scores, sampling, "semantic", draws, torch.full((batch,), step, device=device))
        chosen = chosen.masked_fill(finished, SEMANTIC_PAD)
        tokens.append(chosen)
        ended |= (chosen == SEMANTIC_PAD) & ~finished
        finished |= (chosen == SEMANTIC_PAD) | (budget <= step + 1)
        if bool(finished.all()):
            break
        position = torch.full((batch, 1), prefill + step, dtype=torch.long, device=device)
        logits = stage.step(stage.embed(chosen[:, None]), position, prefill + step, valid, vocabulary=allowed)
    return torch.stack(tokens, dim=1), ended


@dataclass
class CoarseRow:
    """One row of the coarse loop: its semantic tokens after its history's, its flattened coarse tokens (history,
    then what it wrote), and how many it must write."""

    semantic: np.ndarray
    base: int  # semantic history tokens before the row's own
    coarse: list[int]
    history: int  # flattened coarse history tokens
    wanted: int

    @property
    def written(self) -> int:
        return len(self.coarse) - self.history

    def window(self) -> np.ndarray:
        """The next prefill: 256 semantic tokens (padded), the infer token, at most 630 coarse tokens."""
        index = self.base + int(round(self.written / SEMANTIC_TO_COARSE))
        semantic = self.semantic[max(0, index - MAX_SEMANTIC_HISTORY):][:MAX_COARSE_INPUT]
        semantic = np.pad(semantic, (0, MAX_COARSE_INPUT - len(semantic)), constant_values=COARSE_SEMANTIC_PAD)
        return np.concatenate([semantic, [COARSE_INFER_TOKEN], self.coarse[-MAX_COARSE_HISTORY:]]).astype(np.int64)


def coarse_row(semantic: np.ndarray, prompt: dict[str, np.ndarray] | None) -> CoarseRow:
    """A row's start, with the prompt's histories trimmed exactly as ``BarkCoarseModel.preprocess_histories``."""
    wanted = generated_length(len(semantic))
    semantic = np.asarray(semantic, dtype=np.int64)
    if prompt is None:
        return CoarseRow(semantic, 0, [], 0, wanted)
    history_semantic, history_coarse = coarse_histories(np.asarray(prompt["semantic_prompt"], dtype=np.int64),
                                                        flatten_coarse(prompt["coarse_prompt"]))
    return CoarseRow(np.concatenate([history_semantic, semantic]), len(history_semantic), history_coarse.tolist(),
                     len(history_coarse), wanted)


def coarse_stage(stage, rows: list[CoarseRow], sampling: Sampling, draws: Draws, device,
                 lora=None) -> list[np.ndarray]:
    """Every row's coarse codes, (2, T) in 0..1023: windows of 60 tokens, each row's own prefill left-padded to the
    batch's longest, rows leaving the batch once they have written what they need; ``lora`` (a ``BatchLoRA`` of
    the rows) adds each row's adapters. A row's n-th written token is draw n of its stream."""
    import torch

    while True:
        indices = [index for index, row in enumerate(rows) if row.written < row.wanted]
        if not indices:
            break
        active = [rows[index] for index in indices]
        windows = [row.window() for row in active]
        longest, batch = max(len(window) for window in windows), len(active)
        ids = torch.full((batch, longest), COARSE_SEMANTIC_PAD, dtype=torch.long)
        positions = torch.zeros((batch, longest), dtype=torch.long)
        for index, window in enumerate(windows):
            ids[index, longest - len(window):] = torch.from_numpy(window)
            positions[index, longest - len(window):] = torch.arange(len(window))
        new = min(SLIDING_WINDOW, max(row.wanted - row.written for row in active))
        valid = torch.zeros((batch, longest + new), dtype=torch.bool)
        valid[:, longest:] = True
        for index, window in enumerate(windows):
            valid[index, longest - len(window): longest] = True
        ids, positions, valid = ids.to(device), positions.to(device), valid.to(device)
        counters = torch.tensor([row.written for row in active], dtype=torch.long, device=device)
        window_draws = draws.of(indices)
        stage.lora = None if lora is None else lora.select(indices)
        stage.start(batch, longest + new)
        logits = stage.step(stage.embed(ids), positions, 0, valid, vocabulary=codebook_codes(0))
        written = []
        for step in range(new):
            chosen = pick(logits.float(), sampling, "coarse", window_draws, counters + step) + codebook_codes(step).start
            written.append(chosen)
            if step + 1 < new:
                logits = stage.step(stage.embed(chosen[:, None]), positions[:, -1:] + step + 1, longest + step, valid,
                                    vocabulary=codebook_codes(step + 1))
        written = torch.stack(written, dim=1).cpu().numpy()
        for index, row in enumerate(active):
            row.coarse += written[index, : row.wanted - row.written].tolist()
    return [((np.asarray(row.coarse[row.history:], dtype=np.int64).reshape(-1, N_COARSE_CODEBOOKS).T
              - SEMANTIC_VOCAB_SIZE) % CODEBOOK_SIZE) for row in rows]


def codebook_codes(step: int) -> slice:
    """The coarse model's ids of the codebook that step ``step`` of a window writes (they alternate): suno's rule that
    it picks among them alone (top-k among the 1024, softmax over them: the same as -inf everywhere else)."""
    first = SEMANTIC_VOCAB_SIZE + CODEBOOK_SIZE * (step % N_COARSE_CODEBOOKS)
    return slice(first, first + CODEBOOK_SIZE)


def fine_stage(stage, coarse: list[np.ndarray], histories: list[np.ndarray | None], sampling: Sampling,
               draws: Draws, device, lora=None) -> list[np.ndarray]:
    """Every row's (8, T) codes: its fine history (at most 512 frames), its coarse codes and the six codebooks above
    them filled window by window (1024 frames, 512 new a window after the first); rows batched by window, every
    codebook of a window sampled for all rows at once (a row keeps the frames before its fill point)."""
    import torch

    buffers, plans = [], []
    for codes, history in zip(coarse, histories):
        frames = codes.shape[1]
        start = np.full((max(frames, 0), N_FINE_CODEBOOKS), FINE_PAD, dtype=np.int64)
        start[:, :N_COARSE_CODEBOOKS] = codes.T
        past = np.asarray(history, dtype=np.int64).T[-FINE_HISTORY:] if history is not None else start[:0]
        buffer = np.concatenate([past, start])
        padding = max(FINE_WINDOW - len(buffer), 0)
        buffer = np.concatenate([buffer, np.full((padding, N_FINE_CODEBOOKS), FINE_PAD, dtype=np.int64)])
        buffers.append(buffer)
        plans.append((len(past), frames, fine_passes(len(past), frames, len(buffer))))
    frame, codes = torch.arange(FINE_WINDOW, device=device), slice(0, CODEBOOK_SIZE)
    for loop in range(max(len(plan[2]) for plan in plans)):
        active = [index for index, plan in enumerate(plans) if loop < len(plan[2])]
        starts = [plans[index][2][loop][0] for index in active]
        fills = [plans[index][2][loop][1] for index in active]
        window = torch.from_numpy(np.stack([buffers[index][start: start + FINE_WINDOW]
                                            for index, start in zip(active, starts)])).to(device)
        start_at = torch.tensor(starts, dtype=torch.long, device=device)
        kept = frame[None] < (torch.tensor(fills, dtype=torch.long, device=device) - start_at)[:, None]
        window_draws = draws.of(active)
        stage.lora = None if lora is None else lora.select(active)
        tile = max(1, FINE_TILE_ROWS // len(active))
        for codebook in range(N_COARSE_CODEBOOKS, N_FINE_CODEBOOKS):
            hidden = stage.hidden(codebook, window)
            counters = ((loop * N_FINE_CODEBOOKS + codebook) << FRAME_BITS) + start_at[:, None] + frame[None]
            chosen = torch.cat([pick(stage.head(codebook, hidden[:, first: first + tile], codes).float(), sampling,
                                     "fine", window_draws, counters[:, first: first + tile])
                                for first in range(0, FINE_WINDOW, tile)], dim=1)
            window[:, :, codebook] = torch.where(kept, window[:, :, codebook], chosen)
        window = window.cpu().numpy()
        for row, (index, start, fill) in enumerate(zip(active, starts, fills)):
            buffers[index][fill: start + FINE_WINDOW, N_COARSE_CODEBOOKS:] = window[row, fill - start:,
                                                                                    N_COARSE_CODEBOOKS:]
    return [buffer[n_past: n_past + frames].T.copy() for buffer, (n_past, frames, _) in zip(buffers, plans)]
