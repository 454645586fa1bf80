"""What an interrupted train-voice resumes from: its checkpoint (written and read as data, with weights_only), and
the metrics plot it draws from the runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import parse_json, read_regular_file
from .folder import CHECKPOINT

MAX_CHECKPOINT_BYTES = 4 * 2**30  # adapters, their best copy and Adam's two moments: 4x the adapter's 512 MB bound


def save_checkpoint(out: Path, state: dict[str, Any]) -> None:
    """Everything a resumed run needs (tensors, plain numbers and JSON text only: it loads with weights_only)."""
    import io

    import torch

    from ..files import write_files_atomically

    out.mkdir(exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_files_atomically({out / CHECKPOINT: buffer.getvalue()}, force=True)


def load_checkpoint(out: Path, identity: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint of an interrupted run with the same settings; never unpickles (weights_only)."""
    import io

    import torch

    data = read_regular_file(out / CHECKPOINT, MAX_CHECKPOINT_BYTES)
    if data is None:
        raise UserError(f"{out / CHECKPOINT} is not a regular file of at most {MAX_CHECKPOINT_BYTES // 2**20} MB")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        same = isinstance(state, dict) and isinstance(state.get("stages"), dict) and parse_json(
            state["identity"]) == identity
    except Exception as error:  # torch and pickle raise many types for a damaged or hostile file
        raise UserError(f"{out / CHECKPOINT} is not a checkpoint train-voice wrote, or it is damaged; it was not "
                        f"used ({type(error).__name__})") from None
    if not same:
        raise UserError(f"{out} holds the training of other settings or recordings; pass --force to start again")
    return state


def metrics_png(runs: dict[str, Any]) -> bytes:
    """Held-out NLL per epoch and stage: the adapter alone and after the prompt, against the base model's two."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..files import figure_png

    figure, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), squeeze=False)
    for axis, (stage, run) in zip(axes[0], runs.items()):
        epochs = [row["epoch"] for row in run.history]
        for key, style in (("alone", "o-"), ("with prompt", "s--")):
            axis.plot(epochs, [row["adapter"][key]["nll"] for row in run.history], style, label=f"adapter, {key}")
            axis.axhline(run.history[0]["base"][key]["nll"], linestyle=":", color="grey" if key == "alone"
                         else "black", label=f"base, {key}")
        axis.set(title=f"{stage}: held-out NLL (lower is better)", xlabel="epoch", ylabel="nats per token")
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    return figure_png(figure)

RUN_FIELDS = ("epoch", "step", "best_nll", "stale", "history", "done")


def run_fields(run) -> dict[str, Any]:
    """A stage run's plain fields (its adapters travel as tensors beside them)."""
    return {name: getattr(run, name) for name in RUN_FIELDS}


def run_from(saved: dict[str, Any]):
    """A stage run restored from its checkpoint entry."""
    from .train import StageRun

    fields = parse_json(saved["run"])
    fields["best_nll"] = float("inf") if fields["best_nll"] is None else fields["best_nll"]
    return StageRun(**fields, best=saved["best"])


STAGE_STATE = ("run", "adapter", "best", "optimizer", "scheduler", "torch_rng")  # what train_one saves per stage
RUN_TYPES = {"epoch": int, "step": int, "best_nll": (int, float, type(None)), "stale": int, "history": list,
             "done": bool}


def checked_stage_state(saved: Any, model, where: str):
    """A checkpoint's entry for one stage, checked as data before training resumes from it: the run record's
    fields and types, and the adapter tensors' names, shapes and values against the freshly wrapped ``model``.
    Returns the restored run; ``UserError`` in one line otherwise."""
    import torch
    from peft import get_peft_model_state_dict

    if not isinstance(saved, dict) or set(saved) != set(STAGE_STATE):
        raise UserError(f"{where}: the checkpoint's entry is not one train-voice wrote; pass --force to start again")
    try:
        fields = parse_json(saved["run"]) if isinstance(saved["run"], str) else None
    except ValueError:
        fields = None
    if not isinstance(fields, dict) or set(fields) != set(RUN_FIELDS) or not all(
            isinstance(fields[name], kind) and not (kind is int and isinstance(fields[name], bool))
            for name, kind in RUN_TYPES.items()) or min(fields["epoch"], fields["step"], fields["stale"]) < 0:
        raise UserError(f"{where}: the checkpoint's run record is damaged; pass --force to start again")
    expected = {name: tuple(value.shape) for name, value in get_peft_model_state_dict(model).items()}
    for key in ("adapter", "best"):
        tensors = saved[key]
        if key == "best" and tensors is None:
            continue
        if not isinstance(tensors, dict) or {name: tuple(getattr(value, "shape", ())) for name, value in
                                             tensors.items()} != expected:
            raise UserError(f"{where}: the checkpoint's {key} tensors do not fit this model's adapter (another rank "
                            "or model?); pass --force to start again")
        if not all(isinstance(value, torch.Tensor) and value.is_floating_point() and bool(torch.isfinite(value).all())
                   for value in tensors.values()):
            raise UserError(f"{where}: the checkpoint's {key} tensors are not finite floats; pass --force to start "
                            "again")
    return run_from(saved)
