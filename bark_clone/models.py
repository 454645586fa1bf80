"""Model loading (hub id or local folder, once per process) and the HuBERT / EnCodec forward passes."""

from __future__ import annotations

import functools
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from .constants import (
    CODEC_BANDWIDTH_KBPS,
    CODEC_FRAME_RATE_HZ,
    CODEC_SAMPLE_RATE,
    HUBERT_HOP_LENGTH,
    HUBERT_LAYER,
    HUBERT_SAMPLE_RATE,
    N_FINE_CODEBOOKS,
)
from .errors import UserError

HUBERT_CHUNK_SECONDS = 30.0  # attention is quadratic: longer audio goes through in chunks
HUBERT_CONTEXT_SECONDS = 2.0  # extra audio each side of a chunk, so its edge frames see context
HUBERT_RECEPTIVE_FIELD = 400  # samples of 16 kHz audio behind one feature frame
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class Loaded:
    """A model plus where it came from: ``source`` as given, ``revision`` the hub commit (None for a folder)."""

    model: Any
    source: str
    revision: str | None
    device: Any

    def describe(self) -> dict[str, Any]:
        """Provenance for the sidecar."""
        return {"source": self.source, "revision": self.revision}


def resolve_device(name: str = "auto"):
    """``auto`` picks cuda, then mps, then cpu; an explicit device must exist."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise UserError(f"unknown device {name!r}: use auto, cpu, cuda or mps")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but PyTorch sees no CUDA GPU here")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("--device mps was asked for, but this PyTorch has no MPS support")
    return torch.device(name)


def hub_revision(source: str, filename: str = "config.json") -> str | None:
    """The commit a hub model was loaded at, read from the local cache (None for local folders)."""
    if Path(source).expanduser().exists():
        return None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(source, filename)
    if isinstance(cached, str):
        match = re.search(r"snapshots[/\\]([0-9a-f]{40})[/\\]", cached)
        if match:
            return match.group(1)
    return None


@functools.lru_cache(maxsize=1)
def hub_offline() -> bool:
    """True when the hub cannot be reached: HF_HUB_OFFLINE is set, or its host name does not even resolve.

    Then only the local cache is consulted, so a machine without network gets its one-line error at once instead
    of after a minute of retries.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return True
    return False


def silence_hub_logging() -> None:
    """Keep transformers' and huggingface_hub's warnings and progress bars out of a one-line CLI."""
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    hub_logging.set_verbosity_error()


def offline_hint(source: str, what: str, flag: str, error: Exception) -> UserError:
    """The one-line error for a model that is neither a local folder nor reachable on the hub."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return UserError(
        f"cannot load {what} {source!r}: it is not in the local Hugging Face cache and could not be downloaded "
        f"({reason[:160]}). On a connected machine run `hf download {source} --local-dir DIR`, copy DIR here "
        f"and pass {flag} DIR"
    )


def load_pretrained(source: str, model_types: tuple[str, ...], model_class: Any, what: str, flag: str, device):
    """Load a transformers model from a hub id or a local folder, checking it is the right kind of model."""
    from transformers import AutoConfig

    silence_hub_logging()
    local = Path(source).expanduser()
    if local.exists():
        if not local.is_dir():
            raise UserError(f"{flag} {source}: a model is a folder holding config.json, not a single file")
        if not (local / "config.json").exists():
            raise UserError(f"{flag} {source} is not a model folder: it has no config.json")
    elif not REPO_ID.match(source):
        raise UserError(f"{flag} {source}: no such folder, and not a hub id like owner/name")
    where = str(local) if local.exists() else source
    try:
        config = AutoConfig.from_pretrained(where, local_files_only=hub_offline())
    except OSError as error:
        if local.exists():
            raise UserError(f"{flag} {source}: its config.json cannot be read ({error})") from None
        raise offline_hint(source, what, flag, error) from None
    except ValueError as error:
        raise UserError(f"{flag} {source} is not a transformers model folder: {error}") from None
    if config.model_type not in model_types:
        raise UserError(f"{flag} {source} holds a {config.model_type!r} model, not {what}")
    try:
        model = model_class.from_pretrained(where, config=config, local_files_only=hub_offline())
    except OSError as error:
        if local.exists():
            raise UserError(f"{flag} {source}: its weights cannot be loaded ({error})") from None
        raise offline_hint(source, what, flag, error) from None
    except (RuntimeError, ValueError) as error:  # transformers' size-mismatch report, a damaged config's values
        raise UserError(f"{flag} {source}: its weights do not fit its config.json "
                        f"({str(error).splitlines()[0][:120] if str(error) else type(error).__name__})") from None
    return Loaded(model.to(device).eval(), source, hub_revision(source), device)


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
