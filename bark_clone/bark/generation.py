"""Bark generation: the one batched path (text -> semantic -> coarse -> fine -> 24 kHz audio) that speak, evaluate,
refine, the search and generate-data all use: rows that each carry their own voice, run by our engine
(``engine.py``, ``rows.py``) on the weights of transformers' ``BarkModel``, with suno's settings."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..clone.models import Loaded, hub_offline, load_pretrained, offline_hint
from ..constants import CODEC_HOP_LENGTH, CODEC_SAMPLE_RATE, DEFAULT_BARK, N_FINE_CODEBOOKS, SEMANTIC_VOCAB_SIZE
from ..devices import DTYPES, resolve_dtype
from ..errors import UserError
from ..prompt import SpeakerPrompt

# suno's generation.py defaults: generate_text_semantic(temp=0.7, min_eos_p=0.2), generate_coarse(temp=0.7),
# generate_fine(temp=0.5)
SEMANTIC_TEMPERATURE = 0.7
COARSE_TEMPERATURE = 0.7
FINE_TEMPERATURE = 0.5
MIN_EOS_P = 0.2  # the semantic model stops once end-of-speech has at least this probability


GENERATION_STAGES = ("semantic", "coarse_acoustics", "fine_acoustics")  # the transformers; the codec stays float32


def load_bark(source: str = DEFAULT_BARK, device=None, dtype: str = "float32", offload: bool = False) -> Loaded:
    """``BarkModel`` plus its ``BarkProcessor`` (as ``loaded.processor``) from a hub id or local folder.

    ``dtype`` sets the three generation stages' precision (EnCodec and the audio stay float32): bfloat16 halves
    their memory on any device, float16 needs a GPU, ``auto`` (the commands' default) picks what is fastest here
    (``devices``); float32 by default here, so a library call gives the same numbers on every machine. ``offload`` keeps only the running stage on the GPU
    (transformers' ``enable_cpu_offload``, which needs CUDA and the accelerate package)."""
    import torch
    from transformers import BarkModel, BarkProcessor

    dtype = resolve_dtype(dtype, device)
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


def voice_arrays(bark: Loaded, voice: SpeakerPrompt | str | None) -> dict[str, np.ndarray] | None:
    """A row's history: the prompt's three streams, a stock preset's (through the processor), or None."""
    if voice is None:
        return None
    if isinstance(voice, SpeakerPrompt):
        return {key: np.asarray(value, dtype=np.int64) for key, value in voice.arrays.items()}
    history = bark.processor("x", voice_preset=voice)["history_prompt"]
    return {key: history[key].cpu().numpy().astype(np.int64) for key in ("semantic_prompt", "coarse_prompt",
                                                                         "fine_prompt")}


def text_ids(bark: Loaded, texts: list[str], configs: StageConfigs):
    """The semantic model's text input (B, 256): the tokenizer's ids offset past the semantic vocabulary, its
    padding the text pad token (as ``BarkSemanticModel.generate`` makes it)."""
    inputs = bark.processor(texts)
    ids = inputs["input_ids"] + configs.semantic.text_encoding_offset
    ids = ids.masked_fill(inputs["attention_mask"] == 0, configs.semantic.text_pad_token)
    return ids.long().to(bark.device)


def sampling_for(configs: StageConfigs, semantic_temperature: float | None = SEMANTIC_TEMPERATURE,
                 min_eos_p: float | None = MIN_EOS_P, greedy: bool = False):
    """suno's temperatures (or argmax everywhere with ``greedy``) and the checkpoint's semantic token limit."""
    from .rows import Sampling

    if greedy:
        return Sampling(None, None, None, min_eos_p, int(configs.semantic.max_new_tokens))
    return Sampling(semantic_temperature, COARSE_TEMPERATURE, FINE_TEMPERATURE, min_eos_p,
                    int(configs.semantic.max_new_tokens))


def semantic_tokens(bark: Loaded, texts: list[str], histories: list, configs: StageConfigs, sampling) -> list:
    """Text -> each row's semantic tokens, cut at its end of speech, and whether it ended."""
    from .engine import CausalStage
    from .rows import semantic_stage

    rows = semantic_stage(CausalStage(bark.model.semantic), text_ids(bark, texts, configs),
                          [None if history is None else history["semantic_prompt"] for history in histories],
                          configs.semantic, sampling).cpu().numpy()
    return [(semantic_until_end(row), bool((row >= SEMANTIC_VOCAB_SIZE).any())) for row in rows]


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


def decode(bark: Loaded, fine: list[np.ndarray]) -> list[np.ndarray]:
    """Each row's (8, T) codes -> (T * 320,) float32 at 24 kHz, through Bark's EnCodec (one row at a time, as
    transformers does: its LSTMs change with padding)."""
    import torch

    from .engine import bring_to_device

    bring_to_device(bark.model.codec_model)
    longest = max(max(codes.shape[1] for codes in fine), 1)
    stacked = torch.zeros((len(fine), N_FINE_CODEBOOKS, longest), dtype=torch.long)
    for row, codes in enumerate(fine):
        stacked[row, :, : codes.shape[1]] = torch.from_numpy(codes)
    audio = bark.model.codec_decode(stacked.to(bark.device), [max(codes.shape[1], 1) for codes in fine])
    return [audio[row].float().cpu().numpy().reshape(-1)[: codes.shape[1] * CODEC_HOP_LENGTH]
            for row, codes in enumerate(fine)]


def generate_rows(bark: Loaded, rows: list[tuple[str, SpeakerPrompt | str | None]],
                  seed: int | list[int] | None = None, semantic_temperature: float = SEMANTIC_TEMPERATURE,
                  greedy: bool = False, min_eos_p: float | None = MIN_EOS_P) -> list[Generation]:
    """Bark speaks every row's text in that row's own voice, all rows in one batch (any mix of prompts of any
    length, stock presets and None); one ``Generation`` per row. The engine's loops (``rows.py``).

    ``seed``: one per row, or an int for ``seed + i`` on row ``i``. Each row samples from its own generator, so a
    row comes out the same in any batch, and a row alone with seed s as transformers' Bark after
    ``torch.manual_seed(s)``. ``greedy`` takes every stage's likeliest token; ``min_eos_p`` above 1 never ends
    speech early (fixed-length rows)."""
    import torch

    from .engine import CausalStage, FineStage
    from .rows import coarse_row, coarse_stage, fine_stage

    configs = stage_configs(bark)
    histories = [voice_arrays(bark, voice) for _, voice in rows]
    sampling = sampling_for(configs, semantic_temperature, min_eos_p, greedy)
    if seed is not None:
        seeds = [seed + index for index in range(len(rows))] if isinstance(seed, int) else list(seed)
        sampling.generators = [torch.Generator(bark.device).manual_seed(int(value)) for value in seeds]
    with torch.inference_mode():
        semantic = semantic_tokens(bark, [text for text, _ in rows], histories, configs, sampling)
        coarse = coarse_stage(CausalStage(bark.model.coarse_acoustics),
                              [coarse_row(tokens, history) for (tokens, _), history in zip(semantic, histories)],
                              sampling, bark.device)
        fine = fine_stage(FineStage(bark.model.fine_acoustics), coarse,
                          [None if history is None else history["fine_prompt"] for history in histories], sampling,
                          bark.device)
        audio = decode(bark, fine)
    return [Generation(tokens, codes, samples, ended)
            for (tokens, ended), codes, samples in zip(semantic, fine, audio)]


def generate_batch(bark: Loaded, texts: list[str], voice: SpeakerPrompt | str | None = None,
                   seed: int | None = None, semantic_temperature: float = SEMANTIC_TEMPERATURE) -> list[Generation]:
    """Bark speaks every text of ``texts`` in one batch, in ``voice``; one ``Generation`` per text (text ``i``
    seeded with ``seed + i``)."""
    return generate_rows(bark, [(text, voice) for text in texts], seed, semantic_temperature)


def generate_row_batches(bark: Loaded, rows: list[tuple[str, SpeakerPrompt | str | None]],
                         seed: int | list[int] | None = None, batch_size: int | None = None,
                         semantic_temperature: float = SEMANTIC_TEMPERATURE) -> list[Generation]:
    """``generate_rows`` at most ``batch_size`` rows a generation (all in one when None): a batch size bounds memory
    on small GPUs, and 1 is the one-at-a-time baseline the bench compares with. Rows keep their seeds (``seed + i``
    for row ``i`` of the whole list), so any batch size gives the same generations."""
    seeds = None if seed is None else ([seed + index for index in range(len(rows))] if isinstance(seed, int)
                                       else list(seed))
    size = batch_size or max(len(rows), 1)
    results: list[Generation] = []
    for first in range(0, len(rows), size):
        results += generate_rows(bark, rows[first: first + size], None if seeds is None else seeds[first: first + size],
                                 semantic_temperature)
    return results


def generate_batches(bark: Loaded, texts: list[str], voice: SpeakerPrompt | str | None = None,
                     seed: int | None = None, batch_size: int | None = None,
                     semantic_temperature: float = SEMANTIC_TEMPERATURE) -> list[Generation]:
    """Every text in ``voice``, at most ``batch_size`` per generation; text ``i`` seeded with ``seed + i``."""
    return generate_row_batches(bark, [(text, voice) for text in texts], seed, batch_size, semantic_temperature)


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
