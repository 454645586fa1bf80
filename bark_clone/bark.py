"""Bark generation through transformers' ``BarkModel`` and ``BarkProcessor``, with a speaker prompt as voice."""

from __future__ import annotations

import numpy as np

from .constants import CODEC_SAMPLE_RATE, DEFAULT_BARK
from .errors import UserError
from .models import Loaded, hub_offline, load_pretrained, offline_hint
from .prompt import SpeakerPrompt

# suno's defaults: generate_text_semantic(temp=0.7), generate_coarse(temp=0.7), generate_fine(temp=0.5)
SEMANTIC_TEMPERATURE = 0.7
COARSE_TEMPERATURE = 0.7
FINE_TEMPERATURE = 0.5


def load_bark(source: str = DEFAULT_BARK, device=None) -> Loaded:
    """``BarkModel`` plus its ``BarkProcessor`` (as ``loaded.processor``) from a hub id or local folder."""
    from transformers import BarkModel, BarkProcessor

    loaded = load_pretrained(source, ("bark",), BarkModel, "a Bark model", "--bark", device)
    try:
        loaded.processor = BarkProcessor.from_pretrained(source, local_files_only=hub_offline())
    except OSError as error:
        raise offline_hint(source, "the Bark tokenizer of", "--bark", error) from None
    except ValueError as error:
        raise UserError(f"--bark {source} has no usable tokenizer: {error}") from None
    return loaded


def generate(
    bark: Loaded,
    texts: list[str],
    voice: SpeakerPrompt | str | None = None,
    seed: int | None = None,
    semantic_temperature: float = SEMANTIC_TEMPERATURE,
    **generate_kwargs,
) -> list[np.ndarray]:
    """Bark speaks each text (one batch) in ``voice``: a prompt, a stock preset's name, or None for a random voice.

    Returns a list of (n,) float32 at 24 kHz.
    """
    import torch

    if seed is not None:
        torch.manual_seed(seed)
    if isinstance(voice, SpeakerPrompt):
        voice = {key: value.astype(np.int64) for key, value in voice.arrays.items()}
    inputs = bark.processor(texts, voice_preset=voice)
    history = inputs.pop("history_prompt", None)
    inputs = {key: value.to(bark.device) for key, value in inputs.items()}
    if history is not None:
        inputs["history_prompt"] = {key: value.to(bark.device) for key, value in history.items()}
    with torch.inference_mode():
        audio, lengths = bark.model.generate(
            **inputs,
            do_sample=True,
            semantic_temperature=semantic_temperature,
            coarse_temperature=COARSE_TEMPERATURE,
            fine_temperature=FINE_TEMPERATURE,
            return_output_lengths=True,
            **generate_kwargs,
        )
    return [audio[index, :length].float().cpu().numpy() for index, length in enumerate(lengths)]


def speak(bark: Loaded, prompt: SpeakerPrompt, text: str, seed: int | None = None) -> np.ndarray:
    """One text in the prompt's voice: (n,) float32 at 24 kHz."""
    if not text.strip():
        raise UserError("the text to speak is empty")
    return generate(bark, [text], prompt, seed)[0]


def sample_rate(bark: Loaded) -> int:
    """Bark's output rate (24 kHz for every released checkpoint)."""
    return int(getattr(bark.model.generation_config, "sample_rate", CODEC_SAMPLE_RATE))
