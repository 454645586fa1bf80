"""train-quantizer and evaluate-quantizer: datasets and HuBERT features in, quantizer folders and accuracies out."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

from quantizer import distributed
from quantizer.data import Clip, split_clips
from quantizer.formats import CONFIG_FILE, gitmylo_bytes, load_folder
from quantizer.models import ARCHITECTURES, QuantizerConfig
from quantizer.train import (
    METRICS_FILE,
    STATE_FILE,
    CheckpointError,
    TrainConfig,
    evaluate,
    fit_kmeans,
    save_quantizer_folder,
    write_metrics,
)
from quantizer.train import train as train_loop

from ..constants import HUBERT_FRAME_RATE_HZ, HUBERT_LAYER, SEMANTIC_RATE_HZ, SEMANTIC_VOCAB_SIZE
from ..datasets import FEATURES, Dataset, open_dataset
from ..errors import UserError
from ..files import check_folder_output, holds_only, write_files_atomically
from ..models.codecs import load_hubert
from ..models.loading import resolve_device
from ..progress import progress_bar
from ..requests import TrainRequest
from .features import FeatureCache, ensure_features, load_clips

RUN_FILES = (CONFIG_FILE, "model.safetensors", METRICS_FILE, STATE_FILE, "metrics.png")


def dataset_clips(dataset: Dataset, hubert_source: str, device, progress: bool) -> tuple[list[Clip], dict[str, Any]]:
    """The dataset's clips with HuBERT features: cached ones, or computed now by make-speaker's code."""
    imported = dataset.imported_features
    if imported is not None:
        if imported["hubert"] != hubert_source:
            raise UserError(f"{dataset.root} holds features from HuBERT {imported['hubert']!r} (imported, no audio to "
                            f"recompute them), but --hubert asks for {hubert_source!r}")
        cache = FeatureCache(dataset, dataset.root / FEATURES / imported["key"], imported)
        return load_clips(dataset, cache), {"hubert": imported["hubert"], "hubert_revision": None,
                                            "hubert_layer": imported["layer"]}
    hubert = load_hubert(hubert_source, device)
    cache = ensure_features(dataset, hubert, progress)
    distributed.barrier()  # every rank's share of the features is written
    return load_clips(dataset, cache), {"hubert": hubert.source, "hubert_revision": hubert.revision,
                                        "hubert_layer": hubert.model.layer}


def model_config(request: TrainRequest, input_size: int) -> QuantizerConfig:
    """The registry's default shape for ``request.arch``, changed by the options that architecture takes;
    ``lstm`` is the published v1 (``--lstm-version 0`` for v0)."""
    return ARCHITECTURES[request.arch].config(
        input_size, SEMANTIC_VOCAB_SIZE, hidden_size=request.hidden_size, n_clusters=request.clusters,
        intermediate_size=None if request.lstm_version == 1 else 0)


def check_run_folder(out: Path, resume: bool, force: bool) -> None:
    """Refuse an existing run folder unless resuming it or told to start over (nothing is touched yet)."""
    if resume:
        if not (out / STATE_FILE).exists():
            raise UserError(f"--resume: {out} has no {STATE_FILE} to resume from")
        return
    if out.is_dir() and not out.is_symlink() and any(out.iterdir()) and is_run_folder(out) and not force:
        raise UserError(f"{out} already exists; pass --resume to continue it or --force to start over")
    check_folder_output(out, force, is_run_folder, "training run", parents=True)


def is_run_folder(folder: Path) -> bool:
    """A folder train-quantizer wrote (finished or interrupted) and nothing else."""
    return any(holds_only(folder, marker, RUN_FILES) for marker in (CONFIG_FILE, STATE_FILE))


def start_run_folder(out: Path, resume: bool) -> None:
    """Create (or, after ``check_run_folder`` allowed it, empty) the run folder."""
    if resume:
        return
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)


MIN_USEFUL_STEPS = 300  # fewer optimizer steps than this leave a quantizer near chance (measured: 60 steps on 30 clips)


def check_export(request: TrainRequest) -> None:
    if request.export_gitmylo is not None and request.arch != "lstm":
        raise UserError("--export-gitmylo needs --arch lstm: only the published LSTM shapes exist in that format")
    if request.export_gitmylo is not None and Path(request.export_gitmylo).exists() and not request.force:
        raise UserError(f"{request.export_gitmylo} already exists; pass --force to overwrite it")


def check_resume(request: TrainRequest, config: QuantizerConfig) -> None:
    """With --resume, the run folder must train this very model."""
    if not request.resume:
        return
    try:
        saved = json.loads((Path(request.out) / CONFIG_FILE).read_text(encoding="utf-8"))["model"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"--resume: {Path(request.out) / CONFIG_FILE} is missing or damaged ({error})") from None
    if saved != config.to_dict():
        raise UserError(f"--resume: {request.out} trains a different model ({saved.get('arch')}); same options please")


def few_steps_warning(request: TrainRequest, n_train_clips: int) -> str | None:
    """A warning when the run will take too few optimizer steps to learn anything, saying what to change."""
    if request.arch == "kmeans":
        return None
    steps = -(-n_train_clips // request.batch_size) // distributed.position().world * request.epochs
    if steps >= MIN_USEFUL_STEPS:
        return None
    plural = "s" if steps != 1 else ""
    return (f"this run takes only {steps} optimizer step{plural} ({n_train_clips} training clips, --batch-size "
            f"{request.batch_size}, --epochs {request.epochs}); below about {MIN_USEFUL_STEPS} a quantizer stays near "
            "chance. Use a smaller --batch-size (e.g. 2), more --epochs, or a higher --lr (e.g. 1e-2), or more data")


def fit(request: TrainRequest, config: QuantizerConfig, train_clips, held_out, train_config: TrainConfig, device,
        provenance: dict[str, Any], bar) -> dict[str, Any]:
    """k-means fitting or the neural training loop; the run folder gets the model and metrics."""
    out = Path(request.out)
    if request.arch == "kmeans":
        model = fit_kmeans(config, train_clips, train_config, bar)
        scores = evaluate(model.to(device), held_out, train_config, device, request.batch_size)
        metrics = {"epochs": [{"epoch": request.epochs, "held_out": scores}], "best": {"held_out": scores}}
        if distributed.position().is_main:
            save_quantizer_folder(out, model, config, {**provenance, "held_out": scores})
            write_metrics(out, metrics)
        return metrics
    try:
        return train_loop(config, train_clips, held_out, out, train_config, device, provenance, request.resume, bar)
    except CheckpointError as error:
        raise UserError(f"--resume: {error}") from None


def train_quantizer(request: TrainRequest, progress: bool = True, warn=None) -> dict[str, Any]:
    """Features, split, training (or k-means fitting), metrics and plot; returns the run's metrics.

    ``warn(message)`` receives advice about the run (default: ``warnings.warn``).
    """
    device = distributed.init(resolve_device(request.device))
    is_main = distributed.position().is_main
    check_export(request)
    dataset = open_dataset(request.data)
    check_run_folder(Path(request.out), request.resume, request.force)
    distributed.barrier()  # every rank has checked the folder before rank 0 changes it
    clips, provenance = dataset_clips(dataset, request.hubert, device, progress and is_main)
    train_clips, held_out = split_clips(clips, dataset.held_out_fraction)
    if not train_clips or not held_out:
        raise UserError(f"{request.data} has {len(clips)} clip(s): too few for a training and a held-out split")
    config = model_config(request, clips[0].features.shape[1])
    check_resume(request, config)
    advice = few_steps_warning(request, len(train_clips))
    if advice and is_main:
        (warn or warnings.warn)(advice)
    train_config = TrainConfig(epochs=request.epochs, batch_size=request.batch_size, lr=request.lr,
                               seed=request.seed, token_rate_hz=SEMANTIC_RATE_HZ, frame_rate_hz=HUBERT_FRAME_RATE_HZ,
                               alignment=request.alignment)
    if is_main:
        start_run_folder(Path(request.out), request.resume)
    distributed.barrier()  # the folder exists before any rank writes to it
    provenance = {**provenance, "data": str(Path(request.data).resolve()), "data_id": dataset.identity,
                  "train_clips": len(train_clips), "held_out_clips": len(held_out),
                  "feature_rate_hz": HUBERT_FRAME_RATE_HZ, "token_rate_hz": SEMANTIC_RATE_HZ}

    def bar(total: int, initial: int):
        return progress_bar(total=total, initial=initial, unit="step", desc=f"train {request.arch}",
                            disable=not progress)

    metrics = fit(request, config, train_clips, held_out, train_config, device, provenance, bar)
    if is_main:
        plot_metrics(Path(request.out), metrics)
        if request.export_gitmylo is not None:
            export_gitmylo(Path(request.out), Path(request.export_gitmylo), request.force)
    return metrics


def export_gitmylo(run: Path, target: Path, force: bool) -> None:
    """Write the run's best LSTM in the published .pth format."""
    loaded = load_folder(run)
    write_files_atomically({target: gitmylo_bytes(loaded.model, loaded.config, target.stem)}, force=force)


