"""Precision that fits the machine: whether this CPU computes bfloat16 natively, what ``--dtype auto`` means on each
device, and the warning for a precision that would run far slower than float32 here."""

from __future__ import annotations

import functools
import platform
import warnings
from pathlib import Path

from ..constants import AUTO
from ..errors import Advice

NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # x86 AVX-512 BF16 and AMX; Arm's FEAT_BF16 ("bf16")
# Measured on an AMD EPYC with AVX2 only (issue 26; this project's CI machines vary): bfloat16 matrix products at
# 0.8 GFLOP/s against 81 for float32. On CPUs with AVX-512 BF16 or AMX, bfloat16 is the faster of the two.
SLOW_BF16_GFLOPS, FLOAT32_GFLOPS = 0.8, 81.0


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="ignore")[:1 << 20]
    except OSError:
        return frozenset()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def native_bfloat16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (AVX-512 BF16, AMX, or Arm's BF16)."""
    return bool(cpu_flags() & NATIVE_BF16_FLAGS)


def cpu_description() -> str:
    """One line for bench rows and reports: the processor and whether it computes bfloat16 natively."""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text(
            errors="ignore").splitlines() if line.startswith("model name")), "")
    except OSError:
        model = ""
    return (f"{model or platform.processor() or platform.machine()}, bfloat16 "
            f"{'native (' + ', '.join(sorted(cpu_flags() & NATIVE_BF16_FLAGS)) + ')' if native_bfloat16() else 'emulated'}")


def resolve_dtype(dtype: str, device) -> str:
    """``auto``: the fastest precision that fits the device (bfloat16 on a CPU that computes it natively and on
    GPUs that support it, float16 on older CUDA GPUs, else float32); any other value is returned as given, with a
    warning where bfloat16 would be emulated on this CPU."""
    import torch

    kind = torch.device(device).type if device is not None else "cpu"
    if dtype == AUTO:
        if kind == "cuda":
            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return "bfloat16" if kind == "cpu" and native_bfloat16() else "float32"
    if dtype == "bfloat16" and kind == "cpu" and not native_bfloat16():
        warnings.warn(Advice(
            "this CPU has no native bfloat16 (no AVX-512 BF16 or AMX): bfloat16 matrix products run about "
            f"{round(FLOAT32_GFLOPS / SLOW_BF16_GFLOPS, -1):.0f}x slower than float32 on such CPUs (measured {SLOW_BF16_GFLOPS} "
            f"against {FLOAT32_GFLOPS:.0f} GFLOP/s); --dtype auto or float32 is faster here"), stacklevel=2)
    return dtype
