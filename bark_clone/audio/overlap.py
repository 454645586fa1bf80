"""Whether two recordings share audio: the same sound, trimmed, re-encoded or at another gain (a consent recording
cut from the voice sample itself), as opposed to two utterances of the same speaker.

Each recording becomes a log-mel spectrogram (librosa) whose frames are centred and scaled to unit length, so gain
and a codec's small spectral changes drop out; the cosine similarities of every frame of one against every frame
of the other form a matrix in which shared audio is a diagonal of near-1 values (at the lag of the trim). The
score is the best mean similarity along any diagonal over ``WINDOW_SECONDS`` of loud frames in both. Two
different utterances of one voice share its timbre, not its frames: their diagonals stay far lower (measured in
``tests/test_consent_overlap.py``: about 0.2-0.4 against 0.9 and more for the same audio through MP3)."""

from __future__ import annotations

import numpy as np

RATE = 16_000  # Hz: both recordings are compared at this rate
HOP = 256  # samples: 16 ms frames
MELS = 64
WINDOW_SECONDS = 1.0  # shared audio must run this long to count
QUIET_DB = 40.0  # frames this far below the recording's loudest are silence, and never count as shared
SAME_AUDIO = 0.75  # a diagonal window at or above this mean similarity is shared audio
BLOCK_SECONDS = 60.0  # the second recording is compared a block at a time (a 60 s block against 60 s: 56 MB)


def frames(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, MELS) unit-length centred log-mel frames of 16 kHz ``samples``, and which of them are loud."""
    import librosa

    mel = librosa.feature.melspectrogram(y=np.asarray(samples, np.float32), sr=RATE, n_fft=1024, hop_length=HOP,
                                         n_mels=MELS)
    energy_db = 10 * np.log10(mel.sum(axis=0) + 1e-12)
    loud = energy_db > energy_db.max() - QUIET_DB
    log_mel = np.log(mel + 1e-6).T
    if loud.any():  # each band centred and scaled over the loud frames: the voice's constant colour drops out
        log_mel = (log_mel - log_mel[loud].mean(axis=0)) / (log_mel[loud].std(axis=0) + 1e-6)
    log_mel -= log_mel.mean(axis=1, keepdims=True)
    log_mel /= np.linalg.norm(log_mel, axis=1, keepdims=True) + 1e-9
    return log_mel, loud


def shared_audio(first: np.ndarray, second: np.ndarray) -> float:
    """The best mean frame similarity over ``WINDOW_SECONDS`` along any alignment of two 16 kHz recordings (0 when
    either is shorter than the window): at or above ``SAME_AUDIO``, they share audio. ``second`` is compared in
    blocks of ``BLOCK_SECONDS`` (overlapping by a window), so memory stays bounded however long it is."""
    one, loud_one = frames(first)
    two, loud_two = frames(second)
    window = int(WINDOW_SECONDS * RATE / HOP)
    block = int(BLOCK_SECONDS * RATE / HOP)
    if len(one) < window or len(two) < window:
        return 0.0
    best = 0.0
    for start in range(0, max(len(two) - window, 0) + 1, block - window):
        part, loud_part = two[start: start + block], loud_two[start: start + block]
        if len(part) < window:
            break
        best = max(best, _best_diagonal(one, loud_one, part, loud_part, window))
    return best


def _best_diagonal(one, loud_one, two, loud_two, window: int) -> float:
    similarity = one @ two.T
    similarity[~loud_one] = 0.0
    similarity[:, ~loud_two] = 0.0
    best = 0.0
    for lag in range(-(len(one) - window), len(two) - window + 1):
        diagonal = np.diagonal(similarity, offset=lag)
        sums = np.convolve(diagonal, np.ones(window), mode="valid")
        best = max(best, float(sums.max()) / window)
    return best
