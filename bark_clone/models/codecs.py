"""HuBERT and EnCodec: loaded through ``loading``, checked to be the models Bark's prompts need, and their forward
passes (HuBERT's layer-9 features, EnCodec's codes at 6 kbps and back)."""

from __future__ import annotations

import numpy as np

from ..constants import (
    CODEC_BANDWIDTH_KBPS,
    CODEC_FRAME_RATE_HZ,
    CODEC_SAMPLE_RATE,
    HUBERT_HOP_LENGTH,
    HUBERT_LAYER,
    HUBERT_SAMPLE_RATE,
    N_FINE_CODEBOOKS,
)
from ..errors import UserError
from .loading import Loaded, load_pretrained

HUBERT_CHUNK_SECONDS = 30.0  # attention is quadratic: longer audio goes through in chunks
HUBERT_CONTEXT_SECONDS = 2.0  # extra audio each side of a chunk, so its edge frames see context
HUBERT_RECEPTIVE_FIELD = 400  # samples of 16 kHz audio behind one feature frame


def load_hubert(source: str, device, layer: int = HUBERT_LAYER) -> Loaded:
    """HuBERT (``HubertModel``) from a hub id or folder, cut after transformer ``layer``.

    Layers past ``layer`` never influence ``hidden_states[layer]``, so dropping them saves their compute.
    """
    from transformers import HubertModel

    loaded = load_pretrained(source, ("hubert",), HubertModel, "a HuBERT model", "--hubert", device)
    n_layers = len(loaded.model.encoder.layers)
    if n_layers < layer:
        raise UserError(f"--hubert {source} has {n_layers} transformer layers; the quantizer reads layer {layer}")
    loaded.model.encoder.layers = loaded.model.encoder.layers[:layer]
    loaded.model.config.num_hidden_layers = layer
    loaded.model.layer = layer
    return loaded


def load_encodec(source: str, device) -> Loaded:
    """EnCodec (``EncodecModel``) from a hub id or folder; it must be the 24 kHz, 75 Hz model Bark uses."""
    from transformers import EncodecModel

    loaded = load_pretrained(source, ("encodec",), EncodecModel, "an EnCodec model", "--encodec", device)
    config = loaded.model.config
    if config.sampling_rate != CODEC_SAMPLE_RATE or round(config.frame_rate) != CODEC_FRAME_RATE_HZ:
        raise UserError(
            f"--encodec {source} is a {config.sampling_rate} Hz, {config.frame_rate} Hz-frame codec; "
            f"Bark needs the {CODEC_SAMPLE_RATE // 1000} kHz, {CODEC_FRAME_RATE_HZ:g} Hz one"
        )
    if CODEC_BANDWIDTH_KBPS not in config.target_bandwidths:
        raise UserError(f"--encodec {source} does not offer the {CODEC_BANDWIDTH_KBPS:g} kbps bandwidth Bark needs")
    return loaded


def hubert_features(hubert: Loaded, samples: np.ndarray) -> np.ndarray:
    """HuBERT features after transformer layer ``hubert.model.layer``: (n,) float32 16 kHz -> (T, hidden) float32,
    50 Hz.

    The input is raw audio, with no feature-extractor normalisation (as fairseq's HuBERT was trained).
    T = floor((n - 400) / 320) + 1. Audio longer than 30 s goes through in chunks with 2 s of context each side
    (attention is quadratic in length); up to 30 s the result is exactly ``hidden_states[layer]`` of one pass.
    """
    import torch

    n_frames = (len(samples) - HUBERT_RECEPTIVE_FIELD) // HUBERT_HOP_LENGTH + 1
    if n_frames <= 0:
        raise UserError("the audio is too short for HuBERT (under 25 ms)")
    chunk = int(HUBERT_CHUNK_SECONDS * HUBERT_SAMPLE_RATE) // HUBERT_HOP_LENGTH  # frames per chunk
    context = int(HUBERT_CONTEXT_SECONDS * HUBERT_SAMPLE_RATE) // HUBERT_HOP_LENGTH
    pieces = []
    with torch.inference_mode():
        for first in range(0, n_frames, chunk):
            last = min(first + chunk, n_frames)
            begin = max(0, first - context)
            end = min(n_frames, last + context)
            # the last chunk keeps the trailing samples: the first conv's GroupNorm sees the whole input
            stop = len(samples) if end == n_frames else (end - 1) * HUBERT_HOP_LENGTH + HUBERT_RECEPTIVE_FIELD
            audio = samples[begin * HUBERT_HOP_LENGTH : stop]
            inputs = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None].to(hubert.device)
            output = hubert.model(inputs, output_hidden_states=True)
            features = output.hidden_states[hubert.model.layer][0]
            pieces.append(features[first - begin : last - begin].float().cpu().numpy())
    return np.concatenate(pieces)


def encodec_encode(codec: Loaded, samples: np.ndarray) -> np.ndarray:
    """EnCodec codes at 6 kbps: (n,) float32 at 24 kHz -> (8, ceil(n / 320)) int64 at 75 Hz."""
    import torch

    with torch.inference_mode():
        inputs = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None, None].to(codec.device)
        output = codec.model.encode(inputs, bandwidth=CODEC_BANDWIDTH_KBPS)
    codes = output.audio_codes[0, 0].cpu().numpy().astype(np.int64)
    if codes.shape[0] != N_FINE_CODEBOOKS:
        raise UserError(f"EnCodec {codec.source} gave {codes.shape[0]} codebooks at 6 kbps; Bark needs 8")
    return codes


def encodec_decode(codec: Loaded, codes: np.ndarray) -> np.ndarray:
    """Audio from EnCodec codes: (n_q, T) int -> (T * 320,) float32 at 24 kHz."""
    import torch

    with torch.inference_mode():
        tensor = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.int64))[None, None].to(codec.device)
        audio = codec.model.decode(tensor, [None]).audio_values
    return audio[0, 0].float().cpu().numpy()
