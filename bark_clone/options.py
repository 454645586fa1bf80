"""The options that travel together, as frozen values built by keyword and checked once where they are made: which
Bark and how it runs (``BarkOptions``), how it samples (``Sampling``), and the models that turn a recording into a
prompt (``ModelSources``). Each default is written here (or in ``constants``) once; the CLI reads them."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .constants import (
    AUTO,
    DEFAULT_BARK,
    DEFAULT_DECODER,
    DEFAULT_DTYPE,
    DEFAULT_ENCODEC,
    DEFAULT_HUBERT,
    DEFAULT_QUANTIZER,
    DEFAULT_SEMANTIC_BUDGET,
    DEFAULT_VOCOS,
    DTYPES,
)
from .errors import UserError

DECODER_NAMES = ("encodec", "vocos")  # decoders.DECODERS, named here so the CLI offers them without importing torch


# suno's generation.py defaults: generate_text_semantic(temp=0.7, min_eos_p=0.2), generate_coarse(temp=0.7),
# generate_fine(temp=0.5)
SEMANTIC_TEMPERATURE = 0.7
COARSE_TEMPERATURE = 0.7
FINE_TEMPERATURE = 0.5
MIN_EOS_P = 0.2  # the semantic model stops once end-of-speech has at least this probability
# transformers fills a top_k its Bark configs leave unset with its global default, 50, so the semantic and coarse
# stages have always sampled among their 50 likeliest tokens here (suno's own code keeps all of them)
TOP_K = 50


@dataclass(frozen=True, kw_only=True)
class Sampling:
    """Every sampling setting of a Bark generation. ``top_k`` and ``top_p`` apply to the semantic and coarse stages
    (transformers' fine stage samples from the whole softmax, and so does ours); ``greedy`` takes every stage's
    likeliest token; ``min_eos_p`` above 1 never ends speech early (fixed-length rows), None never forces it."""

    semantic_temperature: float = SEMANTIC_TEMPERATURE
    coarse_temperature: float = COARSE_TEMPERATURE
    fine_temperature: float = FINE_TEMPERATURE
    top_k: int | None = TOP_K
    top_p: float | None = None  # nucleus sampling: keep the likeliest tokens whose probabilities sum to top_p
    min_eos_p: float | None = MIN_EOS_P
    greedy: bool = False
    semantic_budget: float | None = DEFAULT_SEMANTIC_BUDGET  # a row's tokens at most, as a multiple of what its text
    # needs (constants: SPEECH_CHARACTERS_PER_SECOND, MIN_BUDGET_SECONDS); None: the checkpoint's cap alone

    def __post_init__(self) -> None:
        for name in ("semantic_temperature", "coarse_temperature", "fine_temperature"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= 10):
                raise UserError(f"the {name.replace('_', ' ')} must lie in (0, 10], not {value!r}")
        if self.top_k is not None and not (isinstance(self.top_k, int) and self.top_k >= 1):
            raise UserError(f"top-k must be a whole number of at least 1, not {self.top_k!r}")
        if self.top_p is not None and not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            raise UserError(f"--top-p must lie in (0, 1], not {self.top_p!r} (1 keeps every token)")
        if self.min_eos_p is not None and not (isinstance(self.min_eos_p, (int, float))
                                               and math.isfinite(self.min_eos_p) and self.min_eos_p > 0):
            raise UserError(f"min_eos_p must be a positive number, not {self.min_eos_p!r}")
        if self.semantic_budget is not None and not (isinstance(self.semantic_budget, (int, float)) and
                                                     math.isfinite(self.semantic_budget) and
                                                     1 <= self.semantic_budget <= 100):
            raise UserError(f"--semantic-budget must lie in [1, 100], not {self.semantic_budget!r}")

    def temperature(self, stage: str) -> float | None:
        """The temperature of ``stage`` (semantic, coarse or fine); None: greedy."""
        return None if self.greedy else getattr(self, f"{stage}_temperature")

    def identity(self) -> dict[str, Any]:
        """The settings that differ from the defaults (for cache keys and a search's identity: read from the
        dataclass, so a new field is in every key; a default run keeps the key it had before the field existed)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                if getattr(self, field.name) != field.default}


DEFAULT_SAMPLING = Sampling()


@dataclass(frozen=True, kw_only=True)
class BarkOptions:
    """Which Bark, where and how it runs, and what decodes its codes: what every command that makes Bark speak
    takes (``bark.core.open_bark`` loads it)."""

    source: str = DEFAULT_BARK  # a hub id or a folder
    device: str = "auto"
    dtype: str = DEFAULT_DTYPE  # the three stages' precision (devices.DTYPES, or auto)
    offload: bool = False  # only the running stage on the GPU
    decoder: str = DEFAULT_DECODER  # fine codes -> audio: encodec or vocos
    vocos: str = DEFAULT_VOCOS  # --decoder vocos: its weights, a hub id or a folder

    def __post_init__(self) -> None:
        if self.dtype not in (AUTO, *DTYPES):
            raise UserError(f"--dtype {self.dtype}: choose one of {', '.join((AUTO, *DTYPES))}")
        if self.decoder not in DECODER_NAMES:
            raise UserError(f"--decoder {self.decoder}: choose one of {', '.join(DECODER_NAMES)}")

    def audio_identity(self) -> dict[str, Any]:
        """What decides the audio beyond the codes, for cache keys and reports: the decoder and its weights when it
        is not the default (so a default run keeps the keys and reports it had before decoders could be chosen)."""
        if self.decoder == DEFAULT_DECODER:
            return {}
        return {"decoder": self.decoder, **({"vocos": self.vocos} if self.decoder == "vocos" else {})}


@dataclass(frozen=True, kw_only=True)
class ModelSources:
    """The models that make a prompt from a recording: HuBERT, EnCodec and the quantizer (hub ids or folders)."""

    hubert: str = DEFAULT_HUBERT
    encodec: str = DEFAULT_ENCODEC
    quantizer: str = DEFAULT_QUANTIZER
