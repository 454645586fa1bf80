"""The one seam where codes become audio: every decode in the package goes through a ``Decoder`` chosen by name
(``--decoder``): EnCodec's own decoder (Bark's codec, or a standalone EnCodec), or Vocos for EnCodec tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..constants import CODEC_HOP_LENGTH, DEFAULT_VOCOS
from ..errors import UserError


@dataclass(frozen=True)
class Decoder:
    """Fine codes -> 24 kHz audio, one row at a time (EnCodec's LSTMs and Vocos's convolutions would read another
    row's padding). ``name`` and ``source`` go into cache keys and reports."""

    name: str
    source: str
    decode_one: Callable[[np.ndarray], np.ndarray]
    prepare: Callable[[], None] = lambda: None  # --offload: bring the codec to the GPU first

    def decode(self, rows: list[np.ndarray]) -> list[np.ndarray]:
        """Each row's (8, T) int codes -> (T * 320,) float32."""
        self.prepare()
        return [self.decode_one(codes)[: codes.shape[1] * CODEC_HOP_LENGTH] if codes.shape[1]
                else np.zeros(0, dtype=np.float32) for codes in rows]

    def describe(self) -> dict[str, Any]:
        return {"decoder": self.name, "source": self.source}


def encodec_decoder(codec, source: str | None = None, device=None) -> Decoder:
    """EnCodec's decoder: ``codec`` a loaded EnCodec (``models.Loaded``), or None to load ``source``."""
    from .codecs import encodec_decode, load_encodec

    codec = codec if codec is not None else load_encodec(source, device)

    def prepare() -> None:  # --offload: accelerate's hook brings the codec to the GPU (its forward never runs)
        hook = getattr(codec.model, "_hf_hook", None)
        if hook is not None:
            hook.pre_forward(codec.model)

    return Decoder("encodec", codec.source, lambda codes: encodec_decode(codec, codes), prepare)


def vocos_decoder(codec, source: str | None = None, device=None) -> Decoder:
    """Vocos for EnCodec tokens, loaded from ``source`` (a hub id or folder) onto ``device``."""
    from .vocos import decode_codes, load_vocos

    vocos = load_vocos(source or DEFAULT_VOCOS, device)
    return Decoder("vocos", vocos.source, lambda codes: decode_codes(vocos, codes))


DECODERS: dict[str, Callable[..., Decoder]] = {"encodec": encodec_decoder, "vocos": vocos_decoder}


def load_decoder(name: str, codec=None, source: str | None = None, device=None) -> Decoder:
    """The decoder called ``name``: EnCodec wraps ``codec`` (or loads ``source``), Vocos loads ``source``."""
    if name not in DECODERS:
        raise UserError(f"--decoder {name}: choose one of {', '.join(DECODERS)}")
    return DECODERS[name](codec, source, device)
