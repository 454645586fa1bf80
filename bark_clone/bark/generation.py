"""Bark generation: the one batched path (text -> semantic -> coarse -> fine -> 24 kHz audio) that speak, evaluate,
refine, the search, the server and generate-data all use: rows that each carry their own voice, run by our engine
(``engine.py``, ``rows.py``) on the weights of transformers' ``BarkModel``, sampled as a ``Sampling`` says."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import MIN_BUDGET_SECONDS, SEMANTIC_RATE_HZ, SEMANTIC_VOCAB_SIZE, SPEECH_CHARACTERS_PER_SECOND
from ..options import DEFAULT_SAMPLING, Sampling
from ..prompting.format import SpeakerPrompt
from .core import Bark
from .lora import BatchLoRA, Worn, history_of
from .sampling import Draws

Voice = SpeakerPrompt | str | Worn | None  # a prompt, a stock preset's name, either wearing adapters, or no history


@dataclass
class Generation:
    """What Bark made for one text: all three streams and the audio they decode to."""

    semantic_tokens: np.ndarray  # (N,) int64 at 49.9 Hz, without end-of-speech
    fine_codes: np.ndarray  # (8, T) int64 at 75 Hz; the coarse codes are its first 2 rows
    audio: np.ndarray  # (T * 320,) float32 at 24 kHz
    ended: bool  # the semantic model emitted end-of-speech (False: cut off at its token limit)


def text_ids(bark: Bark, texts: list[str]):
    """The semantic model's text input (B, 256): the tokenizer's ids offset past the semantic vocabulary, its
    padding the text pad token (as ``BarkSemanticModel.generate`` makes it)."""
    inputs = bark.processor(texts)
    ids = inputs["input_ids"] + bark.configs.semantic.text_encoding_offset
    ids = ids.masked_fill(inputs["attention_mask"] == 0, bark.configs.semantic.text_pad_token)
    return ids.long().to(bark.device)


def semantic_tokens(bark: Bark, texts: list[str], histories: list, sampling: Sampling = DEFAULT_SAMPLING,
                    draws: Draws | None = None) -> list:
    """Text -> each row's semantic tokens, cut at its end of speech or its budget, and whether it ended itself."""
    from .engine import CausalStage
    from .rows import semantic_stage

    tokens, ended = semantic_stage(
        CausalStage(bark.model.semantic), text_ids(bark, texts),
        [None if history is None else history["semantic_prompt"] for history in histories], bark.configs.semantic,
        sampling, draws or Draws.seeded(None, len(texts), bark.device), [semantic_budget(text, sampling)
                                                                          for text in texts])
    return [(semantic_until_end(row), bool(end)) for row, end in zip(tokens.cpu().numpy(), ended.cpu().numpy())]


def semantic_budget(text: str, sampling: Sampling) -> int:
    """How many semantic tokens a row of ``text`` may take: the speech its characters need at a measured speaking
    rate, times ``sampling.semantic_budget``, at least ``MIN_BUDGET_SECONDS`` (the checkpoint's cap applies after);
    a very large number when the budget is off."""
    if sampling.semantic_budget is None:
        return 2**31
    seconds = max(MIN_BUDGET_SECONDS, sampling.semantic_budget * len(text.strip()) / SPEECH_CHARACTERS_PER_SECOND)
    return int(np.ceil(seconds * SEMANTIC_RATE_HZ))


def semantic_until_end(row: np.ndarray) -> np.ndarray:
    """One row of generated semantic ids, cut at its end-of-speech (the first id >= 10 000): (N,) int64."""
    end = np.flatnonzero(row >= SEMANTIC_VOCAB_SIZE)
    return row[: end[0] if len(end) else len(row)].astype(np.int64)


def row_seeds(seed: int | list[int] | None, count: int) -> list[int] | None:
    """One seed per row: a list as given, an int as ``seed + i`` on row ``i``, None for the global generator."""
    if seed is None:
        return None
    return [seed + index for index in range(count)] if isinstance(seed, int) else [int(value) for value in seed]


def generate(bark: Bark, rows: list[tuple[str, Voice]] | list[str], sampling: Sampling = DEFAULT_SAMPLING,
             seed: int | list[int] | None = None, batch_size: int | None = None,
             voice: Voice = None) -> list[Generation]:
    """Bark speaks every row's text in that row's own voice (any mix of prompts of any length, stock presets and
    None): ``rows`` of ``(text, voice)``, or plain texts all in ``voice``. One ``Generation`` per row.

    At most ``batch_size`` rows a generation (all in one when None): it bounds memory on small GPUs, and 1 is the
    one-at-a-time baseline. ``seed``: one per row, or an int for ``seed + i`` on row ``i`` (None: drawn from torch's
    global generator). Each row samples from its own random stream, so a row comes out the same in any batch, at
    any batch size and position, and a ``Worn`` voice's adapters apply to its row alone."""
    rows = [row if isinstance(row, tuple) else (row, voice) for row in rows]
    seeds = row_seeds(seed, len(rows))
    size = batch_size or max(len(rows), 1)
    made: list[Generation] = []
    for first in range(0, len(rows), size):
        made += generate_batch(bark, rows[first: first + size], sampling,
                               None if seeds is None else seeds[first: first + size])
    return made


def generate_batch(bark: Bark, rows: list[tuple[str, Voice]], sampling: Sampling,
                   seeds: list[int] | None) -> list[Generation]:
    """One generation of ``rows``: the engine's three loops (each row's adapters applied in the batch), then the
    decoder."""
    import torch

    from .engine import CausalStage, FineStage
    from .rows import coarse_row, coarse_stage, fine_stage

    histories = [bark.history(history_of(voice)) for _, voice in rows]
    draws = Draws.seeded(seeds, len(rows), bark.device)
    worn = [voice.stages if isinstance(voice, Worn) else {} for _, voice in rows]
    coarse_lora, fine_lora = (BatchLoRA.of([stages.get(name) for stages in worn], bark.device)
                              for name in ("coarse_acoustics", "fine_acoustics"))
    with torch.inference_mode():
        semantic = semantic_tokens(bark, [text for text, _ in rows], histories, sampling, draws)
        coarse = coarse_stage(CausalStage(bark.model.coarse_acoustics),
                              [coarse_row(tokens, history) for (tokens, _), history in zip(semantic, histories)],
                              sampling, draws, bark.device, coarse_lora)
        fine = fine_stage(FineStage(bark.model.fine_acoustics), coarse,
                          [None if history is None else history["fine_prompt"] for history in histories], sampling,
                          draws, bark.device, fine_lora)
        audio = bark.decode(fine)
    return [Generation(tokens, codes, samples, ended)
            for (tokens, ended), codes, samples in zip(semantic, fine, audio)]


def speak(bark: Bark, prompt: SpeakerPrompt | str | None, text: str, seed: int | None = None,
          sampling: Sampling = DEFAULT_SAMPLING) -> np.ndarray:
    """One text in the prompt's voice: (n,) float32 at 24 kHz."""
    return generate(bark, [(bark.check_text(text), prompt)], sampling, seed)[0].audio
