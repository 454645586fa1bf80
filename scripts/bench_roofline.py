"""The roofline of the ``bark`` row: this machine's measured matrix-product rate (float32, bfloat16) and memory
bandwidth, and each engine stage's share of what they allow: its arithmetic (2 x weights x positions processed,
attention left out) per second over the measured matrix-product rate."""

from __future__ import annotations

import time

COARSE_PREFILL = 257  # semantic window and infer token
FINE_PASSES = 6  # codebooks 2..7, one pass over the 1024-frame window each


def matmul_gflops(device, dtype) -> float:
    import torch

    a = torch.randn(1024, 4096, device=device, dtype=dtype)
    b = torch.randn(4096, 1024, device=device, dtype=dtype)
    a @ b
    runs, started = 8, time.perf_counter()
    for _ in range(runs):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * 1024 * 4096 * 1024 * runs / (time.perf_counter() - started) / 1e9


def bandwidth_gb_per_s(device) -> float:
    """Read + write bytes per second of copying 256 MB."""
    import torch

    source = torch.ones(64 * 2**20, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    runs, started = 5, time.perf_counter()
    for _ in range(runs):
        target.copy_(source)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * source.numel() * 4 * runs / (time.perf_counter() - started) / 1e9


def roofline(device) -> dict:
    import torch

    return {"matmul_gflops": {"float32": round(matmul_gflops(device, torch.float32), 1),
                              "bfloat16": round(matmul_gflops(device, torch.bfloat16), 1)},
            "memory_gb_per_s": round(bandwidth_gb_per_s(device), 1)}


def positions(tokens: int, batch: int) -> dict[str, int]:
    """Positions each stage runs through its layers for ``batch`` rows of ``tokens`` semantic tokens, no prompt."""
    frames = int(tokens * 75 / 49.9)
    coarse_tokens, coarse = 2 * frames, 0
    for written in range(0, coarse_tokens, 60):
        coarse += COARSE_PREFILL + min(written, 630) + min(60, coarse_tokens - written)
    fine_windows = 1 + max(0, -(-(frames - 1024) // 512))
    return {"semantic": batch * (COARSE_PREFILL + tokens), "coarse": batch * coarse,
            "fine": batch * fine_windows * FINE_PASSES * 1024}


def layer_weights(folder) -> dict[str, int]:
    """Weights a position passes through in each stage (its blocks; embeddings are lookups, heads are per stage)."""
    import json

    config = json.loads((folder / "config.json").read_text())
    weights = {}
    for stage, key in (("semantic", "semantic_config"), ("coarse", "coarse_acoustics_config"),
                       ("fine", "fine_acoustics_config")):
        width, layers = config[key]["hidden_size"], config[key]["num_layers"]
        weights[stage] = 12 * width * width * layers
    return weights


def stage_shares(folder, results: dict, tokens: int, batch: int) -> dict:
    """Per dtype, the engine's batch-B stages: achieved GFLOP/s and the share of the measured matmul rate."""
    from pathlib import Path

    weights, counted = layer_weights(Path(folder)), positions(tokens, batch)
    shares = {}
    for dtype, paths in results["dtypes"].items():
        times = paths["engine"][f"batch_{batch}"]
        peak = results["roofline"]["matmul_gflops"].get(dtype)
        shares[dtype] = {}
        for stage in ("semantic", "coarse", "fine"):
            rate = 2 * weights[stage] * counted[stage] / max(times[stage], 1e-9) / 1e9
            shares[dtype][stage] = {"gflops": round(rate, 1),
                                    "share_of_matmul_rate": round(rate / peak, 3) if peak else None}
    return shares
