"""The training rows of scripts/bench.py: our trainer against the published trainer's loop, same data and device."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

TRAIN_CLIPS = (64, 8)  # real / tiny
REFERENCE_CLIPS = (16, 4)


def reference_loop(clips, device, budget_clips: int) -> float:
    """The published trainer's shape: v1 LSTM, Adam, one utterance per step, unbatched. Returns frames/s."""
    import torch

    from quantizer.models import ARCHITECTURES, build_quantizer

    model = build_quantizer(ARCHITECTURES["lstm"].config(clips[0].features.shape[1], 10_000)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    frames, start = 0, None
    for index, clip in enumerate(clips[: budget_clips + 1]):
        if index == 1:
            start = time.perf_counter()  # the first step warms up kernels
        features = torch.from_numpy(clip.features.astype(np.float32)).to(device)
        tokens = torch.from_numpy(clip.tokens).to(device)
        logits = model(features[None])[0]
        n = min(len(logits), len(tokens))
        loss = torch.nn.functional.cross_entropy(logits[:n], tokens[-n:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if index >= 1:
            frames += len(clip.features)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return frames / (time.perf_counter() - start)


def bench_training(work: Path, tiny: bool, device) -> dict:
    """Frames per second: our trainer (v1 shape, batch 16) against the reference loop, same data and device."""
    from quantizer.data import Clip
    from quantizer.models import ARCHITECTURES
    from quantizer.train import TrainConfig, train

    rng = np.random.default_rng(0)
    width, frames = (32, 100) if tiny else (768, 500)
    clips = [Clip(f"{i:04d}", rng.standard_normal((frames + rng.integers(-20, 20), width)).astype(np.float16),
                  rng.integers(0, 10_000, frames - 2)) for i in range(TRAIN_CLIPS[tiny])]
    result = {"reference_v1": reference_loop(clips, device, REFERENCE_CLIPS[tiny])}
    for arch, config in {"ours_v1": ARCHITECTURES["lstm"].config(width, 10_000),
                         "ours_context": ARCHITECTURES["context"].config(width, 10_000)}.items():
        out = Path(tempfile.mkdtemp(dir=work))
        metrics = train(config, clips, clips[:2], out, TrainConfig(epochs=2, batch_size=16), device, {})
        result[arch] = metrics["epochs"][-1]["frames_per_second"]  # the second epoch: warmed up
    result["v1_speedup"] = result["ours_v1"] / result["reference_v1"]
    result["context_speedup"] = result["ours_context"] / result["reference_v1"]
    return result
