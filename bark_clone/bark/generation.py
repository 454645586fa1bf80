"""Bark generation: the one batched path (text -> semantic -> coarse -> fine -> 24 kHz audio) that speak, evaluate,
refine and generate-data all use, through transformers' ``BarkModel`` sub-models with suno's settings."""

from __future__ import annotations

import contextlib
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..clone.models import Loaded, hub_offline, load_pretrained, offline_hint
from ..constants import (
    CODEBOOK_SIZE,
    CODEC_HOP_LENGTH,
    CODEC_SAMPLE_RATE,
    DEFAULT_BARK,
    N_COARSE_CODEBOOKS,
    SEMANTIC_VOCAB_SIZE,
)
from ..errors import UserError
from ..prompt import SpeakerPrompt

# suno's generation.py defaults: generate_text_semantic(temp=0.7, min_eos_p=0.2), generate_coarse(temp=0.7),
# generate_fine(temp=0.5)
SEMANTIC_TEMPERATURE = 0.7
COARSE_TEMPERATURE = 0.7
FINE_TEMPERATURE = 0.5
MIN_EOS_P = 0.2  # the semantic model stops once end-of-speech has at least this probability


DTYPES = ("float32", "float16", "bfloat16")
COARSE_CODES_END = SEMANTIC_VOCAB_SIZE + N_COARSE_CODEBOOKS * CODEBOOK_SIZE  # coarse ids past this are not codes
GENERATION_STAGES = ("semantic", "coarse_acoustics", "fine_acoustics")  # the transformers; the codec stays float32


def load_bark(source: str = DEFAULT_BARK, device=None, dtype: str = "float32", offload: bool = False) -> Loaded:
    """``BarkModel`` plus its ``BarkProcessor`` (as ``loaded.processor``) from a hub id or local folder.

    ``dtype`` sets the three generation stages' precision (EnCodec and the audio stay float32): bfloat16 halves
    their memory on any device, float16 needs a GPU. ``offload`` keeps only the running stage on the GPU
    (transformers' ``enable_cpu_offload``, which needs CUDA and the accelerate package)."""
    import torch
    from transformers import BarkModel, BarkProcessor

    check_precision(dtype, offload, device)
    loaded = load_pretrained(source, ("bark",), BarkModel, "a Bark model", "--bark", torch.device("cpu"))
    set_precision(loaded, dtype)  # on the CPU: the device never holds a float32 copy of the stages
    device = torch.device(device) if device is not None else torch.device("cpu")
    if offload:  # accelerate moves each stage to the GPU while it runs
        loaded.model.enable_cpu_offload(gpu_id=device.index or 0)
    else:
        loaded.model.to(device)
    loaded.device = device
    try:
        loaded.processor = BarkProcessor.from_pretrained(source, local_files_only=hub_offline())
    except OSError as error:
        raise offline_hint(source, "the Bark tokenizer of", "--bark", error) from None
    except ValueError as error:
        raise UserError(f"--bark {source} has no usable tokenizer: {error}") from None
    stage_configs(loaded)  # a folder without suno's generation settings fails here, not in the middle of a job
    return loaded


def bark_codec(bark: Loaded) -> Loaded:
    """Bark's own EnCodec (``BarkModel.codec_model``, the 24 kHz model at 6 kbps), usable wherever an EnCodec is:
    evaluation and the long-text guard need no second copy."""
    return Loaded(bark.model.codec_model, f"{bark.source} (its codec)", bark.revision, bark.device)


def language_presets(bark: Loaded, language: str) -> list[str]:
    """The Bark processor's stock voices for ``language`` (the v2 ones when present); [] when it has none."""
    available = bark.processor.available_voice_presets
    for prefix in (f"v2/{language}_speaker_", f"{language}_speaker_"):
        names = sorted(name for name in available if name.startswith(prefix))
        if names:
            return names
    return []


def check_precision(dtype: str, offload: bool, device) -> None:
    """Refuse, before loading anything, a precision or offload the device cannot run."""
    import importlib.util

    import torch

    kind = torch.device(device).type if device is not None else "cpu"
    if dtype not in DTYPES:
        raise UserError(f"--dtype {dtype}: choose one of {', '.join(DTYPES)}")
    if dtype == "float16" and kind == "cpu":
        raise UserError("--dtype float16 is for GPUs (CPU kernels for it are slow or missing); use bfloat16 on CPU")
    if offload and kind != "cuda":
        raise UserError("--offload moves Bark's stages between the CPU and a GPU: it needs --device cuda")
    if offload and importlib.util.find_spec("accelerate") is None:
        raise UserError("--offload needs the accelerate package: pip install accelerate")


