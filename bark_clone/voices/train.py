"""Training one stage's LoRA adapter (peft) on its examples, in named steps: wrap the stage, run epochs of
mini-batches (AdamW, warm-up then cosine, gradient clipping, bf16 autocast on request), measure held-out NLL after
each, keep the best, stop when it stops improving; every epoch is checkpointed so a run resumes exactly."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from quantizer import distributed

from ..errors import UserError
from .loss import Tally, coarse_loss, fine_items, fine_loss

LEARNING_RATE = 3e-4  # LoRA's usual range; warm-up and cosine decay make it safe for 1-5 minutes of speech
WARMUP_FRACTION = 0.05
CLIP_NORM = 1.0
PATIENCE = 3  # epochs without a better held-out NLL before stopping


@dataclass
class StageTask:
    """One stage's examples: ``train`` items, and held-out sets by name ("alone", "with prompt")."""

    name: str  # "coarse" or "fine"
    train: list[Any]
    held_out: dict[str, list[Any]]

    def loss(self, model, batch, device):
        return (coarse_loss if self.name == "coarse" else fine_loss)(model, batch, device)


def stage_task(name: str, training: list, held_alone: list, held_prompted: list) -> StageTask:
    """Examples of a stage from pieces (``voice_data.Piece``): coarse windows, or fine (window, codebook) items."""
    def examples(pieces):
        if name == "coarse":
            return [window for piece in pieces for window in piece.coarse()]
        return fine_items([window for piece in pieces for window in piece.fine()])

    return StageTask(name, examples(training), {"alone": examples(held_alone), "with prompt": examples(held_prompted)})


@dataclass
class Settings:
    rank: int = 16
    steps: int = 400
    batch_size: int = 8
    learning_rate: float = LEARNING_RATE
    seed: int = 0
    bf16: bool = False


@dataclass
class StageRun:
    """What an epoch boundary carries, and what a checkpoint restores exactly."""

    epoch: int = 0
    step: int = 0
    best: dict[str, Any] | None = None  # the best epoch's adapter tensors
    best_nll: float = float("inf")
    stale: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False


def wrap(stage_model, settings: Settings):
    """The stage with a fresh LoRA adapter (base weights frozen), seeded."""
    import torch
    from peft import LoraConfig, get_peft_model

    from .adapters import LORA_TARGETS

    torch.manual_seed(settings.seed)
    config = LoraConfig(r=settings.rank, lora_alpha=settings.rank, lora_dropout=0.0,
                        target_modules=list(LORA_TARGETS))
    return get_peft_model(stage_model, config)


def measure(model, task: StageTask, examples: list, device, batch_size: int, autocast) -> dict[str, float]:
    """Held-out NLL and top-1 of ``examples``; under torchrun each process scores its share and the sums are
    added."""
    import torch

    place, tally = distributed.position(), Tally()
    mine = examples[place.rank:: place.world]
    with torch.no_grad(), autocast():
        for first in range(0, len(mine), batch_size):
            tally.add(task.loss(model, mine[first: first + batch_size], device)[1])
    nll, tokens, correct = distributed.all_reduce_sum([tally.nll, tally.tokens, tally.correct], device)
    return Tally(nll, int(tokens), int(correct)).summary()


def held_out_row(model, task: StageTask, device, settings: Settings, autocast, adapter: bool) -> dict[str, Any]:
    """Held-out NLL and top-1 of every set, with the adapter or with the base model alone."""
    context = contextlib.nullcontext() if adapter else model.disable_adapter()
    with context:
        return {name: measure(model, task, examples, device, settings.batch_size, autocast)
                for name, examples in task.held_out.items()}


def epoch_batches(n_items: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    order = np.random.default_rng([seed, epoch]).permutation(n_items)
    return [order[first: first + batch_size] for first in range(0, n_items, batch_size)]


def train_epoch(model, task: StageTask, optimizer, scheduler, run: StageRun, settings: Settings, device, autocast,
                bar) -> None:
    import torch

    place = distributed.position()
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    model.train()
    for batch in epoch_batches(len(task.train), settings.batch_size, settings.seed, run.epoch):
        if run.step >= settings.steps:
            break
        mine = batch[place.rank:: place.world]  # under torchrun, this process's share of the batch
        with autocast():
            loss, tally = task.loss(model, [task.train[index] for index in mine], device) if len(mine) else \
                (sum(parameter.sum() * 0 for parameter in trainable), Tally())
        tokens = distributed.all_reduce_sum([tally.tokens], device)[0]
        optimizer.zero_grad(set_to_none=True)
        (loss / max(tokens, 1)).backward()
        distributed.all_reduce_gradients(trainable)  # the whole batch's gradient, on every process
        torch.nn.utils.clip_grad_norm_(trainable, CLIP_NORM)
        optimizer.step()
        scheduler.step()
        run.step += 1
        bar.update(1)
        bar.set_postfix(stage=task.name, nll=f"{tally.nll / max(tally.tokens, 1):.3f}")  # this process's share
    model.eval()


def keep_record(model, run: StageRun, row: dict[str, Any]) -> None:
    """Record the epoch; keep the adapter if its held-out NLL (the voice alone) is the best so far."""
    from peft import get_peft_model_state_dict

    run.history.append(row)
    nll = row["adapter"]["alone"]["nll"]
    if nll < run.best_nll - 1e-6:
        run.best_nll, run.stale = nll, 0
        run.best = {key: value.detach().clone() for key, value in get_peft_model_state_dict(model).items()}
        row["best"] = True
    else:
        run.stale += 1


def train_stage(model, task: StageTask, settings: Settings, device, bar, run: StageRun | None = None,
                state: dict | None = None, save: Callable[[StageRun, dict], None] | None = None) -> StageRun:
    """Train ``model`` (a wrapped stage) until ``settings.steps`` or patience; returns the run, whose ``best`` holds
    the kept adapter. ``run`` and ``state`` (optimizer and scheduler) continue a checkpointed run."""
    import torch
    from transformers import get_cosine_schedule_with_warmup

    run = run or StageRun()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate)
    scheduler = get_cosine_schedule_with_warmup(optimizer, max(1, int(WARMUP_FRACTION * settings.steps)),
                                                settings.steps)
    if state:
        try:  # checked by torch itself: parameter groups, sizes, the generator state's length
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
            raise UserError(f"the checkpoint's optimizer state does not fit this run ({type(error).__name__}); pass "
                            "--force to start again") from None

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=settings.bf16)

    if not run.history:
        base = held_out_row(model, task, device, settings, autocast, adapter=False)
        keep_record(model, run, {"epoch": 0, "step": 0, "base": base, "adapter": base})
    while not run.done:
        run.epoch += 1
        train_epoch(model, task, optimizer, scheduler, run, settings, device, autocast, bar)
        row = {"epoch": run.epoch, "step": run.step, "base": run.history[0]["base"],
               "adapter": held_out_row(model, task, device, settings, autocast, adapter=True)}
        keep_record(model, run, row)
        run.done = run.step >= settings.steps or run.stale >= PATIENCE or not task.train
        if save is not None:
            save(run, {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                       "torch_rng": torch.get_rng_state()})
    return run
