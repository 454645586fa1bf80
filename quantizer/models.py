"""Quantizer architectures behind one interface: (B, T, input_size) features in, (B, T, output_size) logits out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import torch
from torch import nn


class QuantizerFormatError(ValueError):
    """A file or configuration that is not a valid quantizer; the message says what is wrong."""


@dataclass(frozen=True)
class QuantizerConfig:
    """Everything needed to rebuild a quantizer; saved beside its weights.

    ``arch`` is a key of ``ARCHITECTURES``. ``intermediate_size`` is 0 for the published v0 LSTM and 4096 for v1.
    """

    arch: str
    input_size: int = 768
    output_size: int = 10_000
    hidden_size: int = 1024
    num_layers: int = 2
    intermediate_size: int = 0
    kernel_size: int = 5
    n_clusters: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> QuantizerConfig:
        known = {field.name for field in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise QuantizerFormatError(f"unknown quantizer settings: {', '.join(sorted(unknown))}")
        if values.get("arch") not in ARCHITECTURES:
            raise QuantizerFormatError(
                f"unknown quantizer architecture {values.get('arch')!r}; known: {', '.join(ARCHITECTURES)}"
            )
        wrong = [key for key, value in values.items()
                 if key != "arch" and (not isinstance(value, int) or isinstance(value, bool) or value < 0)]
        if wrong:
            raise QuantizerFormatError(f"quantizer settings {', '.join(sorted(wrong))} must be whole numbers >= 0")
        return cls(**values)


class LSTMQuantizer(nn.Module):
    """The published shape: 2-layer unidirectional LSTM, [Linear(hidden, 4096) for v1], Linear(-> 10000).

    Parameter names (``lstm.*``, ``intermediate.*``, ``fc.*``) match the published files exactly.
    """

    def __init__(self, config: QuantizerConfig) -> None:
        super().__init__()
        self.lstm = nn.LSTM(config.input_size, config.hidden_size, config.num_layers, batch_first=True)
        width = config.hidden_size
        if config.intermediate_size:
            self.intermediate = nn.Linear(config.hidden_size, config.intermediate_size)
            width = config.intermediate_size
        self.fc = nn.Linear(width, config.output_size)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # Unidirectional, so right padding never leaks into the valid frames: no packing needed.
        hidden, _ = self.lstm(features)
        if hasattr(self, "intermediate"):
            hidden = self.intermediate(hidden)
        return self.fc(hidden)


class LinearQuantizer(nn.Module):
    """One softmax per frame, no context: the floor any contextual model must beat."""

    def __init__(self, config: QuantizerConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(config.input_size)
        self.fc = nn.Linear(config.input_size, config.output_size)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(self.norm(features))


class ContextQuantizer(nn.Module):
    """Bidirectional context at a fraction of v1's cost.

    A token depends on its neighbours on both sides, which a causal LSTM cannot see. Two residual convolutions
    (``kernel_size`` frames each) and one bidirectional LSTM layer give every frame about half a second of context
    either way, and the output layer reads ``hidden_size`` features instead of v1's 4096.
    """

    def __init__(self, config: QuantizerConfig) -> None:
        super().__init__()
        width = config.hidden_size
        self.inp = nn.Sequential(nn.LayerNorm(config.input_size), nn.Linear(config.input_size, width))
        padding = config.kernel_size // 2
        self.convs = nn.ModuleList(
            nn.Conv1d(width, width, config.kernel_size, padding=padding) for _ in range(2)
        )
        self.conv_norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(2))
        self.lstm = nn.LSTM(width, width // 2, max(1, config.num_layers - 1), batch_first=True, bidirectional=True)
        self.out_norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, config.output_size)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.inp(features)
        mask = None
        if lengths is not None:
            mask = (torch.arange(features.shape[1], device=features.device)[None] < lengths[:, None])[..., None]
        for conv, norm in zip(self.convs, self.conv_norms):
            if mask is not None:
                hidden = hidden * mask  # padding must not leak into the convolution's window
            hidden = hidden + torch.relu(conv(norm(hidden).transpose(1, 2)).transpose(1, 2))
        if lengths is not None:
            packed = nn.utils.rnn.pack_padded_sequence(
                hidden, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            output, _ = self.lstm(packed)
            hidden, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=features.shape[1])
        else:
            hidden, _ = self.lstm(hidden)
        return self.fc(self.out_norm(hidden))


class KMeansQuantizer(nn.Module):
    """Nearest centroid, each centroid mapped to the Bark token it most often co-occurred with.

    The logits of a token are minus the distance to its nearest centroid (minus infinity when no centroid maps to
    it), so top-k ranking works as for the neural models.
    """

    def __init__(self, config: QuantizerConfig) -> None:
        super().__init__()
        if config.n_clusters <= 0:
            raise QuantizerFormatError("a kmeans quantizer needs n_clusters > 0")
        self.output_size = config.output_size
        self.register_buffer("centers", torch.zeros(config.n_clusters, config.input_size))
        self.register_buffer("cluster_tokens", torch.zeros(config.n_clusters, dtype=torch.long))

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        flat = features.reshape(-1, features.shape[-1]).float()
        distances = torch.cdist(flat, self.centers.float())  # (B*T, K)
        logits = torch.full((flat.shape[0], self.output_size), float("-inf"), device=features.device)
        index = self.cluster_tokens.expand(flat.shape[0], -1)
        logits = logits.scatter_reduce(1, index, -distances, reduce="amax")
        return logits.reshape(*features.shape[:-1], self.output_size)


V1_INTERMEDIATE_SIZE = 4096  # the published v1 LSTM's extra layer; v0 has none


@dataclass(frozen=True)
class Architecture:
    """A registry entry: the module class that builds the architecture, its default shape, and a line of help."""

    builder: type[nn.Module]
    defaults: QuantizerConfig
    summary: str
    settings: tuple[str, ...] = ()  # the QuantizerConfig fields a user may change from these defaults

    def config(self, input_size: int, output_size: int, **requested: Any) -> QuantizerConfig:
        """The default shape for ``input_size``-wide features and ``output_size`` tokens, changed by those of
        ``requested`` that this architecture has as ``settings`` (others, and None values, are ignored)."""
        values = {key: value for key, value in requested.items() if key in self.settings and value is not None}
        return replace(self.defaults, input_size=input_size, output_size=output_size, **values)


ARCHITECTURES: dict[str, Architecture] = {
    "lstm": Architecture(LSTMQuantizer, QuantizerConfig("lstm", hidden_size=1024, num_layers=2,
                                                        intermediate_size=V1_INTERMEDIATE_SIZE),
                         "the published v1 shape (v0 without its 4096-wide layer)",
                         ("hidden_size", "intermediate_size")),
    "linear": Architecture(LinearQuantizer, QuantizerConfig("linear"), "one softmax per frame, no context"),
    "context": Architecture(ContextQuantizer, QuantizerConfig("context", hidden_size=512, num_layers=2, kernel_size=5),
                            "convolutions plus a bidirectional LSTM", ("hidden_size",)),
    "kmeans": Architecture(KMeansQuantizer, QuantizerConfig("kmeans", n_clusters=2048),
                           "nearest centroid, each mapped to its most frequent token", ("n_clusters",)),
}


def build_quantizer(config: QuantizerConfig) -> nn.Module:
    """A freshly initialised quantizer of ``config.arch``."""
    return ARCHITECTURES[config.arch].builder(config)


def quantizer_from_state(config: QuantizerConfig, state: dict[str, torch.Tensor]) -> nn.Module:
    """A quantizer holding exactly ``state``: built without random initialisation (on the meta device), so
    loading a 10-million-parameter file skips drawing 10 million random numbers first."""
    with torch.device("meta"):
        model = ARCHITECTURES[config.arch].builder(config)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        raise QuantizerFormatError(f"the weights do not match the {config.arch} layout: {error}") from None
    if hasattr(model, "lstm"):
        model.lstm.flatten_parameters()  # assigned tensors are not the LSTM's contiguous buffer yet
    return model


def token_frame_indices(n_tokens: int, n_frames: int, token_rate_hz: float, frame_rate_hz: float) -> np.ndarray:
    """Which feature frame each token reads: (n_tokens,) int64.

    Token ``i`` covers [i / token_rate, (i + 1) / token_rate) seconds; it reads the frame whose span
    [j / frame_rate, (j + 1) / frame_rate) holds its centre. Mapping by time, not by index, keeps a 49.9 Hz token
    stream aligned to 50 Hz features however long the clip (by index they drift one frame every 10 s).
    """
    centres = (np.arange(n_tokens, dtype=np.float64) + 0.5) / token_rate_hz
    return np.clip(np.floor(centres * frame_rate_hz).astype(np.int64), 0, max(n_frames - 1, 0))


@torch.inference_mode()
def predict_tokens(
    model: nn.Module, features: torch.Tensor, n_tokens: int, token_rate_hz: float, frame_rate_hz: float
) -> np.ndarray:
    """Tokens for one clip: ``features`` (T, input_size) at ``frame_rate_hz`` -> (n_tokens,) int64 at ``token_rate_hz``.

    The model runs over the whole feature sequence at its own rate; its per-frame argmax is then read by time.
    """
    reference = next(iter(model.parameters()), None)
    if reference is None:  # kmeans: buffers only
        reference = next(iter(model.buffers()))
    logits = model(features.to(reference.device, reference.dtype)[None])[0]
    frame_tokens = logits.argmax(dim=-1).cpu().numpy()
    return frame_tokens[token_frame_indices(n_tokens, len(frame_tokens), token_rate_hz, frame_rate_hz)]
