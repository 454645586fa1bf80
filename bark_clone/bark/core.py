"""The one Bark object: the loaded ``BarkModel`` and its processor, the per-stage generation settings, device,
precision and the decoder that turns fine codes into audio, built once by ``load_bark`` (nothing is attached later).
Everything that reads a stock preset, checks a text or decodes codes asks it."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import CODEC_SAMPLE_RATE, DEFAULT_BARK, DEFAULT_DECODER, DEFAULT_VOCOS
from ..errors import UserError
from ..models.decoders import Decoder, load_decoder
from ..models.devices import resolve_dtype
from ..models.loading import Loaded, hub_offline, load_pretrained, offline_hint
from ..options import BarkOptions
from ..prompting.format import KEYS, SpeakerPrompt

GENERATION_STAGES = ("semantic", "coarse_acoustics", "fine_acoustics")  # the transformers; the codec stays float32


@dataclass
class StageConfigs:
    """The per-stage generation settings a Bark checkpoint ships in its generation_config.json."""

    semantic: Any
    coarse: Any
    fine: Any
    codebook_size: int


@dataclass
class Bark(Loaded):
    """Bark as loaded: ``model`` (transformers' ``BarkModel``), its ``processor``, the stages' ``dtype``, their
    generation ``configs`` and the ``decoder`` of its audio."""

    processor: Any
    dtype: str
    configs: StageConfigs
    decoder: Decoder

    def preset(self, name: str) -> dict[str, np.ndarray]:
        """A stock voice's three streams (int64), read through the processor; ``UserError`` naming the stock voices
        this Bark has when it has none of that name."""
        available = sorted(self.processor.available_voice_presets)
        if name not in available:
            shown = ", ".join(available[:6]) + (f" ... ({len(available)} in all)" if len(available) > 6 else "")
            raise UserError(f"this Bark ({self.source}) has no stock voice {name[:80]!r}: "
                            + (f"it has {shown}" if available else "it ships none (a speaker prompt works)"))
        history = self.processor("x", voice_preset=name)["history_prompt"]
        return {key: history[key].cpu().numpy().astype(np.int64) for key in KEYS}

    def history(self, voice: SpeakerPrompt | str | None) -> dict[str, np.ndarray] | None:
        """A row's history: a prompt's three streams, a stock preset's, or None."""
        if voice is None:
            return None
        if isinstance(voice, SpeakerPrompt):
            return {key: np.asarray(value, dtype=np.int64) for key, value in voice.arrays.items()}
        return self.preset(voice)

    def presets(self, language: str) -> list[str]:
        """The stock voices for ``language`` (the v2 ones when present); [] when there are none."""
        available = self.processor.available_voice_presets
        for prefix in (f"v2/{language}_speaker_", f"{language}_speaker_"):
            names = sorted(name for name in available if name.startswith(prefix))
            if names:
                return names
        return []

    def decode(self, fine: list[np.ndarray]) -> list[np.ndarray]:
        """Each row's (8, T) codes -> (T * 320,) float32 at 24 kHz, through the chosen decoder."""
        return self.decoder.decode(fine)

    @property
    def codec(self) -> Loaded:
        """Bark's own EnCodec (the 24 kHz model at 6 kbps), usable wherever an EnCodec is."""
        return Loaded(self.model.codec_model, f"{self.source} (its codec)", self.revision, self.device)

    @property
    def sample_rate(self) -> int:
        """Bark's output rate (24 kHz for every released checkpoint)."""
        return int(getattr(self.model.generation_config, "sample_rate", CODEC_SAMPLE_RATE))

    @staticmethod
    def check_text(text: str) -> str:
        """``text`` itself when Bark can speak it (``require_text``)."""
        return require_text(text)


def load_bark(source: str = DEFAULT_BARK, device=None, dtype: str = "float32", offload: bool = False,
              decoder: str = DEFAULT_DECODER, vocos: str = DEFAULT_VOCOS) -> Bark:
    """Bark from a hub id or local folder, for Python callers (the commands pass their ``BarkOptions`` to
    ``open_bark``). float32 by default here, so a library call gives the same numbers on every machine."""
    import torch

    options = BarkOptions(source=source, dtype=dtype, offload=offload, decoder=decoder, vocos=vocos)
    return open_bark(options, torch.device(device) if device is not None else torch.device("cpu"))


def open_bark(options: BarkOptions, device=None) -> Bark:
    """Bark as ``options`` say, on ``device`` (one already resolved, e.g. this process's GPU under torchrun; by
    default ``options.device``).

    ``dtype`` sets the three generation stages' precision (the decoder and the audio stay float32): bfloat16 halves
    their memory on any device, float16 needs a GPU, ``auto`` (the commands' default) picks what is fastest here
    (``devices``). ``offload`` keeps only the running stage on the GPU (transformers' ``enable_cpu_offload``: CUDA
    and accelerate). ``decoder``: ``encodec`` (Bark's own codec) or ``vocos`` (from ``vocos``, a hub id or
    folder)."""
    import torch
    from transformers import BarkModel

    from ..models.loading import resolve_device

    device = torch.device(device) if device is not None else resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    check_precision(dtype, options.offload, device)
    source = options.source
    loaded = load_pretrained(source, ("bark",), BarkModel, "a Bark model", "--bark", torch.device("cpu"))
    dtype = set_precision(loaded.model, dtype)  # on the CPU: the device never holds a float32 copy of the stages
    if options.offload:  # accelerate moves each stage to the GPU while it runs
        loaded.model.enable_cpu_offload(gpu_id=device.index or 0)
    else:
        loaded.model.to(device)
    codec = Loaded(loaded.model.codec_model, f"{source} (its codec)", loaded.revision, device)
    return Bark(loaded.model, source, loaded.revision, device, processor=bark_processor(source), dtype=dtype,
                configs=stage_configs(loaded.model, source),
                decoder=load_decoder(options.decoder, codec, options.vocos, device))


def set_precision(model, dtype: str) -> str:
    """The generation stages in ``dtype`` (the codec, and so the audio, stays float32); the precision set."""
    import torch

    for stage in GENERATION_STAGES:
        getattr(model, stage).to(getattr(torch, dtype))
    return dtype


def bark_processor(source: str):
    from transformers import BarkProcessor

    try:
        return BarkProcessor.from_pretrained(source, local_files_only=hub_offline())
    except OSError as error:
        raise offline_hint(source, "the Bark tokenizer of", "--bark", error) from None
    except ValueError as error:
        raise UserError(f"--bark {source} has no usable tokenizer: {error}") from None


def check_precision(dtype: str, offload: bool, device) -> None:
    """Refuse, before loading anything, a precision or offload the device cannot run (the name itself was checked
    where the options were made: ``BarkOptions``)."""
    import importlib.util

    import torch

    kind = torch.device(device).type if device is not None else "cpu"
    if dtype == "float16" and kind == "cpu":
        from ..models.devices import native_bfloat16

        native = ("bfloat16 (this CPU computes it natively) or float32" if native_bfloat16() else
                  "float32 (this CPU has no bfloat16 instructions: bfloat16 would be emulated, far slower)")
        raise UserError(f"--dtype float16 is for GPUs (CPU kernels for it are slow or missing); on this CPU use "
                        f"{native}, or auto")
    if offload and kind != "cuda":
        raise UserError("--offload moves Bark's stages between the CPU and a GPU: it needs --device cuda")
    if offload and importlib.util.find_spec("accelerate") is None:
        raise UserError("--offload needs the accelerate package: pip install accelerate")


def stage_configs(model, source: str) -> StageConfigs:
    """Bark's per-stage generation settings; a folder without them fails here, not in the middle of a job."""
    from transformers.models.bark.generation_configuration_bark import (
        BarkCoarseGenerationConfig,
        BarkFineGenerationConfig,
        BarkSemanticGenerationConfig,
    )

    generation = model.generation_config
    try:
        return StageConfigs(BarkSemanticGenerationConfig(**generation.semantic_config),
                            BarkCoarseGenerationConfig(**generation.coarse_acoustics_config),
                            BarkFineGenerationConfig(**generation.fine_acoustics_config),
                            int(generation.codebook_size))
    except (AttributeError, TypeError) as error:
        raise UserError(f"--bark {source} has no usable generation_config.json (suno's per-stage settings): "
                        f"{error}") from None


def require_text(text: str) -> str:
    """``text`` itself, checked once where it comes in: ``UserError`` for a character no file or tokenizer can hold (a
    lone surrogate, NUL), or for a text with nothing to say (only spaces, zero-width and control characters)."""
    for position, character in enumerate(text):
        if character == "\0" or 0xD800 <= ord(character) <= 0xDFFF:
            name = "a NUL character" if character == "\0" else f"a lone surrogate (U+{ord(character):04X})"
            raise UserError(f"the text holds {name} at character {position + 1}; it is not text that can be spoken")
    if all(character.isspace() or unicodedata.category(character) in ("Cc", "Cf") for character in text):
        raise UserError("the text to speak is empty")
    return text
