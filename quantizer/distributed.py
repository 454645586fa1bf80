"""Where this process stands in a multi-process launch: rank, world size, its device, and the process group.

torchrun (and ``accelerate launch``, which sets the same variables) describe the launch in RANK, WORLD_SIZE and
LOCAL_RANK. Run alone, a process is rank 0 of 1 and every function here is a no-op. This is the one place that
reads them: data generation, feature extraction and training all ask here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Position:
    """This process's place in the launch: ``rank`` of ``world`` processes, ``local_rank`` on its host."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def position() -> Position:
    """The launch's description from the environment; ``Position()`` (rank 0 of 1) when run alone."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return Position(torch.distributed.get_rank(), torch.distributed.get_world_size(),
                        int(os.environ.get("LOCAL_RANK", 0)))
    return Position(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                    int(os.environ.get("LOCAL_RANK", 0)))


def local_device(device: torch.device) -> torch.device:
    """The device this process should use: on CUDA with several processes, the GPU numbered by its local rank."""
    device = torch.device(device)
    place = position()
    if device.type == "cuda" and place.world > 1:
        return torch.device("cuda", place.local_rank)
    return device


def init(device: torch.device) -> torch.device:
    """Join the process group the launcher set up (nccl on CUDA, gloo on CPU); returns this process's device."""
    device = local_device(device)
    if position().world <= 1:
        return device
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def barrier() -> None:
    """Wait for every process of the group (no-op when alone or not yet initialised)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized() and position().world > 1:
        torch.distributed.barrier()


def all_reduce_sum(values: list[float], device) -> list[float]:
    """Element-wise sums of ``values`` over every process (the values themselves when alone)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    if torch.distributed.is_available() and torch.distributed.is_initialized() and position().world > 1:
        torch.distributed.all_reduce(tensor)
    return tensor.tolist()


def all_reduce_gradients(parameters) -> None:
    """Sum the gradients of ``parameters`` over every process (no-op when alone). With each process's loss divided
    by the whole batch's token count, the sum is exactly the gradient of the whole batch seen by one process."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized() and position().world > 1):
        return
    for parameter in parameters:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
        torch.distributed.all_reduce(parameter.grad)
