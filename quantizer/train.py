"""The training loop: shuffled padded mini-batches, AdamW with warm-up and cosine decay, held-out top-1/top-5 each
epoch, best checkpoint kept, exact resume, and DDP when launched by torchrun or accelerate."""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from . import distributed
from .data import IGNORE_INDEX, Clip, collate, epoch_batches, gather_logits
from .formats import CONFIG_FILE, WEIGHTS_FILE, folder_config_document
from .jsonio import json_text
from .models import QuantizerConfig, build_quantizer

STATE_FILE = "train_state.pt"
UMASK = os.umask(0o022)
os.umask(UMASK)  # read once, at import: changing the umask is not thread-safe
METRICS_FILE = "metrics.json"


@dataclass
class TrainConfig:
    """Optimisation settings; saved in the run's config.json."""

    epochs: int = 20
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    token_rate_hz: float = 49.9
    frame_rate_hz: float = 50.0
    alignment: str = "time"


def get_lr(step: int, total_steps: int, config: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to 1 % of it."""
    warmup = max(1, int(config.warmup_fraction * total_steps))
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return config.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def _autocast(device):
    device = torch.device(device)
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu",
                                                                                                   enabled=False)


def token_loss_and_hits(model: nn.Module, batch, topk: int = 5) -> tuple[torch.Tensor, int, int, int]:
    """Mean cross-entropy over real tokens, and (top-1 hits, top-k hits, tokens) for accuracy."""
    logits = gather_logits(model(batch.features, batch.lengths), batch.frames).float()
    loss = nn.functional.cross_entropy(logits.transpose(1, 2), batch.tokens, ignore_index=IGNORE_INDEX)
    with torch.no_grad():
        valid = batch.tokens != IGNORE_INDEX
        best = logits.topk(min(topk, logits.shape[-1]), dim=-1).indices
        hits = best == batch.tokens[..., None]
        top1 = int((hits[..., 0] & valid).sum())
        top5 = int((hits.any(-1) & valid).sum())
    return loss, top1, top5, int(valid.sum())


@torch.inference_mode()
def evaluate(model: nn.Module, clips: list[Clip], config: TrainConfig, device, batch_size: int = 16) -> dict[str, Any]:
    """Top-1 / top-5 token accuracy and loss over ``clips`` (split across DDP ranks): {top1, top5, loss, frames}."""
    place = distributed.position()
    model.eval()
    totals = [0.0, 0.0, 0.0, 0.0]  # loss x tokens, top1, top5, tokens
    mine = clips[place.rank::place.world]
    for start in range(0, len(mine), batch_size):
        batch = collate(mine[start : start + batch_size], config.token_rate_hz, config.frame_rate_hz).to(device)
        with _autocast(device):
            loss, top1, top5, count = token_loss_and_hits(model, batch)
        totals = [totals[0] + float(loss) * count, totals[1] + top1, totals[2] + top5, totals[3] + count]
    loss_sum, top1, top5, count = distributed.all_reduce_sum(totals, device)
    count = max(count, 1)
    return {"top1": top1 / count, "top5": top5 / count, "loss": loss_sum / count, "frames": int(count)}


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(handle, 0o666 & ~UMASK)  # mkstemp makes 0600; a run folder is as readable as any other output
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def save_quantizer_folder(folder: Path, model: nn.Module, config: QuantizerConfig, provenance: dict[str, Any]) -> None:
    """Write ``model.safetensors`` and ``config.json`` (architecture plus provenance) atomically."""
    from safetensors.torch import save_file

    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    _atomic_write(folder / WEIGHTS_FILE, lambda path: save_file(state, str(path)))
    document = folder_config_document(config, **provenance)
    _atomic_write(folder / CONFIG_FILE, lambda path: path.write_text(json_text(document) + "\n"))


def write_metrics(folder: Path, metrics: dict[str, Any]) -> None:
    _atomic_write(folder / METRICS_FILE, lambda path: path.write_text(json_text(metrics) + "\n"))


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


@dataclass
class RunState:
    """What a run carries from epoch to epoch, and what its checkpoint restores exactly."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    epoch: int = 0
    step: int = 0
    metrics: dict[str, Any] = field(default_factory=lambda: {"epochs": [], "best": None})


class CheckpointError(ValueError):
    """A ``train_state.pt`` that this trainer did not write, or that was damaged; the message says which file."""


def load_checkpoint(run: RunState, path: Path) -> None:
    """Restore weights, optimizer, epoch, step, metrics and the random-number state from ``train_state.pt``.

    Read with ``weights_only=True``: a checkpoint holds tensors and plain values, never code to run. Anything else
    (a hostile pickle, a truncated file, another program's checkpoint) is a ``CheckpointError``.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        run.model.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        run.epoch, run.step, run.metrics = int(state["epoch"]), int(state["step"]), json.loads(state["metrics"])
        torch.set_rng_state(state["torch_rng"])
    except Exception as error:  # torch and pickle raise many types for a damaged or hostile file
        summary = str(error).split("\n")[0][:200]
        raise CheckpointError(f"{path} is not a checkpoint this trainer wrote, or it is damaged; it was not used "
                              f"({type(error).__name__}: {summary})") from None


def save_checkpoint(run: RunState, path: Path) -> None:
    """Write ``train_state.pt`` atomically: everything ``load_checkpoint`` needs to continue exactly."""
    state = {"model": _unwrap(run.model).state_dict(), "optimizer": run.optimizer.state_dict(), "epoch": run.epoch,
             "step": run.step, "metrics": json_text(run.metrics, indent=None), "torch_rng": torch.get_rng_state()}
    _atomic_write(path, lambda temporary: torch.save(state, temporary))


def train_epoch(run: RunState, batches: list[list[Clip]], total_steps: int, config: TrainConfig, device,
                bar=None) -> dict[str, float]:
    """One pass over this process's ``batches``: {loss, top1, frames_per_second} summed over every process."""
    run.model.train()
    began, frames_seen, loss_sum, top1_sum, token_sum = time.time(), 0, 0.0, 0, 0
    for clips in batches:
        batch = collate(clips, config.token_rate_hz, config.frame_rate_hz, config.alignment).to(device)
        for group in run.optimizer.param_groups:
            group["lr"] = get_lr(run.step, total_steps, config)
        with _autocast(device):
            loss, top1, _, count = token_loss_and_hits(run.model, batch)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(run.model.parameters(), config.grad_clip)
        run.optimizer.step()
        run.step += 1
        frames_seen += int(batch.lengths.sum())
        loss_sum, top1_sum, token_sum = loss_sum + loss.item() * count, top1_sum + top1, token_sum + count
        if bar is not None:
            bar.update(1)
            bar.set_postfix(epoch=run.epoch + 1, loss=f"{loss_sum / max(token_sum, 1):.3f}",
                            acc=f"{top1_sum / max(token_sum, 1):.3f}")
    seconds = time.time() - began
    loss_sum, top1_sum, token_sum, frames_seen = distributed.all_reduce_sum(
        [loss_sum, top1_sum, token_sum, frames_seen], device)
    return {"loss": loss_sum / max(token_sum, 1), "top1": top1_sum / max(token_sum, 1),
            "frames_per_second": round(frames_seen / max(seconds, 1e-9), 1)}


def train(
    model_config: QuantizerConfig,
    train_clips: list[Clip],
    held_out: list[Clip],
    out: Path,
    config: TrainConfig,
    device,
    provenance: dict[str, Any],
    resume: bool = False,
    progress: Callable | None = None,
) -> dict[str, Any]:
    """Train a neural quantizer; keeps the best held-out checkpoint in ``out``; returns the metrics.

    ``progress(total_steps, initial)`` returns a tqdm-like bar (rank 0 only). With ``resume``, training continues
    from ``out/train_state.pt`` exactly as if it had never stopped: the batch order depends only on (seed, epoch)
    and the random-number states are restored.
    """
    place = distributed.position()
    torch.manual_seed(config.seed)
    model = build_quantizer(model_config).to(device)
    run = RunState(model, torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay))
    steps_per_epoch = len(epoch_batches(train_clips, config.batch_size, config.seed, 0)) // place.world
    total_steps = max(1, steps_per_epoch * config.epochs)
    if resume:
        load_checkpoint(run, out / STATE_FILE)
    if place.world > 1:
        run.model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if torch.device(device).type == "cuda" else None)
    bar = progress(total_steps, run.step) if progress is not None and place.is_main else None
    while run.epoch < config.epochs:
        began = time.time()
        batches = epoch_batches(train_clips, config.batch_size, config.seed, run.epoch)
        trained = train_epoch(run, batches[place.rank: steps_per_epoch * place.world: place.world], total_steps,
                              config, device, bar)
        scores = evaluate(run.model, held_out, config, device, config.batch_size)
        run.epoch += 1
        record = {"epoch": run.epoch, "step": run.step, "train_loss": trained["loss"], "train_top1": trained["top1"],
                  "held_out": scores, "seconds": round(time.time() - began, 2),
                  "frames_per_second": trained["frames_per_second"], "world_size": place.world,
                  "lr": get_lr(max(run.step - 1, 0), total_steps, config)}
        keep_record(run, record, out, model_config, config, provenance)
        distributed.barrier()
    if bar is not None:
        bar.close()
    return run.metrics


