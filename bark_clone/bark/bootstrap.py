"""Prompts made from Bark's own generations: all three streams come from the same generation, its semantic tokens
exact (no quantizer in between), cut to the tail that ends with the utterance, in Bark's length ratio."""

from __future__ import annotations

from ..constants import (
    CODEC_FRAME_RATE_HZ,
    DEFAULT_MAX_SECONDS,
    MIN_SPEECH_SECONDS,
    SEMANTIC_RATE_HZ,
    semantic_length_for_frames,
)
from ..errors import UserError
from ..prompting.format import SpeakerPrompt


def prompt_from_generation(generation, max_seconds: float = DEFAULT_MAX_SECONDS) -> SpeakerPrompt:
    """The last <= ``max_seconds`` of a ``bark.Generation`` as a prompt: ``fine_codes[:, -T:]`` and the last
    ``round(T * 49.9 / 75)`` semantic tokens, so both end where the utterance ends. ``UserError`` when the
    generation is too short to make a usable prompt."""
    fine = generation.fine_codes
    tokens = generation.semantic_tokens
    n_frames = min(fine.shape[1], int(max_seconds * CODEC_FRAME_RATE_HZ))
    n_tokens = semantic_length_for_frames(n_frames)
    if n_tokens > len(tokens):  # fewer tokens than the codes cover (a cut-off generation): shrink to the tokens
        n_tokens = len(tokens)
        n_frames = min(n_frames, int(n_tokens * CODEC_FRAME_RATE_HZ / SEMANTIC_RATE_HZ) + 1)
        while semantic_length_for_frames(n_frames) > n_tokens:
            n_frames -= 1
        n_tokens = semantic_length_for_frames(n_frames)
    if n_frames < MIN_SPEECH_SECONDS * CODEC_FRAME_RATE_HZ or n_tokens == 0:
        raise UserError(f"the generation covers {n_frames / CODEC_FRAME_RATE_HZ:.2f} s; a prompt needs at least "
                        f"about {MIN_SPEECH_SECONDS:g} s")
    prompt = SpeakerPrompt.from_streams(tokens[len(tokens) - n_tokens:], fine[:, fine.shape[1] - n_frames:])
    try:
        prompt.validate()
    except ValueError as error:
        raise UserError(f"the generation gives no usable prompt: {error}") from None
    return prompt
