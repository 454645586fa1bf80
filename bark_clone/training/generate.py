"""generate-data: synthetic training data from Bark itself, several samples per forward pass.

Each sample is a text, Bark's semantic tokens for it (temperature drawn from 0.6-0.8), then coarse and fine codes
and their EnCodec decode at 24 kHz. Every shard is a pure function of (seed, shard index), so a killed run resumes
into exactly the dataset an uninterrupted run would have made.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from quantizer import distributed

from ..bark.core import Bark, load_bark
from ..bark.generation import generate
from ..constants import CODEC_SAMPLE_RATE
from ..datasets import create_dataset, flac_bytes, join_dataset
from ..errors import UserError
from ..models.devices import resolve_dtype
from ..models.loading import resolve_device
from ..options import Sampling
from ..progress import progress_bar
from ..requests import GenerateOptions
from .texts import TextSource

SEMANTIC_TEMPERATURES = (0.6, 0.8)
MIN_SAMPLE_TOKENS = 25  # half a second: anything shorter teaches nothing
PRESET_PROBABILITY = 0.5  # with --presets, half the rows speak with a stock voice, half with a random one


def make_shard(bark: Bark, index: int, options: GenerateOptions, source: TextSource,
               voices: list[str], on_batch=None) -> list[dict[str, Any]]:
    """Generate shard ``index``: its texts, temperatures, voices and seeds all come from (seed, index)."""
    rng = np.random.default_rng([options.seed, index])
    first = index * options.shard_size
    count = min(options.shard_size, options.samples - first)
    rows: list[dict[str, Any]] = []
    for start in range(0, count, options.batch_size):
        size = min(options.batch_size, count - start)
        texts = [source.sample(rng) for _ in range(size)]
        temperature = float(rng.uniform(*SEMANTIC_TEMPERATURES))
        row_voices = [voices[rng.integers(len(voices))] if voices and rng.random() < PRESET_PROBABILITY else None
                      for _ in texts]  # stock voices and random ones mixed in one batch, row by row
        seed = int(rng.integers(2**31 - options.batch_size))
        sampling = Sampling(semantic_temperature=temperature)
        generations = generate(bark, list(zip(texts, row_voices)), sampling, seed)
        for offset, (text, voice, generation) in enumerate(zip(texts, row_voices, generations)):
            tokens, audio = generation.semantic_tokens.astype(np.int32), generation.audio
            if len(tokens) >= MIN_SAMPLE_TOKENS:
                rows.append({"id": f"{index:05d}-{start + offset:04d}", "text": text, "semantic": tokens.tolist(),
                             "audio": flac_bytes(audio), "sample_rate": CODEC_SAMPLE_RATE,
                             "seconds": len(audio) / CODEC_SAMPLE_RATE, "semantic_temperature": temperature,
                             "coarse_temperature": sampling.coarse_temperature,
                             "fine_temperature": sampling.fine_temperature,
                             "voice": voice or "", "seed": seed + offset,
                             "codes": generation.fine_codes.astype(np.int16).reshape(-1).tolist()})
        if on_batch is not None:
            on_batch(size, rows)
    return rows


def generate_data(out: Path, options: GenerateOptions, device: str = "auto", force: bool = False,
                  progress: bool = True) -> dict[str, Any]:
    """Make (or resume) ``out``. Under torchrun/accelerate, rank r makes the shards with index % world == r."""
    if options.samples <= 0 or options.batch_size <= 0 or options.shard_size <= 0:
        raise UserError("--samples, --batch-size and --shard-size must be positive")
    source = TextSource(options.language, Path(options.texts) if options.texts else None)
    device = distributed.local_device(resolve_device(device))
    options = replace(options, dtype=resolve_dtype(options.dtype, device))  # a setting: what auto meant here
    n_shards = -(-options.samples // options.shard_size)
    place = distributed.position()
    rank, world = place.rank, place.world
    if place.is_main:
        dataset = create_dataset(Path(out), options.settings(), n_shards, force, held_out=options.held_out)
    else:  # rank 0 creates (or checks) the folder; the others only join it
        dataset = join_dataset(Path(out), options.settings(), n_shards, options.held_out)
    todo = [index for index in range(n_shards) if index % world == rank and not dataset.shard_path(index).exists()]
    summary = {"shards_made": 0, "samples": 0, "seconds": 0.0}
    if not todo:
        return summary
    bark = load_bark(options.bark, device, options.dtype)
    voices = bark.presets(options.language) if options.presets else []
    if options.presets and not voices:
        raise UserError(f"--presets: the Bark model has no stock voices for language {options.language!r}")
    total = sum(min(options.shard_size, options.samples - index * options.shard_size) for index in todo)
    bar = progress_bar(total=total, unit="sample", desc=f"generate-data{f' rank {rank}' if world > 1 else ''}",
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
