"""Vocos for EnCodec tokens (``charactr/vocos-encodec-24khz``): Bark's fine codes to 24 kHz audio through a
ConvNeXt backbone and an inverse STFT, in place of EnCodec's own decoder.

Written here in torch because the ``vocos`` wheel imports torchaudio (no build for our torch) and its
``from_pretrained`` unpickles its weights. Its checkpoint is read as data: ``config.yaml`` with ``yaml.safe_load``
(only the three classes of the EnCodec model are accepted, their sizes bounded) and ``pytorch_model.bin`` with
``torch.load(weights_only=True)``; the modules below carry the checkpoint's parameter names, so it loads strictly.
The tests check the output against the ``vocos`` package's own modules to 1e-5."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import CODEBOOK_SIZE, CODEC_BANDWIDTH_KBPS, CODEC_HOP_LENGTH, DEFAULT_VOCOS, N_FINE_CODEBOOKS
from ..errors import UserError
from ..files import read_regular_file

CONFIG_NAME, WEIGHTS_NAME = "config.yaml", "pytorch_model.bin"
MAX_CONFIG_BYTES = 64 * 1024
MAX_WEIGHTS_BYTES = 1024**3  # the published file is about 40 MB
WINDOW_KEY = "head.istft.window"
MAX_PARAMETERS = 100_000_000  # the backbone and head a config may declare (the published decoder: about 8 M)
CLASSES = {"feature_extractor": "vocos.feature_extractors.EncodecFeatures", "backbone": "vocos.models.VocosBackbone",
           "head": "vocos.heads.ISTFTHead"}
ENCODEC_KEYS = "feature_extractor.encodec."  # EnCodec's own weights, which the package adds and we never use


def vocos_network(settings: dict[str, Any]):
    """The Vocos modules for ``settings`` (``vocos_settings``), named as in Vocos's checkpoints."""
    import torch
    from torch import nn

    class AdaptiveNorm(nn.Module):
        """A layer norm whose scale and shift are looked up by the bandwidth's index."""

        def __init__(self, bandwidths: int, dim: int) -> None:
            super().__init__()
            self.scale, self.shift = nn.Embedding(bandwidths, dim), nn.Embedding(bandwidths, dim)

        def forward(self, hidden, bandwidth):
            normed = nn.functional.layer_norm(hidden, (hidden.shape[-1],), eps=1e-6)
            return normed * self.scale(bandwidth) + self.shift(bandwidth)

    class Block(nn.Module):
        """ConvNeXt: a depthwise convolution, the adaptive norm, a two-layer MLP, scaled, added back."""

        def __init__(self, dim: int, inner: int, bandwidths: int) -> None:
            super().__init__()
            self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
            self.norm = AdaptiveNorm(bandwidths, dim)
            self.pwconv1, self.pwconv2 = nn.Linear(dim, inner), nn.Linear(inner, dim)
            self.gamma = nn.Parameter(torch.ones(dim))

        def forward(self, hidden, bandwidth):  # (B, dim, T)
            mixed = self.norm(self.dwconv(hidden).transpose(1, 2), bandwidth)
            mixed = self.gamma * self.pwconv2(nn.functional.gelu(self.pwconv1(mixed)))
            return hidden + mixed.transpose(1, 2)

    class Backbone(nn.Module):
        def __init__(self, channels: int, dim: int, inner: int, layers: int, bandwidths: int) -> None:
            super().__init__()
            self.embed = nn.Conv1d(channels, dim, kernel_size=7, padding=3)
            self.norm = AdaptiveNorm(bandwidths, dim)
            self.convnext = nn.ModuleList(Block(dim, inner, bandwidths) for _ in range(layers))
            self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)

        def forward(self, features, bandwidth):  # (B, channels, T) -> (B, T, dim)
            hidden = self.norm(self.embed(features).transpose(1, 2), bandwidth).transpose(1, 2)
            for block in self.convnext:
                hidden = block(hidden, bandwidth)
            return self.final_layer_norm(hidden.transpose(1, 2))

    class Network(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.settings = settings
            self.feature_extractor = nn.Module()
            self.feature_extractor.codebook_weights = nn.Parameter(torch.zeros(settings["codebook_rows"],
                                                                               settings["channels"]))
            self.backbone = Backbone(settings["channels"], settings["dim"], settings["inner"], settings["layers"],
                                     len(settings["bandwidths"]))
            self.head = nn.Module()
            self.head.out = nn.Linear(settings["dim"], settings["n_fft"] + 2)
            self.head.istft = nn.Module()
            self.head.istft.register_buffer("window", torch.hann_window(settings["n_fft"]))

    return Network()


def synthesize(network, settings: dict[str, Any], codes) -> Any:
    """(B, 8, T) int64 codes -> (B, T * hop) float32 audio: the 8 codebooks' embeddings summed, the backbone at
    Bark's bandwidth, then the head's spectrum turned into audio by an inverse STFT with "same" padding."""
    import torch

    weights = network.feature_extractor.codebook_weights
    offsets = CODEBOOK_SIZE * torch.arange(codes.shape[1], device=codes.device)[None, :, None]
    features = torch.nn.functional.embedding(codes + offsets, weights).sum(dim=1).transpose(1, 2)
    bandwidth = torch.tensor([settings["bandwidth_index"]], device=codes.device)
    hidden = network.backbone(features, bandwidth)
    magnitude, phase = network.head.out(hidden).float().transpose(1, 2).chunk(2, dim=1)
    spectrum = torch.exp(magnitude).clamp(max=1e2) * torch.exp(1j * phase)
    return inverse_stft(spectrum, network.head.istft.window.float(), settings["hop"])


def inverse_stft(spectrum, window, hop: int):
    """(B, n_fft/2 + 1, T) complex -> (B, T * hop): each frame windowed and overlapped, divided by the windows'
    summed squares, ``(n_fft - hop) / 2`` samples cut from each end (torch.istft pads by half a window instead)."""
    import torch

    size = window.shape[0]
    frames = torch.fft.irfft(spectrum, size, dim=1) * window[None, :, None]
    length = (spectrum.shape[-1] - 1) * hop + size
    fold = dict(output_size=(1, length), kernel_size=(1, size), stride=(1, hop))
    audio = torch.nn.functional.fold(frames, **fold)[:, 0, 0]
    envelope = torch.nn.functional.fold(window.square()[None, :, None].expand(1, size, spectrum.shape[-1]),
                                        **fold)[0, 0, 0]
    cut = (size - hop) // 2
    return audio[:, cut: length - cut] / envelope[cut: length - cut]


def _sizes(arguments: dict, names: tuple[str, ...], where: str, most: int) -> list[int]:
    values = [arguments.get(name) for name in names]
    if not all(isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most for value in values):
        raise UserError(f"{where}: {', '.join(names)} must be whole numbers in 1..{most}")
    return values


def vocos_settings(document: Any, where: str) -> dict[str, Any]:
    """The sizes a Vocos ``config.yaml`` declares, checked: the EnCodec-features model with Bark's bandwidth, a
    ConvNeXt backbone with the bandwidth-conditioned norm, an ISTFT head at EnCodec's hop with "same" padding."""
    parts = {}
    for part, class_path in CLASSES.items():
        entry = document.get(part) if isinstance(document, dict) else None
        if not isinstance(entry, dict) or entry.get("class_path") != class_path:
            raise UserError(f"{where} is not a Vocos model for EnCodec tokens: its {part} is not {class_path}")
        arguments = entry.get("init_args", {})
        if not isinstance(arguments, dict):
            raise UserError(f"{where}: the {part}'s init_args is not a mapping")
        parts[part] = arguments
    bandwidths = parts["feature_extractor"].get("bandwidths")
    if (not isinstance(bandwidths, list) or not 1 <= len(bandwidths) <= 16
            or not all(isinstance(value, (int, float)) for value in bandwidths)
            or CODEC_BANDWIDTH_KBPS not in bandwidths):
        raise UserError(f"{where}: its bandwidths must include {CODEC_BANDWIDTH_KBPS:g} kbps, Bark's 8 codebooks")
    backbone, head = parts["backbone"], parts["head"]
    channels, dim, inner, layers = _sizes(backbone, ("input_channels", "dim", "intermediate_dim", "num_layers"),
                                         where, 8192)
    n_fft, hop = _sizes(head, ("n_fft", "hop_length"), where, 8192)
    if backbone.get("adanorm_num_embeddings") != len(bandwidths) or head.get("dim") != dim:
        raise UserError(f"{where}: the backbone must be conditioned on its {len(bandwidths)} bandwidths and the "
                        f"head read its {dim} channels")
    if hop != CODEC_HOP_LENGTH or head.get("padding", "same") != "same" or n_fft <= hop or (n_fft - hop) % 2:
        raise UserError(f"{where}: the head must step {CODEC_HOP_LENGTH} samples (EnCodec's frame) with 'same' "
                        "padding and a window longer than that by an even number")
    settings = {"channels": channels, "dim": dim, "inner": inner, "layers": layers, "n_fft": n_fft, "hop": hop,
                "bandwidths": bandwidths, "bandwidth_index": bandwidths.index(CODEC_BANDWIDTH_KBPS),
                "codebook_rows": None}
    declared = network_parameters(settings)
    if declared > MAX_PARAMETERS:
        raise UserError(f"{where} declares a network of {declared / 1e6:.0f} M parameters; a Vocos decoder has at "
                        f"most {MAX_PARAMETERS / 1e6:.0f} M (the published one: 8 M)")
    return settings


def network_parameters(settings: dict[str, Any]) -> int:
    """How many parameters ``vocos_network(settings)`` holds beside its codebooks: known from the sizes alone."""
    channels, dim, inner, bandwidths = (settings["channels"], settings["dim"], settings["inner"],
                                        len(settings["bandwidths"]))
    norm = 2 * bandwidths * dim
    block = dim * 7 + dim + norm + dim * inner + inner + inner * dim + dim + dim
    return (channels * dim * 7 + dim + norm + settings["layers"] * block + 2 * dim
            + dim * (settings["n_fft"] + 2) + settings["n_fft"] + 2)


def _fetch(source: str, name: str, limit: int) -> bytes:
    """One file of a Vocos checkpoint (a folder or a hub id), read bounded and only when it is a regular file."""
    from .loading import REPO_ID, hub_offline, offline_hint

    folder = Path(source).expanduser()
    if folder.exists():
        if not folder.is_dir():
            raise UserError(f"--vocos {source}: a Vocos model is a folder with {CONFIG_NAME} and {WEIGHTS_NAME}")
        path = folder / name
    elif not REPO_ID.match(source):
        raise UserError(f"--vocos {source}: no such folder, and not a hub id like owner/name")
    else:
        from huggingface_hub import hf_hub_download

        try:
            path = Path(hf_hub_download(source, name, local_files_only=hub_offline()))
        except Exception as error:  # the hub's many offline and not-found errors: all mean "not here"
            raise offline_hint(source, "the Vocos model", "--vocos", error) from None
    data = read_regular_file(path, limit)
    if data is None:
        largest = f"{limit // 1024**2} MB" if limit >= 1024**2 else f"{limit // 1024} KB"
        raise UserError(f"--vocos {source}: its {name} is missing, not a regular file or larger than {largest}")
    return data


def _read_state(data: bytes, where: str) -> dict[str, Any]:
    """The checkpoint's tensors, never unpickled (EnCodec's own weights, which we never use, left aside)."""
    import torch

    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # weights_only refuses anything but tensors and plain containers, in many ways
        raise UserError(f"{where}: its {WEIGHTS_NAME} is not a plain tensor checkpoint ({type(error).__name__})") \
            from None
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise UserError(f"{where}: its {WEIGHTS_NAME} is not a mapping of names to tensors")
    state = {str(key): value for key, value in state.items() if not str(key).startswith(ENCODEC_KEYS)}
    weights = state.get("feature_extractor.codebook_weights")
    rows = int(weights.shape[0]) if weights is not None and weights.dim() == 2 else 0
    if rows < N_FINE_CODEBOOKS * CODEBOOK_SIZE or rows % CODEBOOK_SIZE:
        raise UserError(f"{where}: its codebook weights must hold at least {N_FINE_CODEBOOKS} codebooks of "
                        f"{CODEBOOK_SIZE} codes")
    return state


def _check_state(state: dict[str, Any], network, where: str) -> None:
    """Exactly the network's parameters (``network`` built on the meta device: shapes, no memory), each finite,
    float and of its shape."""
    import torch

    expected = {key: value for key, value in network.state_dict().items() if key != WINDOW_KEY}
    state.pop(WINDOW_KEY, None)  # the ISTFT window is computed, never read
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise UserError(f"{where}: its weights do not fit its {CONFIG_NAME} (missing {missing[:3]}, "
                        f"unexpected {extra[:3]})")
    for key, value in state.items():
        if value.shape != expected[key].shape or not value.is_floating_point() or not torch.isfinite(value).all():
            raise UserError(f"{where}: {key} is not a finite float tensor of shape {tuple(expected[key].shape)}")


def load_vocos(source: str = DEFAULT_VOCOS, device=None):
    """Vocos from a hub id or folder, as a ``models.Loaded`` (decode with ``decode_codes``)."""
    import torch
    import yaml

    from .loading import Loaded, hub_revision

    where = f"--vocos {source}"
    try:
        document = yaml.safe_load(_fetch(source, CONFIG_NAME, MAX_CONFIG_BYTES).decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise UserError(f"{where}: its {CONFIG_NAME} is not YAML ({type(error).__name__})") from None
    settings = vocos_settings(document, where)
    state = _read_state(_fetch(source, WEIGHTS_NAME, MAX_WEIGHTS_BYTES), where)
    settings["codebook_rows"] = int(state["feature_extractor.codebook_weights"].shape[0])
    with torch.device("meta"):  # the declared sizes cost nothing until they match the weights read
        _check_state(state, vocos_network(settings), where)
    network = vocos_network(settings)  # now as large as the weights file, which is read bounded
    network.load_state_dict({**state, WINDOW_KEY: network.head.istft.window})
    device = torch.device(device) if device is not None else torch.device("cpu")
    return Loaded(network.to(device).eval(), source, hub_revision(source, CONFIG_NAME), device)


def decode_codes(vocos, codes: np.ndarray) -> np.ndarray:
    """One row's (8, T) codes -> (T * 320,) float32 at 24 kHz through ``vocos`` (a ``load_vocos`` result)."""
    import torch

    network = vocos.model
    tensor = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.int64))[None].to(vocos.device)
    with torch.inference_mode():
        audio = synthesize(network, network.settings, tensor)
    return audio[0].float().cpu().numpy()
