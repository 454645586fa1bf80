"""The losses of Bark's two acoustic models, computed by us (transformers' Bark refuses labels): token NLL and top-1
over exactly the codes each generation loop samples from (the coarse model: the codebook of the step; the fine
model: 1024 codes), at exactly the positions it writes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bark.layouts import COARSE_SEMANTIC_PAD, CoarseWindow, FineWindow
from ..constants import CODEBOOK_SIZE, N_COARSE_CODEBOOKS, N_FINE_CODEBOOKS, SEMANTIC_VOCAB_SIZE


@dataclass
class Tally:
    """Summed NLL (nats), tokens and correct top-1 guesses; a loss tensor for the backward pass when training."""

    nll: float = 0.0
    tokens: int = 0
    correct: int = 0

    def add(self, other: Tally) -> None:
        self.nll, self.tokens, self.correct = self.nll + other.nll, self.tokens + other.tokens, \
            self.correct + other.correct

    def summary(self) -> dict[str, float]:
        return {"nll": round(self.nll / max(self.tokens, 1), 4), "top1": round(self.correct / max(self.tokens, 1), 4)}


def _scored(logits, targets):
    """(loss sum tensor, Tally) of (N, 1024) logits against (N,) targets in 0..1023."""
    import torch

    log_probabilities = torch.log_softmax(logits.float(), dim=-1)
    picked = log_probabilities.gather(1, targets[:, None])[:, 0]
    loss = -picked.sum()
    correct = int((log_probabilities.argmax(dim=-1) == targets).sum())
    return loss, Tally(float(loss.detach()), int(targets.numel()), correct)


def coarse_loss(model, windows: list[CoarseWindow], device):
    """One batch of coarse windows: each prefill followed by its targets (teacher forcing), right-padded (the model
    is causal, so padding changes nothing before it); step j of a window picks among codebook j % 2's codes."""
    import torch

    length = max(len(window.input_ids) + len(window.targets) for window in windows)
    sequences = np.full((len(windows), length), COARSE_SEMANTIC_PAD, dtype=np.int64)
    rows, columns, targets = [], [], []
    for row, window in enumerate(windows):
        n_input = len(window.input_ids)
        sequences[row, :n_input] = window.input_ids
        sequences[row, n_input: n_input + len(window.targets)] = window.targets
        rows += [row] * len(window.targets)
        columns += range(n_input - 1, n_input - 1 + len(window.targets))
        targets += window.targets.tolist()
    logits = model(input_ids=torch.from_numpy(sequences[:, :-1]).to(device)).logits
    targets = torch.tensor(targets, device=device)
    codebook = torch.tensor([index % N_COARSE_CODEBOOKS for window in windows
                             for index in range(len(window.targets))], device=device)
    first = SEMANTIC_VOCAB_SIZE + CODEBOOK_SIZE * codebook
    selected = logits[torch.tensor(rows, device=device), torch.tensor(columns, device=device)]
    codes = selected.gather(1, first[:, None] + torch.arange(CODEBOOK_SIZE, device=device)[None])
    return _scored(codes, targets - first)


def fine_items(windows: list[FineWindow]) -> list[tuple[FineWindow, int]]:
    """Every (window, codebook) the fine loop predicts: codebooks 2..7 of each window."""
    return [(window, codebook) for window in windows for codebook in range(N_COARSE_CODEBOOKS, N_FINE_CODEBOOKS)]


def fine_loss(model, items: list[tuple[FineWindow, int]], device):
    """One batch of (fine window, codebook): the window as the loop shows it for that codebook, scored on the
    frames it writes (after ``fill_start``, before the padding)."""
    import torch

    total, tally = None, Tally()
    for codebook in sorted({codebook for _, codebook in items}):
        chosen = [window for window, index in items if index == codebook]
        inputs = torch.from_numpy(np.stack([window.inputs_for(codebook) for window in chosen])).to(device)
        logits = model(codebook, input_ids=inputs).logits[..., :CODEBOOK_SIZE]
        mask = np.zeros(inputs.shape[:2], dtype=bool)
        for row, window in enumerate(chosen):
            mask[row, window.fill_start: window.n_real] = True
        mask = torch.from_numpy(mask).to(device)
        targets = torch.from_numpy(np.stack([window.codes[:, codebook] for window in chosen])).to(device)
        loss, part = _scored(logits[mask], targets[mask])
        total = loss if total is None else total + loss
        tally.add(part)
    return total, tally
