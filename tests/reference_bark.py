"""transformers' own Bark generation (``BarkSemanticModel`` / ``BarkCoarseModel`` / ``BarkFineModel.generate``), the
path bark-clone used before its engine: the reference the engine's equality tests and the bench's peer rows run.
The one change is suno's rule that the coarse model picks codebook codes only (the engine's rule too)."""

from __future__ import annotations

import contextlib

import numpy as np

CODES_END = 10_000 + 2 * 1024


@contextlib.contextmanager
def codes_only(bark):
    def hook(module, inputs, logits):
        logits[..., CODES_END:] = float("-inf")
        return logits

    handle = bark.model.coarse_acoustics.lm_head.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def transformers_generate(bark, texts: list[str], voice=None, seed: int | None = None, greedy: bool = False,
                          min_eos_p: float = 0.2, max_semantic_tokens: int | None = None, times: dict | None = None,
                          top_p: float | None = None):
    """(semantic (B, N), coarse (B, 2T) flattened, lengths (B,), fine (B, 8, T)) from transformers' loops, one
    history for the whole batch (all transformers can do). ``times`` gets each stage's seconds."""
    import copy
    import time

    import torch

    from bark_clone.prompting.format import SpeakerPrompt

    configs = copy.deepcopy(bark.configs)
    if max_semantic_tokens is not None:
        configs.semantic.max_new_tokens = max_semantic_tokens
    if isinstance(voice, SpeakerPrompt):
        voice = {key: value.astype(np.int64) for key, value in voice.arrays.items()}
    inputs = bark.processor(texts, voice_preset=voice)
    history = inputs.pop("history_prompt", None)
    if history is not None:
        history = {key: value.to(bark.device) for key, value in history.items()}
    sample = {"do_sample": False} if greedy else {"do_sample": True, "temperature": 0.7,
                                                  **({"top_p": top_p} if top_p is not None else {})}
    times = {} if times is None else times
    if seed is not None:
        torch.manual_seed(seed)
    with torch.inference_mode(), codes_only(bark):
        started = time.perf_counter()
        semantic = bark.model.semantic.generate(
            inputs["input_ids"].to(bark.device), attention_mask=inputs["attention_mask"].to(bark.device),
            history_prompt=history, semantic_generation_config=configs.semantic, min_eos_p=min_eos_p, **sample)
        times["semantic"], started = time.perf_counter() - started, time.perf_counter()
        coarse, lengths = bark.model.coarse_acoustics.generate(
            semantic.clone(), semantic_generation_config=configs.semantic, coarse_generation_config=configs.coarse,
            codebook_size=configs.codebook_size, history_prompt=history, return_output_lengths=True, **sample)
        times["coarse"], started = time.perf_counter() - started, time.perf_counter()
        fine = bark.model.fine_acoustics.generate(
            coarse, semantic_generation_config=configs.semantic, coarse_generation_config=configs.coarse,
            fine_generation_config=configs.fine, codebook_size=configs.codebook_size, history_prompt=history,
            temperature=None if greedy else 0.5)
        times["fine"], started = time.perf_counter() - started, time.perf_counter()
        bark.model.codec_decode(fine, (lengths // 2).tolist())
        times["decode"] = time.perf_counter() - started
    return semantic, coarse, lengths, fine