def set_precision(bark: Loaded, dtype: str) -> None:
    """The generation stages in ``dtype``; the codec (and so the audio) stays float32."""
    import torch

    for stage in GENERATION_STAGES:
        getattr(bark.model, stage).to(getattr(torch, dtype))
    bark.dtype = dtype


@dataclass
class StageConfigs:
    """The per-stage generation settings a Bark checkpoint ships in its generation_config.json."""

    semantic: Any
    coarse: Any
    fine: Any
    codebook_size: int


def stage_configs(bark: Loaded) -> StageConfigs:
    """Bark's per-stage generation settings; ``UserError`` when the folder lacks them."""
    from transformers.models.bark.generation_configuration_bark import (
        BarkCoarseGenerationConfig,
        BarkFineGenerationConfig,
        BarkSemanticGenerationConfig,
    )

    generation = bark.model.generation_config
    try:
        return StageConfigs(BarkSemanticGenerationConfig(**generation.semantic_config),
                            BarkCoarseGenerationConfig(**generation.coarse_acoustics_config),
                            BarkFineGenerationConfig(**generation.fine_acoustics_config),
                            int(generation.codebook_size))
    except (AttributeError, TypeError) as error:
        raise UserError(f"--bark {bark.source} has no usable generation_config.json (suno's per-stage settings): "
                        f"{error}") from None


@contextlib.contextmanager
def last_position_logits(bark: Loaded):
    """While generating, compute the semantic and coarse models' logits for the last position only.

    transformers' Bark computes logits for every position of each prefill (887 positions x 12 096 codes per coarse
    window), then samples from the last. Sampling reads nothing else, so cutting the rest changes no token.
    """
    hooks = [model.lm_head.register_forward_pre_hook(lambda module, inputs: (inputs[0][:, -1:],))
             for model in (bark.model.semantic, bark.model.coarse_acoustics)]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def _only_codebook_codes(module, inputs, logits):
    logits[..., COARSE_CODES_END:] = float("-inf")
    return logits


@contextlib.contextmanager
def codebook_codes_only(bark: Loaded):
    """While generating, let the coarse model choose among codebook codes only, as suno's generation.py does.

    transformers' coarse sampler leaves the ids past the second codebook (12 048..12 095: pad and infer tokens) open
    on odd steps; a trained Bark almost never picks them, a random one does, and its codes then decode modulo 1024
    while its history keeps ids no recording has (voice adapters' examples are laid out from real codes)."""
    hook = bark.model.coarse_acoustics.lm_head.register_forward_hook(_only_codebook_codes)
    try:
        yield
    finally:
        hook.remove()


def prepare_inputs(bark: Loaded, texts: list[str], voice: SpeakerPrompt | str | None) -> tuple[dict, dict | None]:
    """The processor's token ids (on Bark's device) and the history prompt of ``voice`` (a prompt, a stock
    preset's name, or None for a random voice)."""
    if isinstance(voice, SpeakerPrompt):
        voice = {key: value.astype(np.int64) for key, value in voice.arrays.items()}
    inputs = bark.processor(texts, voice_preset=voice)
    history = inputs.pop("history_prompt", None)
    if history is not None:
        history = {key: value.to(bark.device) for key, value in history.items()}
    return {key: inputs[key].to(bark.device) for key in ("input_ids", "attention_mask")}, history


def generate_semantic(bark: Loaded, inputs: dict, history: dict | None, configs: StageConfigs,
                      temperature: float = SEMANTIC_TEMPERATURE, min_eos_p: float = MIN_EOS_P):
    """Text -> semantic tokens: (B, N) int64 at 49.9 Hz, each row padded after its end-of-speech with ids >= 10 000.

    ``min_eos_p`` above 1 puts end of speech out of reach (the benchmark's fixed-length samples)."""
    return bark.model.semantic.generate(
        inputs["input_ids"], attention_mask=inputs["attention_mask"], history_prompt=history,
        semantic_generation_config=configs.semantic, do_sample=True, temperature=temperature, min_eos_p=min_eos_p)


def generate_coarse(bark: Loaded, semantic, history: dict | None, configs: StageConfigs):
    """Semantic tokens -> the first 2 codebooks: ((B, 2, T) codes at 75 Hz, (B,) flattened lengths)."""
    return bark.model.coarse_acoustics.generate(
        semantic.clone(), semantic_generation_config=configs.semantic, coarse_generation_config=configs.coarse,
        codebook_size=configs.codebook_size, history_prompt=history, return_output_lengths=True, do_sample=True,
        temperature=COARSE_TEMPERATURE)


