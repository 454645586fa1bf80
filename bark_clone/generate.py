"""generate-data: synthetic training data from Bark itself, several samples per forward pass.

Each sample is a text, Bark's semantic tokens for it (temperature drawn from 0.6-0.8), then coarse and fine codes
and their EnCodec decode at 24 kHz. Every shard is a pure function of (seed, shard index), so a killed run resumes
into exactly the dataset an uninterrupted run would have made.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .bark import COARSE_TEMPERATURE, FINE_TEMPERATURE, load_bark
from .constants import CODEC_HOP_LENGTH, CODEC_SAMPLE_RATE, N_COARSE_CODEBOOKS, SEMANTIC_VOCAB_SIZE
from .dataset import create_dataset, flac_bytes, join_dataset
from .errors import UserError
from .models import Loaded, resolve_device
from .texts import TextSource

SEMANTIC_TEMPERATURES = (0.6, 0.8)
MIN_EOS_P = 0.2  # suno's default early stop for the semantic model
MIN_SAMPLE_TOKENS = 25  # half a second: anything shorter teaches nothing
PRESET_PROBABILITY = 0.5  # with --presets, half the batches speak with a stock voice, half with a random one


def distributed_position() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun / accelerate's environment; (0, 1, 0) when run alone."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


def language_presets(bark: Loaded, language: str) -> list[str]:
    """The Bark processor's stock voices for ``language`` (v2 ones when present)."""
    available = bark.processor.available_voice_presets
    for prefix in (f"v2/{language}_speaker_", f"{language}_speaker_"):
        names = sorted(name for name in available if name.startswith(prefix))
        if names:
            return names
    raise UserError(f"--presets: the Bark model has no stock voices for language {language!r}")


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


