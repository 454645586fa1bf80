"""Bark's three generation loops over rows that each carry their own voice: per-row histories, windows and lengths,
batched on the engine (``engine.py``). They follow transformers' ``BarkSemanticModel`` / ``BarkCoarseModel`` /
``BarkFineModel.generate`` (suno's generation.py) step for step, so a row alone samples what transformers samples
for the same seed, and a row in a batch of other voices is what it is alone (its own windows and masks).

Differences, on purpose: the coarse model picks among its step's codebook codes only (suno's rule; transformers
leaves 48 special ids open on odd steps), and a row's fine windows read its own coarse codes only (transformers
pads every row to the batch's longest, so a short row's last window read another row's length of junk)."""

from __future__ import annotations

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
from .sampling import Draws, Sampling, fine_pick, pick

SEMANTIC_PAD = SEMANTIC_VOCAB_SIZE  # end of speech, and the semantic history's padding
MAX_SEMANTIC_INPUT = BARK_SEMANTIC_HISTORY  # the text model reads this many history tokens (and text ids)


def semantic_stage(stage, text_ids, histories: list[np.ndarray | None], config, sampling: Sampling, draws: Draws):
    """Text ids (B, 256: the tokenizer's ids + offset, padding already ``text_pad_token``) and each row's semantic
    history -> (B, N) tokens (at most the checkpoint's ``max_new_tokens``), each row ``SEMANTIC_PAD`` from its end
    of speech on."""
    import torch

    batch, device = text_ids.shape[0], text_ids.device
    history = torch.full((batch, MAX_SEMANTIC_INPUT), SEMANTIC_PAD, dtype=torch.long, device=device)
    for row, tokens in enumerate(histories):
        if tokens is not None and len(tokens):
            tail = torch.as_tensor(np.asarray(tokens[-MAX_SEMANTIC_INPUT:], dtype=np.int64), device=device)
            history[row, : len(tail)] = tail
    infer = torch.full((batch, 1), config.semantic_infer_token, dtype=torch.long, device=device)
    embeds = torch.cat([stage.embed(text_ids[:, :MAX_SEMANTIC_INPUT]) + stage.embed(history), stage.embed(infer)], 1)
    prefill = embeds.shape[1]
    most = int(config.max_new_tokens)
    capacity = prefill + most
    stage.start(batch, capacity)
    valid = torch.ones((batch, capacity), dtype=torch.bool, device=device)
    logits = stage.step(embeds, torch.arange(prefill, device=device)[None].expand(batch, -1), 0, valid)
    allowed = torch.zeros(logits.shape[-1], dtype=torch.bool, device=device)
    allowed[: SEMANTIC_PAD + 1] = True  # the semantic vocabulary and end of speech
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    tokens = []
    for step in range(most):
        scores = logits.float().masked_fill(~allowed, float("-inf"))
        if sampling.min_eos_p is not None:  # BarkEosPrioritizerLogitsProcessor: end once it is likely enough
            ending = torch.softmax(scores, dim=-1)[:, SEMANTIC_PAD] > sampling.min_eos_p
            only_end = torch.full_like(scores, float("-inf"))
            only_end[:, SEMANTIC_PAD] = scores[:, SEMANTIC_PAD]
            scores = torch.where(ending[:, None], only_end, scores)
        chosen = pick(scores, sampling, "semantic", draws.generators)
        chosen = chosen.masked_fill(finished, SEMANTIC_PAD)
        tokens.append(chosen)
        finished |= chosen == SEMANTIC_PAD
        if bool(finished.all()) or step + 1 == most:
            break
        position = torch.full((batch, 1), prefill + step, dtype=torch.long, device=device)
        logits = stage.step(stage.embed(chosen[:, None]), position, prefill + step, valid)
    return torch.stack(tokens, dim=1)


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


def coarse_stage(stage, rows: list[CoarseRow], sampling: Sampling, draws: Draws, device) -> list[np.ndarray]:
    """Every row's coarse codes, (2, T) in 0..1023: windows of 60 tokens, each row's own prefill left-padded to the
    batch's longest, rows leaving the batch once they have written what they need."""
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
        stage.start(batch, longest + new)
        logits = stage.step(stage.embed(ids), positions, 0, valid)
        written = []
        for step in range(new):
            first = SEMANTIC_VOCAB_SIZE + CODEBOOK_SIZE * (step % N_COARSE_CODEBOOKS)
            scores = torch.full_like(logits, float("-inf"), dtype=torch.float32)
            scores[:, first: first + CODEBOOK_SIZE] = logits[:, first: first + CODEBOOK_SIZE].float()
            chosen = pick(scores, sampling, "coarse", draws.of(indices))
            written.append(chosen)
            if step + 1 < new:
                logits = stage.step(stage.embed(chosen[:, None]), positions[:, -1:] + step + 1, longest + step, valid)
        written = torch.stack(written, dim=1).cpu().numpy()
        for index, row in enumerate(active):
            row.coarse += written[index, : row.wanted - row.written].tolist()
    return [((np.asarray(row.coarse[row.history:], dtype=np.int64).reshape(-1, N_COARSE_CODEBOOKS).T
              - SEMANTIC_VOCAB_SIZE) % CODEBOOK_SIZE) for row in rows]


def fine_stage(stage, coarse: list[np.ndarray], histories: list[np.ndarray | None], sampling: Sampling,
               draws: Draws, device) -> list[np.ndarray]:
    """Every row's (8, T) codes: its fine history (at most 512 frames), its coarse codes and the six codebooks above
    them filled window by window (1024 frames, 512 new a window after the first); rows batched by window."""
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
    for loop in range(max(len(plan[2]) for plan in plans)):
        active = [index for index, plan in enumerate(plans) if loop < len(plan[2])]
        starts = [plans[index][2][loop][0] for index in active]
        fills = [plans[index][2][loop][1] for index in active]
        window = torch.from_numpy(np.stack([buffers[index][start: start + FINE_WINDOW]
                                            for index, start in zip(active, starts)])).to(device)
        for codebook in range(N_COARSE_CODEBOOKS, N_FINE_CODEBOOKS):
            logits = stage.logits(codebook, window)[:, :, :CODEBOOK_SIZE].float()
            generators = draws.of(active) or [None] * len(active)
            for row, (start, fill) in enumerate(zip(starts, fills)):
                relative = fill - start
                window[row, relative:, codebook] = fine_pick(logits[row], relative, sampling, generators[row])
        window = window.cpu().numpy()
        for row, (index, start, fill) in enumerate(zip(active, starts, fills)):
            buffers[index][fill: start + FINE_WINDOW, N_COARSE_CODEBOOKS:] = window[row, fill - start:,
                                                                                    N_COARSE_CODEBOOKS:]
    return [buffer[n_past: n_past + frames].T.copy() for buffer, (n_past, frames, _) in zip(buffers, plans)]
