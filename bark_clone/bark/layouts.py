"""What Bark's two acoustic models read at inference, rebuilt from a recording's own streams: the training examples of
voice adapters. Each function mirrors one generation loop (transformers' ``BarkCoarseModel.generate`` and
``BarkFineModel.generate``, which follow suno's generation.py), with the recording's codes where the loop would have
its own samples, so an adapter learns exactly the task it then does."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..constants import (
    BARK_FINE_HISTORY_FRAMES,
    BARK_MAX_COARSE_HISTORY,
    BARK_SEMANTIC_HISTORY,
    CODEBOOK_SIZE,
    N_COARSE_CODEBOOKS,
    N_FINE_CODEBOOKS,
    SEMANTIC_TO_COARSE_RATIO,
    SEMANTIC_VOCAB_SIZE,
)
from ..prompting.format import coarse_history_lengths

# suno's settings, as transformers' Bark generation configs ship them (checked against them in the tests)
COARSE_SEMANTIC_PAD = 12_048  # fills the semantic window past the text's end
COARSE_INFER_TOKEN = 12_050  # separates the semantic window from the coarse history
MAX_COARSE_INPUT = BARK_SEMANTIC_HISTORY  # semantic tokens in a window (256)
MAX_COARSE_HISTORY = BARK_MAX_COARSE_HISTORY  # flattened coarse tokens of history in a window (630)
SLIDING_WINDOW = 60  # flattened coarse tokens generated per window
FINE_WINDOW = 1024  # frames the fine model reads at once
FINE_HISTORY = BARK_FINE_HISTORY_FRAMES  # frames of history it keeps (512)
FINE_PAD = CODEBOOK_SIZE  # "nothing here yet" in the fine model's input
SEMANTIC_TO_COARSE = SEMANTIC_TO_COARSE_RATIO  # flattened coarse tokens per semantic token (about 3.006)
MAX_SEMANTIC_HISTORY = math.floor(MAX_COARSE_HISTORY / SEMANTIC_TO_COARSE)  # 209


@dataclass(frozen=True)
class CoarseWindow:
    """One prefill of the coarse loop: ``input_ids`` (L,) int64 = the semantic window (256, padded), the infer token
    and the flattened coarse history; ``targets`` (n,) int64 = the flattened coarse tokens it should write next
    (even positions codebook 0, odd codebook 1, each offset into the coarse model's vocabulary)."""

    input_ids: np.ndarray
    targets: np.ndarray


@dataclass(frozen=True)
class FineWindow:
    """One pass of the fine loop: ``codes`` (1024, 8) int64, the window's frames with every codebook's true codes
    (``FINE_PAD`` after the last real frame); frames ``fill_start`` .. ``n_real`` - 1 are the ones it predicts."""

    codes: np.ndarray
    fill_start: int
    n_real: int

    def inputs_for(self, codebook: int) -> np.ndarray:
        """(1024, 8): what the fine model reads when it predicts ``codebook`` (2..7): the predicted frames hold
        nothing yet in that codebook and the ones above it."""
        inputs = self.codes.copy()
        inputs[self.fill_start:, codebook:] = FINE_PAD
        return inputs


def flatten_coarse(coarse_codes: np.ndarray) -> np.ndarray:
    """(2, T) codes in 0..1023 -> (2T,) the coarse model's tokens: frame by frame, codebook c offset by
    10000 + 1024c."""
    offsets = SEMANTIC_VOCAB_SIZE + CODEBOOK_SIZE * np.arange(N_COARSE_CODEBOOKS)[:, None]
    return (np.asarray(coarse_codes, dtype=np.int64) + offsets).T.reshape(-1)


def generated_length(n_semantic: int) -> int:
    """How many flattened coarse tokens Bark writes for ``n_semantic`` new semantic tokens."""
    return int(round(math.floor(n_semantic * SEMANTIC_TO_COARSE / N_COARSE_CODEBOOKS) * N_COARSE_CODEBOOKS))


def coarse_histories(semantic: np.ndarray, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bark's trim of a prompt: the semantic and flattened coarse history it keeps (coarse minus its last frame)."""
    if len(semantic) < 2 or len(flat) < N_COARSE_CODEBOOKS:  # too short to be a history (Bark would misread it)
        return semantic[:0], flat[:0]
    n_semantic, n_coarse = coarse_history_lengths(len(semantic), len(flat))
    return semantic[len(semantic) - n_semantic:], flat[len(flat) - n_coarse:][:-N_COARSE_CODEBOOKS]


def coarse_windows(semantic: np.ndarray, coarse_codes: np.ndarray, split_token: int,
                   split_frame: int) -> list[CoarseWindow]:
    """Every window of the coarse loop when it continues from this audio's first ``split_token`` semantic tokens
    and ``split_frame`` frames (the prompt; 0 and 0 for none) and says the rest of its semantic tokens, with the
    audio's own codes as what it should write. ``semantic`` (S,) int64 at 49.9 Hz, ``coarse_codes`` (2, T) at 75 Hz.

    The truth after a prompt starts one frame before the prompt's end: Bark drops the history's last frame ("for
    time alignment") and generates it again."""
    semantic = np.asarray(semantic, dtype=np.int64)
    flat = flatten_coarse(coarse_codes)
    semantic_history, coarse_history = coarse_histories(semantic[:split_token], flat[: 2 * split_frame])
    truth = flat[2 * split_frame - 2:] if len(coarse_history) or len(semantic_history) else flat[2 * split_frame:]
    semantic_all = np.concatenate([semantic_history, semantic[split_token:]])
    total_length = min(generated_length(len(semantic) - split_token), len(truth) - len(truth) % 2)
    windows, history, done = [], coarse_history, 0
    while done < total_length:
        index = len(semantic_history) + int(round(done / SEMANTIC_TO_COARSE))
        window = semantic_all[max(0, index - MAX_SEMANTIC_HISTORY):][:MAX_COARSE_INPUT]
        window = np.pad(window, (0, MAX_COARSE_INPUT - len(window)), constant_values=COARSE_SEMANTIC_PAD)
        targets = truth[done: done + min(SLIDING_WINDOW, total_length - done)]
        windows.append(CoarseWindow(np.concatenate([window, [COARSE_INFER_TOKEN], history[-MAX_COARSE_HISTORY:]]),
                                    targets))
        history, done = np.concatenate([history, targets]), done + len(targets)
    return windows


def fine_passes(n_history: int, n_new: int, total: int) -> list[tuple[int, int]]:
    """The fine loop's passes over a buffer of ``total`` frames (``n_history`` of history, ``n_new`` new, padded to
    at least a window): each pass's first frame and the first frame it writes (the generation loops and the
    adapters' examples both plan with this)."""
    count = max(0, math.ceil((n_new - (FINE_WINDOW - n_history)) / FINE_HISTORY)) + 1
    return [(min(index * FINE_HISTORY, total - FINE_WINDOW),
             min(n_history + index * FINE_HISTORY, total - FINE_HISTORY)) for index in range(count)]


def fine_windows(fine_codes: np.ndarray, split_frame: int) -> list[FineWindow]:
    """Every pass of the fine loop when it continues from this audio's first ``split_frame`` frames (the prompt's
    fine codes; 0 for none) over the rest, with the audio's own codes as what it should write. ``fine_codes``
    (8, T) int64 at 75 Hz.

    Passes after the first overlap frames an earlier pass already wrote; here those hold the true codes in the
    codebooks below the predicted one (Bark's loop has its own earlier samples there)."""
    frames = np.asarray(fine_codes, dtype=np.int64).T  # (T, 8)
    history = frames[:split_frame][-FINE_HISTORY:]
    n_history, n_new = len(history), len(frames) - split_frame
    codes = np.concatenate([history, frames[split_frame:]])
    n_real = len(codes)
    if n_real < FINE_WINDOW:
        codes = np.concatenate([codes, np.full((FINE_WINDOW - n_real, N_FINE_CODEBOOKS), FINE_PAD, np.int64)])
    passes = fine_passes(n_history, n_new, len(codes)) if n_new > 0 else []
    return [FineWindow(codes[start: start + FINE_WINDOW].copy(), fill - start, min(n_real - start, FINE_WINDOW))
            for start, fill in passes]
