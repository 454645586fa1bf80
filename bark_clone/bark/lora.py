"""Each row's LoRA adapters applied inside a shared batch, as multi-LoRA servers do (Punica, S-LoRA, vLLM): every
voice's A and B of a projection stacked (padded to the batch's largest rank; slot 0 all zeros, for rows without
adapters), gathered per row by index, and applied with two batched matrix products beside the base projection.
Bark's weights are never touched, so rows of a plain prompt, a stock voice and several adapter voices share one
generation. peft's own mixed batches (``adapter_names``) loop over the adapters in Python and need peft's layers
wrapped around the shared model, hence this: the file format stays peft's (``voices.adapters`` converts it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROJECTIONS = ("attn.att_proj", "attn.out_proj", "mlp.in_proj", "mlp.out_proj")  # a block's projections, in order


@dataclass(frozen=True)
class StageAdapter:
    """One voice's adapters on one stage: per projection (its module name in the stage, ``layers.3.attn.att_proj``)
    A (r, in) and B (out, r) float32, LoRA's scale (alpha / r) folded into B. ``key`` identifies the weights (a
    digest): rows with the same key share a slot."""

    key: str
    rank: int
    weights: dict[str, tuple[Any, Any]]

    @property
    def nbytes(self) -> int:
        return sum(a.numel() * a.element_size() + b.numel() * b.element_size() for a, b in self.weights.values())


@dataclass(frozen=True)
class Worn:
    """A row's voice wearing adapters: the history it continues (a prompt, a stock voice's name, or None) and its
    adapters by stage (the ``BarkModel`` attribute: ``coarse_acoustics``, ``fine_acoustics``)."""

    voice: Any
    stages: dict[str, StageAdapter]


def history_of(voice: Any) -> Any:
    """The history a row continues, whether or not its voice wears adapters."""
    return voice.voice if isinstance(voice, Worn) else voice


class BatchLoRA:
    """One stage's adapters for the rows of a batch: ``select(rows)`` gathers each row's A and B (transposed, so a
    step is two ``bmm``) for the rows running now; ``add(name, inputs, output)`` adds their products to a base
    projection's ``output``, in float32 (as peft computes an adapter beside a bfloat16 base)."""

    def __init__(self, adapters: list[StageAdapter | None], device) -> None:
        import torch

        distinct: dict[str, StageAdapter] = {}
        for adapter in adapters:
            if adapter is not None:
                distinct.setdefault(adapter.key, adapter)
        slot_of = {key: slot for slot, key in enumerate(distinct, start=1)}
        self.slots = torch.tensor([0 if adapter is None else slot_of[adapter.key] for adapter in adapters],
                                  dtype=torch.long, device=device)
        rank = max(adapter.rank for adapter in distinct.values())
        names = sorted({name for adapter in distinct.values() for name in adapter.weights})
        self.stacks: dict[str, tuple[Any, Any]] = {}
        for name in names:
            first_a, first_b = next(adapter.weights[name] for adapter in distinct.values()
                                    if name in adapter.weights)
            down = torch.zeros((len(distinct) + 1, first_a.shape[1], rank), dtype=torch.float32, device=device)
            up = torch.zeros((len(distinct) + 1, rank, first_b.shape[0]), dtype=torch.float32, device=device)
            for slot, adapter in enumerate(distinct.values(), start=1):
                if name in adapter.weights:
                    a, b = adapter.weights[name]
                    down[slot, :, : adapter.rank] = a.T.to(device, torch.float32)
                    up[slot, : adapter.rank] = b.T.to(device, torch.float32)
            self.stacks[name] = (down, up)
        self.gathered: dict[str, tuple[Any, Any]] = {}

    @classmethod
    def of(cls, adapters: list[StageAdapter | None], device) -> BatchLoRA | None:
        """The batch's adapters on a stage, or None when no row wears any there (the base model alone)."""
        return cls(adapters, device) if any(adapter is not None for adapter in adapters) else None

    def select(self, rows) -> BatchLoRA:
        """This batch's adapters gathered for ``rows`` (indices into the batch, in the order they run)."""
        import torch

        index = self.slots[torch.as_tensor(rows, dtype=torch.long, device=self.slots.device)]
        self.gathered = {name: (down[index], up[index]) for name, (down, up) in self.stacks.items()}
        return self

    def add(self, name: str, inputs, output):
        """``output`` (B, T, out) of the base projection ``name`` plus each row's adapter on ``inputs`` (B, T, in)."""
        import torch

        pair = self.gathered.get(name)
        if pair is None:
            return output
        down, up = pair
        delta = torch.bmm(torch.bmm(inputs.to(torch.float32), down), up)
        return (output.to(torch.float32) + delta).to(output.dtype)