def generate_batch(bark: Loaded, texts: list[str], semantic_temperature: float,
                   voice: str | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Bark on a batch of texts: a (semantic tokens (N,) int32 at 49.9 Hz, audio (N_frames * 320,) float32 24 kHz)
    pair per text. ``voice`` is a stock preset name, or None for a random voice."""
    import torch
    from transformers.models.bark.generation_configuration_bark import (
        BarkCoarseGenerationConfig, BarkFineGenerationConfig, BarkSemanticGenerationConfig)

    model, device = bark.model, bark.device
    generation = model.generation_config
    semantic_config = BarkSemanticGenerationConfig(**generation.semantic_config)
    coarse_config = BarkCoarseGenerationConfig(**generation.coarse_acoustics_config)
    fine_config = BarkFineGenerationConfig(**generation.fine_acoustics_config)
    inputs = bark.processor(texts, voice_preset=voice)
    history = inputs.pop("history_prompt", None)
    if history is not None:
        history = {key: value.to(device) for key, value in history.items()}
    with torch.inference_mode(), last_position_logits(bark):
        semantic = model.semantic.generate(
            inputs["input_ids"].to(device), attention_mask=inputs["attention_mask"].to(device),
            history_prompt=history, semantic_generation_config=semantic_config, do_sample=True,
            temperature=semantic_temperature, min_eos_p=MIN_EOS_P,
        )
        coarse, lengths = model.coarse_acoustics.generate(
            semantic.clone(), semantic_generation_config=semantic_config, coarse_generation_config=coarse_config,
            codebook_size=generation.codebook_size, history_prompt=history, return_output_lengths=True,
            do_sample=True, temperature=COARSE_TEMPERATURE,
        )
        fine = model.fine_acoustics.generate(
            coarse, semantic_generation_config=semantic_config, coarse_generation_config=coarse_config,
            fine_generation_config=fine_config, codebook_size=generation.codebook_size, history_prompt=history,
            do_sample=True, temperature=FINE_TEMPERATURE,
        )
        frames = (lengths // N_COARSE_CODEBOOKS).tolist()
        audio = model.codec_decode(fine, [max(n, 1) for n in frames])
    results = []
    for row, n_frames in enumerate(frames):
        tokens = semantic[row].cpu().numpy()
        end = np.flatnonzero(tokens >= SEMANTIC_VOCAB_SIZE)
        tokens = tokens[: end[0] if len(end) else len(tokens)].astype(np.int32)
        samples = audio[row].float().cpu().numpy().reshape(-1)[: n_frames * CODEC_HOP_LENGTH]
        results.append((tokens, samples))
    return results


@dataclass
class GenerateOptions:
    """The settings that determine a dataset's content (saved in its manifest; a rerun must match them)."""

    samples: int
    bark: str = "suno/bark"
    language: str = "en"
    texts: str | None = None
    batch_size: int = 8
    seed: int = 0
    presets: bool = False
    shard_size: int = 64
    held_out: float = 0.05

    def settings(self) -> dict[str, Any]:
        return {"kind": "generated", "samples": self.samples, "bark": self.bark, "language": self.language,
                "texts": str(Path(self.texts).resolve()) if self.texts else "built-in markov",
                "batch_size": self.batch_size, "seed": self.seed, "presets": self.presets,
                "shard_size": self.shard_size}


def make_shard(bark: Loaded, index: int, options: GenerateOptions, source: TextSource,
               voices: list[str], on_batch=None) -> list[dict[str, Any]]:
    """Generate shard ``index``: its texts, temperatures, voices and seeds all come from (seed, index)."""
    import torch

    rng = np.random.default_rng([options.seed, index])
    first = index * options.shard_size
    count = min(options.shard_size, options.samples - first)
    rows: list[dict[str, Any]] = []
    for start in range(0, count, options.batch_size):
        size = min(options.batch_size, count - start)
        texts = [source.sample(rng) for _ in range(size)]
        temperature = float(rng.uniform(*SEMANTIC_TEMPERATURES))
        voice = voices[rng.integers(len(voices))] if voices and rng.random() < PRESET_PROBABILITY else None
        seed = int(rng.integers(2**31))
        torch.manual_seed(seed)
        for offset, (text, (tokens, audio)) in enumerate(zip(texts, generate_batch(bark, texts, temperature,
                                                                                  voice))):
            if len(tokens) >= MIN_SAMPLE_TOKENS:
                rows.append({"id": f"{index:05d}-{start + offset:04d}", "text": text, "semantic": tokens.tolist(),
                             "audio": flac_bytes(audio), "sample_rate": CODEC_SAMPLE_RATE,
                             "seconds": len(audio) / CODEC_SAMPLE_RATE, "semantic_temperature": temperature,
                             "coarse_temperature": COARSE_TEMPERATURE, "fine_temperature": FINE_TEMPERATURE,
                             "voice": voice or "", "seed": seed})
        if on_batch is not None:
            on_batch(size, rows)
    return rows


def generate_data(out: Path, options: GenerateOptions, device: str = "auto", force: bool = False,
                  progress: bool = True) -> dict[str, Any]:
    """Make (or resume) ``out``. Under torchrun/accelerate, rank r makes the shards with index % world == r."""
    from tqdm import tqdm

    if options.samples <= 0 or options.batch_size <= 0 or options.shard_size <= 0:
        raise UserError("--samples, --batch-size and --shard-size must be positive")
    source = TextSource(options.language, Path(options.texts) if options.texts else None)
    n_shards = -(-options.samples // options.shard_size)
    rank, world, local_rank = distributed_position()
    if rank == 0:
        dataset = create_dataset(Path(out), options.settings(), n_shards, force, held_out=options.held_out)
    else:  # rank 0 creates (or checks) the folder; the others only join it
        dataset = join_dataset(Path(out), options.settings(), n_shards, options.held_out)
    todo = [index for index in range(n_shards) if index % world == rank and not dataset.shard_path(index).exists()]
    summary = {"shards_made": 0, "samples": 0, "seconds": 0.0}
    if not todo:
        return summary
    resolved = resolve_device(device)
    if resolved.type == "cuda" and world > 1:
        import torch

        resolved = torch.device("cuda", local_rank)
    bark = load_bark(options.bark, resolved)
    voices = language_presets(bark, options.language) if options.presets else []
    total = sum(min(options.shard_size, options.samples - index * options.shard_size) for index in todo)
    bar = tqdm(total=total, unit="sample", desc=f"generate-data{f' rank {rank}' if world > 1 else ''}",
               disable=not progress)
    for index in todo:
        seconds_before = summary["seconds"]

        def advance(size: int, rows: list[dict[str, Any]]) -> None:
            bar.update(size)
            seconds = seconds_before + sum(row["seconds"] for row in rows)
            bar.set_postfix(audio=f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min")

        rows = make_shard(bark, index, options, source, voices, advance)
        if not rows:
            raise UserError(f"shard {index}: Bark produced no sample of at least {MIN_SAMPLE_TOKENS} tokens")
        dataset.write_shard(index, rows)
        summary["shards_made"] += 1
        summary["samples"] += len(rows)
        summary["seconds"] += sum(row["seconds"] for row in rows)
    bar.close()
    return summary
