"""What train-voice writes: the voice folder (assembled aside, moved into place whole), its ``voice.json``, the
metrics plot, and the checkpoint an interrupted run resumes from."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path
from typing import Any

from ..constants import VERSION
from ..errors import UserError
from ..files import parse_json, read_regular_file
from ..requests import TrainVoiceRequest

CHECKPOINT = "train_state.pt"
MAX_CHECKPOINT_BYTES = 4 * 2**30  # adapters, their best copy and Adam's two moments: 4x the adapter's 512 MB bound


def voice_document(request: TrainVoiceRequest, bark, base: dict[str, Any], sources: dict, runs: dict
                   ) -> dict[str, Any]:
    """``voice.json``; ``base`` holds the base model's fingerprints, taken before the adapters wrapped it."""
    from ..bark.voices import VOICE_FORMAT, VOICE_FORMAT_VERSION

    return {
        "format": VOICE_FORMAT, "format_version": VOICE_FORMAT_VERSION,
        "tool": {"name": "bark-clone", "version": VERSION},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "base": {"bark": request.bark, "revision": bark.revision, **base},
        "stages": list(request.stages), "sources": sources,
        "settings": {"rank": request.rank, "steps": request.steps, "batch_size": request.batch_size,
                     "seed": request.seed, "dtype": request.dtype, "max_seconds": request.max_seconds},
        "metrics": {stage: run.history for stage, run in runs.items()},
        "best": {stage: {"epoch": next(row["epoch"] for row in reversed(run.history) if row.get("best")),
                         "held_out_nll": run.best_nll} for stage, run in runs.items()},
    }


VOICE_CONTENTS = ("prompt.npz", "prompt.json", "metrics.png", "coarse", "fine", CHECKPOINT)  # beside voice.json


def is_our_voice_folder(folder: Path) -> bool:
    """A folder train-voice wrote (a voice, or an interrupted run's checkpoint) and nothing else: --force may
    replace it."""
    from ..bark.voices import VOICE_FILE
    from ..files import holds_only

    return holds_only(folder, VOICE_FILE, VOICE_CONTENTS) or holds_only(folder, CHECKPOINT, VOICE_CONTENTS)


def write_voice(out: Path, files: dict[str, bytes], adapters: dict[str, Path]) -> None:
    """Assemble the folder beside ``out`` and move it into place whole (``voice.json`` last marks it complete)."""
    from ..bark.voices import ADAPTER_FILES
    from ..files import staging_folder, swap_in, write_files_atomically

    staging = staging_folder(out)
    try:
        for stage, folder in adapters.items():  # peft's two files only: nothing else of a folder travels
            (staging / stage).mkdir()
            for name in ADAPTER_FILES:
                shutil.copyfile(folder / name, staging / stage / name, follow_symlinks=False)
        write_files_atomically({staging / name: data for name, data in files.items()}, force=True)
        swap_in(staging, out)  # the old voice, or an interrupted run's checkpoint: replaced whole
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
    from .voice_train import StageRun

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
