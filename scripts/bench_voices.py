"""The voice-adapter rows of scripts/bench.py, at bark-small's dimensions with random weights: LoRA training
throughput per stage (target tokens per second, float32 and bf16 autocast; minutes per epoch for 3 minutes of
speech), peak memory of training (a fresh process per stage and dtype, against one that only loads Bark; on a GPU
also at suno/bark's full size, against the 8 GB target), and generation with a merged adapter against none."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

SPEECH_MINUTES = 3  # what "an epoch" means in the report: 3 minutes of speech
STEPS = (2, 2)  # timed optimizer steps per stage and dtype: real / tiny (each follows one untimed warm-up step)
BATCH = (2, 4)


def synthetic_pieces(seconds: float, count: int, seed: int = 0):
    """Random streams shaped like make-speaker's pieces (7 s of history, then ``seconds`` of speech)."""
    from bark_clone.constants import semantic_length_for_frames
    from bark_clone.prompting.format import SpeakerPrompt
    from bark_clone.voices.data import Piece

    rng = np.random.default_rng(seed)
    history, frames = 525, int(seconds * 75)
    pieces = []
    for index in range(count):
        total = history + frames
        streams = SpeakerPrompt.from_streams(rng.integers(0, 10_000, semantic_length_for_frames(total)),
                                             rng.integers(0, 1024, (8, total)))
        pieces.append(Piece(f"piece {index}", seconds, streams, semantic_length_for_frames(history), history))
    return pieces


def item_tokens(item) -> int:
    """Target tokens of one example: a coarse window's targets, or a fine (window, codebook)'s frames."""
    return len(item.targets) if hasattr(item, "targets") else item[0].n_real - item[0].fill_start


def stage_throughput(bark, attribute: str, task, settings, device, steps: int) -> float:
    """Target tokens per second over ``steps`` optimizer steps (after one warm-up step)."""
    from bark_clone.voices.train import train_stage, wrap

    model = wrap(getattr(bark.model, attribute), settings)
    task.train = task.train[: settings.batch_size * (steps + 1)]
    task.held_out = {"alone": task.train[:1], "with prompt": task.train[:1]}  # one forward: throughput only
    settings.steps = steps + 1
    marks: list[float] = []

    class Bar:  # train_stage reports each optimizer step here: the first mark ends the warm-up step
        def update(self, _):
            marks.append(time.perf_counter())

        def set_postfix(self, **_):
            pass

    train_stage(model, task, settings, device, Bar())
    model.unload()  # the stage as it was, for the next row
    tokens = statistics.mean(item_tokens(item) for item in task.train) * settings.batch_size * steps
    return tokens / (marks[-1] - marks[0])


def bench_voice_training(bark_folder: Path, tiny: bool, device) -> dict:
    """Tokens per second per stage and dtype, and minutes per epoch of 3 minutes of speech."""
    from bark_clone.bark.core import load_bark
    from bark_clone.voices.train import Settings, stage_task

    bark = load_bark(str(bark_folder), device)
    pieces = synthetic_pieces(8.0, 4)
    per_epoch = {"coarse": SPEECH_MINUTES * 60 * 150, "fine": SPEECH_MINUTES * 60 * 75 * 6}  # target tokens
    result = {}
    for stage, attribute in (("coarse", "coarse_acoustics"), ("fine", "fine_acoustics")):
        for dtype in ("float32", "bfloat16"):
            task = stage_task(stage, pieces, [], [])
            settings = Settings(rank=16, batch_size=BATCH[tiny], bf16=dtype == "bfloat16")
            rate = stage_throughput(bark, attribute, task, settings, device, STEPS[tiny])
            result[f"{stage}_{dtype}_tokens_per_second"] = rate
            result[f"{stage}_{dtype}_minutes_per_epoch"] = per_epoch[stage] / rate / 60
    return result


def bench_merged_generation(bark_folder: Path, tiny: bool, device, repeats: int) -> dict:
    """Seconds to speak one short sentence, with a merged rank-16 adapter and without (median of ``repeats``)."""
    import torch

    from bark_clone.bark.core import load_bark
    from bark_clone.bark.generation import generate
    from bark_clone.voices.folder import STAGES
    from bark_clone.voices.train import Settings, wrap

    def timed(bark) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            generate(bark, ["Good morning, how are you today?"], seed=0)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    plain = load_bark(str(bark_folder), device)
    base_seconds = timed(plain)
    adapted = load_bark(str(bark_folder), device)
    for attribute in STAGES.values():
        model = wrap(getattr(adapted.model, attribute), Settings(rank=16))
        with torch.no_grad():  # a non-zero adapter, so merging changes the weights
            for name, parameter in model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0, 0.01)
        setattr(adapted.model, attribute, model.merge_and_unload())
    merged_seconds = timed(adapted)
    return {"base_seconds": base_seconds, "merged_seconds": merged_seconds, "ratio": merged_seconds / base_seconds}


def train_steps(bark, stage: str, dtype: str, batch_size: int, steps: int, device) -> None:
    """``steps`` optimizer steps of one stage's rank-16 adapter on synthetic pieces (what the memory rows run)."""
    from bark_clone.voices.folder import STAGES
    from bark_clone.voices.train import Settings, stage_task, train_stage, wrap

    task = stage_task(stage, synthetic_pieces(8.0, max(2, batch_size)), [], [])
    task.train = task.train[: batch_size * steps]
    task.held_out = {"alone": task.train[:1], "with prompt": task.train[:1]}
    settings = Settings(rank=16, batch_size=batch_size, steps=steps, bf16=dtype == "bfloat16")

    class Bar:
        def update(self, _):
            pass

        def set_postfix(self, **_):
            pass

    train_stage(wrap(getattr(bark.model, STAGES[stage]), settings), task, settings, device, Bar())