def keep_record(run: RunState, record: dict[str, Any], out: Path, model_config: QuantizerConfig,
                config: TrainConfig, provenance: dict[str, Any]) -> None:
    """Add an epoch's record; on the main process save the best model, the checkpoint and the metrics."""
    run.metrics["epochs"].append(record)
    improved = run.metrics["best"] is None or record["held_out"]["top1"] > run.metrics["best"]["held_out"]["top1"]
    if improved:
        run.metrics["best"] = record
    if not distributed.position().is_main:
        return
    if improved:
        save_quantizer_folder(out, _unwrap(run.model), model_config,
                              {**provenance, "training": asdict(config), "held_out": record["held_out"]})
    save_checkpoint(run, out / STATE_FILE)
    write_metrics(out, run.metrics)


def fit_kmeans(
    model_config: QuantizerConfig, train_clips: list[Clip], config: TrainConfig, progress: Callable | None = None
) -> nn.Module:
    """MiniBatchKMeans over the frames tokens are read from, each cluster mapped to its most frequent token.

    Every epoch is one ``partial_fit`` pass over the training frames in shuffled batches.
    """
    from sklearn.cluster import MiniBatchKMeans

    from .data import frame_indices

    frames, tokens = [], []
    for clip in train_clips:
        indices = frame_indices(clip, config.token_rate_hz, config.frame_rate_hz, config.alignment)
        kept = indices >= 0
        frames.append(clip.features[indices[kept]].astype(np.float32))
        tokens.append(clip.tokens[kept])
    features, labels = np.concatenate(frames), np.concatenate(tokens)
    if len(features) < model_config.n_clusters:
        raise ValueError(f"kmeans needs at least {model_config.n_clusters} training frames, got {len(features)}")
    kmeans = MiniBatchKMeans(n_clusters=model_config.n_clusters, random_state=config.seed, n_init=1,
                             batch_size=max(config.batch_size * 256, model_config.n_clusters))
    rng = np.random.default_rng(config.seed)
    chunk = max(kmeans.batch_size, model_config.n_clusters)
    bar = progress(config.epochs, 0) if progress is not None else None
    for _ in range(config.epochs):
        order = rng.permutation(len(features))
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            if len(part) >= model_config.n_clusters:
                kmeans.partial_fit(features[part])
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    clusters = kmeans.predict(features).astype(np.int64)
    # most frequent token per cluster, counted sparsely (a dense clusters x 10 000 table can take gigabytes)
    pairs, counts = np.unique(clusters * model_config.output_size + labels, return_counts=True)
    cluster_ids, token_ids = pairs // model_config.output_size, pairs % model_config.output_size
    order = np.lexsort((-counts, cluster_ids))
    seen, first = np.unique(cluster_ids[order], return_index=True)
    mapping = np.full(model_config.n_clusters, np.bincount(labels).argmax(), dtype=np.int64)
    mapping[seen] = token_ids[order][first]
    model = build_quantizer(model_config)
    model.centers.copy_(torch.from_numpy(kmeans.cluster_centers_.astype(np.float32)))
    model.cluster_tokens.copy_(torch.from_numpy(mapping))
    return model.eval()
