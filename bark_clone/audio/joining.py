"""Chunks of speech joined into one recording: a pause between sentences, short fades where speech meets the
pause (so no chunk starts or stops with a click), and a level that never clips."""

from __future__ import annotations

import numpy as np

from ..constants import DEFAULT_PAUSE_SECONDS

FADE_SECONDS = 0.005  # the crossfade between a chunk and the pause around it
PEAK_LIMIT = 0.99  # the joined audio is scaled down, never clipped, to stay under this


def faded(chunk: np.ndarray, rate: int) -> np.ndarray:
    """``chunk`` with raised-cosine fades of 5 ms at both ends (shorter for a very short chunk)."""
    chunk = np.asarray(chunk, dtype=np.float32).copy()
    length = min(int(FADE_SECONDS * rate), len(chunk) // 2)
    if length > 0:
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, length))).astype(np.float32)
        chunk[:length] *= ramp
        chunk[len(chunk) - length:] *= ramp[::-1]
    return chunk


def join_chunks(chunks: list[np.ndarray], rate: int, pause_seconds: float = DEFAULT_PAUSE_SECONDS
                ) -> tuple[np.ndarray, float]:
    """(the joined audio, the gain in dB applied to keep it from clipping: 0 or negative).

    Its length is exactly the chunks' lengths plus ``pause_seconds`` between each two of them.
    """
    if pause_seconds < 0:
        raise ValueError("the pause must not be negative")
    pause = np.zeros(int(round(pause_seconds * rate)), dtype=np.float32)
    pieces = []
    for index, chunk in enumerate(chunks):
        if index:
            pieces.append(pause)
        pieces.append(faded(chunk, rate))
    joined = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    peak = float(np.abs(joined).max()) if len(joined) else 0.0
    if peak <= PEAK_LIMIT:
        return joined, 0.0
    return (joined * (PEAK_LIMIT / peak)).astype(np.float32), float(20 * np.log10(PEAK_LIMIT / peak))