def plot_metrics(out: Path, metrics: dict[str, Any]) -> None:
    """metrics.png: held-out top-1 / top-5 and training loss per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [record["epoch"] for record in metrics["epochs"]]
    figure, (accuracy, loss) = plt.subplots(1, 2, figsize=(10, 4))
    for key, style in (("top1", "o-"), ("top5", "s--")):
        accuracy.plot(epochs, [100 * r["held_out"][key] for r in metrics["epochs"]], style, label=f"held-out {key}")
    accuracy.set(xlabel="epoch", ylabel="token accuracy (%)", title="held-out accuracy")
    accuracy.legend()
    if all("train_loss" in record for record in metrics["epochs"]):
        loss.plot(epochs, [r["train_loss"] for r in metrics["epochs"]], "o-", label="train")
        loss.plot(epochs, [r["held_out"]["loss"] for r in metrics["epochs"]], "s--", label="held-out")
        loss.legend()
    loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    figure.tight_layout()
    figure.savefig(out / "metrics.png", dpi=100)
    plt.close(figure)


SPLITS = ("auto", "held-out", "all")


def evaluate_quantizer(quantizer: str, data: Path, hubert: str, device: str = "auto", progress: bool = True,
                       split: str = "auto") -> dict[str, Any]:
    """Top-1 / top-5 of any quantizer (published or trained) on a dataset: {top1, top5, clips, frames, split, ...}.

    ``split`` "auto" scores only the held-out clips when the quantizer was trained on this very dataset (its run
    records the dataset's id), and every clip otherwise: a dataset the quantizer never saw is a test set whole.
    """
    from ..prompting.quantizers import load_quantizer

    if split not in SPLITS:
        raise UserError(f"--split must be one of {', '.join(SPLITS)}")
    resolved = resolve_device(device)
    dataset = open_dataset(data)
    clips, provenance = dataset_clips(dataset, hubert, resolved, progress)
    loaded = load_quantizer(quantizer, clips[0].features.shape[1], resolved)
    trained_here = loaded.loaded.metadata.get("data_id") == dataset.identity
    if split == "auto":
        split = "held-out" if trained_here else "all"
    scored = split_clips(clips, dataset.held_out_fraction)[1] if split == "held-out" else clips
    config = TrainConfig(token_rate_hz=SEMANTIC_RATE_HZ, frame_rate_hz=HUBERT_FRAME_RATE_HZ)
    scores = evaluate(loaded.model, scored, config, resolved)
    return {"quantizer": quantizer, "data": str(data), "split": split, "trained_on_this_data": trained_here,
            "clips": len(scored), **scores, "hubert": provenance["hubert"],
            "hubert_layer": provenance.get("hubert_layer", HUBERT_LAYER)}
