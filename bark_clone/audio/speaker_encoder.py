"""Who is speaking: the GE2E speaker encoder (Resemblyzer's weights) and the embeddings it gives."""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..constants import HUBERT_SAMPLE_RATE
from ..errors import UserError
from .sound import normalize_level

EMBEDDING_RATE = HUBERT_SAMPLE_RATE  # Resemblyzer works at 16 kHz, like HuBERT and the VAD
MEL_BANDS = 40  # Resemblyzer's hparams: 40 mel bands from 25 ms windows every 10 ms
MEL_WINDOW = EMBEDDING_RATE * 25 // 1000
MEL_HOP = EMBEDDING_RATE * 10 // 1000
MEL_RATE_HZ = EMBEDDING_RATE / MEL_HOP  # 100 mel frames per second
PARTIAL_FRAMES = 160  # one partial utterance: 1.6 s
PARTIAL_SECONDS = PARTIAL_FRAMES / MEL_RATE_HZ
PARTIAL_HOP_SECONDS = 0.8  # overlapping by half: fine enough to place a speaker change, cheap on long inputs
RESEMBLYZER_LEVEL_DBFS = -30.0  # the level Resemblyzer's own preprocessing normalises to


class SpeakerEncoder(nn.Module):
    """Resemblyzer's GE2E speaker encoder: 3-layer LSTM over 40 mel bands, Linear, ReLU, L2 norm -> (B, 256).

    Built here and fed Resemblyzer's own weights, so neither librosa nor webrtcvad is imported: a cold
    make-speaker starts seconds sooner.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(MEL_BANDS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, 256)
        self.device = torch.device("cpu")

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """(B, frames, 40) mel power spectrograms -> (B, 256) unit embeddings."""
        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / (torch.linalg.norm(raw, dim=1, keepdim=True) + 1e-9)


def resemblyzer_weights() -> Path:
    """pretrained.pt inside the Resemblyzer wheel, found without importing the package."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the resemblyzer package (which ships the speaker-encoder weights) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"


def load_voice_encoder(device=None) -> SpeakerEncoder:
    """The GE2E speaker encoder with Resemblyzer's weights, read with ``torch.load(weights_only=True)``."""
    encoder = SpeakerEncoder()
    checkpoint = torch.load(resemblyzer_weights(), map_location="cpu", weights_only=True)
    state = {key: value for key, value in checkpoint["model_state"].items() if not key.startswith("similarity_")}
    encoder.load_state_dict(state)
    encoder.device = torch.device(device) if device is not None else torch.device("cpu")
    return encoder.to(encoder.device).eval()


@functools.lru_cache(maxsize=1)
def _mel_filters() -> torch.Tensor:
    """Slaney-style mel filter bank (librosa's default): (40, 201) for 400-point FFTs at 16 kHz."""

    def hz_to_mel(hz):
        hz = np.asarray(hz, dtype=np.float64)
        linear = hz / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(hz >= 1000.0, log, linear)

    def mel_to_hz(mel):
        mel = np.asarray(mel, dtype=np.float64)
        return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * 200.0 / 3)

    fft_freqs = np.linspace(0, EMBEDDING_RATE / 2, MEL_WINDOW // 2 + 1)
    mel_freqs = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(EMBEDDING_RATE / 2), MEL_BANDS + 2))
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    widths = np.diff(mel_freqs)
    weights = np.maximum(0, np.minimum(-ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


def mel_spectrogram(samples: np.ndarray, block_frames: int = 30_000) -> np.ndarray:
    """Resemblyzer's input: (n,) float32 at 16 kHz -> (1 + n // 160, 40) mel power spectrogram, 100 Hz.

    Computed 5 minutes at a time (exactly as in one pass), so a long recording's complex spectrum never sits in
    memory whole.
    """
    padded = torch.from_numpy(np.pad(np.asarray(samples, dtype=np.float32), MEL_WINDOW // 2))  # center=True
    n_frames = 1 + len(samples) // MEL_HOP
    window, filters = torch.hann_window(MEL_WINDOW), _mel_filters()
    blocks = []
    for first in range(0, n_frames, block_frames):
        last = min(n_frames, first + block_frames)
        piece = padded[first * MEL_HOP: (last - 1) * MEL_HOP + MEL_WINDOW]
        spectrum = torch.stft(piece, MEL_WINDOW, MEL_HOP, window=window, center=False, return_complex=True)
        blocks.append((filters @ spectrum.abs() ** 2).T.numpy())
    return np.concatenate(blocks)


def _levelled(samples: np.ndarray) -> np.ndarray:
    levelled, _ = normalize_level(samples, target_dbfs=RESEMBLYZER_LEVEL_DBFS)
    return levelled


@dataclass
class Partials:
    """Embeddings of overlapping 1.6 s stretches: ``embeddings`` (P, 256) unit vectors, ``starts`` (P,) seconds."""

    embeddings: np.ndarray
    starts: np.ndarray

    @property
    def ends(self) -> np.ndarray:
        return self.starts + PARTIAL_SECONDS


def partial_embeddings(encoder: SpeakerEncoder, samples: np.ndarray, batch_size: int = 256) -> Partials:
    """Embeddings every 0.8 s over a recording (16 kHz), all from one mel spectrogram."""
    mel = mel_spectrogram(_levelled(samples))
    if len(mel) < PARTIAL_FRAMES:
        mel = np.pad(mel, ((0, PARTIAL_FRAMES - len(mel)), (0, 0)))
    hop = int(PARTIAL_HOP_SECONDS * MEL_RATE_HZ)
    firsts = np.arange(0, len(mel) - PARTIAL_FRAMES + 1, hop)
    pieces = []
    with torch.inference_mode():
        for start in range(0, len(firsts), batch_size):
            batch = np.stack([mel[first: first + PARTIAL_FRAMES] for first in firsts[start: start + batch_size]])
            pieces.append(encoder(torch.from_numpy(batch).to(encoder.device)).cpu().numpy())
    return Partials(np.concatenate(pieces).astype(np.float32), firsts / MEL_RATE_HZ)


def embed(encoder: SpeakerEncoder, samples: np.ndarray) -> np.ndarray:
    """One speaker embedding for a stretch of audio: (n,) float32 at 16 kHz -> (256,) unit vector, the normalised
    mean of its partial embeddings (as Resemblyzer's embed_utterance)."""
    mean = partial_embeddings(encoder, samples).embeddings.mean(axis=0)
    return (mean / (np.linalg.norm(mean) + 1e-9)).astype(np.float32)


def dominant_centroid(embeddings: np.ndarray, keep: float = 0.6, rounds: int = 4) -> np.ndarray:
    """The main speaker's centroid: the mean of the embeddings, refined by keeping the closest 60 % each round.

    A second speaker holding less than half the speech ends up outside the kept set after the first round.
    """
    centroid = embeddings.mean(axis=0)
    for _ in range(rounds):
        centroid /= np.linalg.norm(centroid) + 1e-9
        similarity = embeddings @ centroid
        kept = embeddings[similarity >= np.quantile(similarity, 1 - keep)]
        centroid = kept.mean(axis=0)
    return (centroid / (np.linalg.norm(centroid) + 1e-9)).astype(np.float32)