def generate_fine(bark: Loaded, coarse, history: dict | None, configs: StageConfigs):
    """Coarse codes -> all 8 codebooks: (B, 8, T) at 75 Hz."""
    return bark.model.fine_acoustics.generate(
        coarse, semantic_generation_config=configs.semantic, coarse_generation_config=configs.coarse,
        fine_generation_config=configs.fine, codebook_size=configs.codebook_size, history_prompt=history,
        do_sample=True, temperature=FINE_TEMPERATURE)


def semantic_until_end(row: np.ndarray) -> np.ndarray:
    """One row of generated semantic ids, cut at its end-of-speech (the first id >= 10 000): (N,) int64."""
    end = np.flatnonzero(row >= SEMANTIC_VOCAB_SIZE)
    return row[: end[0] if len(end) else len(row)].astype(np.int64)


@dataclass
class Generation:
    """What Bark made for one text: all three streams and the audio they decode to."""

    semantic_tokens: np.ndarray  # (N,) int64 at 49.9 Hz, without end-of-speech
    fine_codes: np.ndarray  # (8, T) int64 at 75 Hz; the coarse codes are its first 2 rows
    audio: np.ndarray  # (T * 320,) float32 at 24 kHz
    ended: bool  # the semantic model emitted end-of-speech (False: cut off at its token limit)


def generate_batch(bark: Loaded, texts: list[str], voice: SpeakerPrompt | str | None = None,
                   seed: int | None = None, semantic_temperature: float = SEMANTIC_TEMPERATURE) -> list[Generation]:
    """Bark speaks every text of ``texts`` in one batch, in ``voice``; one ``Generation`` per text."""
    import torch

    configs = stage_configs(bark)
    if seed is not None:
        torch.manual_seed(seed)
    inputs, history = prepare_inputs(bark, texts, voice)
    with torch.inference_mode(), last_position_logits(bark), codebook_codes_only(bark):
        semantic = generate_semantic(bark, inputs, history, configs, semantic_temperature)
        coarse, lengths = generate_coarse(bark, semantic, history, configs)
        fine = generate_fine(bark, coarse, history, configs)
        frames = (lengths // N_COARSE_CODEBOOKS).tolist()
        audio = bark.model.codec_decode(fine, [max(n, 1) for n in frames])
    results = []
    for row, n_frames in enumerate(frames):
        tokens = semantic[row].cpu().numpy()
        results.append(Generation(semantic_until_end(tokens), fine[row, :, :n_frames].cpu().numpy().astype(np.int64),
                                  audio[row].float().cpu().numpy().reshape(-1)[: n_frames * CODEC_HOP_LENGTH],
                                  bool((tokens >= SEMANTIC_VOCAB_SIZE).any())))
    return results


def generate_batches(bark: Loaded, texts: list[str], voice: SpeakerPrompt | str | None = None,
                     seed: int | None = None, batch_size: int | None = None,
                     semantic_temperature: float = SEMANTIC_TEMPERATURE) -> list[Generation]:
    """Every text in ``voice``, at most ``batch_size`` per generation (all in one when None): a batch size bounds
    memory on small GPUs, and 1 is the one-at-a-time baseline the bench compares with. Slice ``i`` is seeded with
    ``seed + i``, so the whole stays reproducible; with one slice it equals ``generate_batch``."""
    size = batch_size or max(len(texts), 1)
    results: list[Generation] = []
    for index, first in enumerate(range(0, len(texts), size)):
        results += generate_batch(bark, texts[first: first + size], voice, None if seed is None else seed + index,
                                  semantic_temperature)
    return results


def generate(bark: Loaded, texts: list[str], voice: SpeakerPrompt | str | None = None, seed: int | None = None,
             semantic_temperature: float = SEMANTIC_TEMPERATURE, batch_size: int | None = None) -> list[np.ndarray]:
    """Bark speaks each text in ``voice`` (``batch_size`` texts a generation, all by default): a list of (n,)
    float32 at 24 kHz."""
    return [generation.audio for generation in generate_batches(bark, texts, voice, seed, batch_size,
                                                                 semantic_temperature)]


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


def speak(bark: Loaded, prompt: SpeakerPrompt, text: str, seed: int | None = None) -> np.ndarray:
    """One text in the prompt's voice: (n,) float32 at 24 kHz."""
    return generate(bark, [require_text(text)], prompt, seed)[0]


def sample_rate(bark: Loaded) -> int:
    """Bark's output rate (24 kHz for every released checkpoint)."""
    return int(getattr(bark.model.generation_config, "sample_rate", CODEC_SAMPLE_RATE))
