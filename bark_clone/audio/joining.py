"""Chunks of speech joined into one recording: a pause between sentences, short fades where speech meets the
pause (so no chunk starts or stops with a click), and a level that never clips."""

from __future__ import annotations

import numpy as np

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


def limited(chunk: np.ndarray) -> tuple[np.ndarray, float]:
    """``chunk`` scaled down to peak at ``PEAK_LIMIT`` if it would clip, and the gain in dB (0 or negative).
    Each chunk on its own, so a streamed chunk sounds exactly as it does in the joined file."""
    peak = float(np.abs(chunk).max()) if len(chunk) else 0.0
    if peak <= PEAK_LIMIT:
        return chunk, 0.0
    return (chunk * (PEAK_LIMIT / peak)).astype(np.float32), float(20 * np.log10(PEAK_LIMIT / peak))


def chunk_piece(chunk: np.ndarray, rate: int, pause_before: float) -> tuple[np.ndarray, float]:
    """What one chunk adds to the joined audio: the pause before it, then the chunk faded and limited; its gain."""
    if pause_before < 0:
        raise ValueError("the pause must not be negative")
    audio, gain_db = limited(faded(chunk, rate))
    return np.concatenate([np.zeros(int(round(pause_before * rate)), np.float32), audio]), gain_db
