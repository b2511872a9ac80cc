"""One training process per device, launched by torchrun: the process group and the few collectives training needs.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; ``world`` then joins the group
(nccl on CUDA, one GPU per LOCAL_RANK; gloo on the CPU). Started without torchrun, a process is a world of
one and no process group exists, so every helper here is then a no-op.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

T = TypeVar("T")
MAIN_RANK = 0
LAUNCH_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")  # what torchrun sets


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    device: torch.device  # this process's device (cuda:LOCAL_RANK under torchrun on GPUs)
    distributed: bool  # in a process group (launched by torchrun)

    @classmethod
    def single(cls, device: torch.device) -> World:
        """A process on its own (no process group)."""
        return cls(MAIN_RANK, 1, device, distributed=False)

    @property
    def is_main(self) -> bool:
        """The process that logs to MLflow and writes checkpoints."""
        return self.rank == MAIN_RANK


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in LAUNCH_ENV)


def backend(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


@contextmanager
def world(device: torch.device) -> Iterator[World]:
    """Join torchrun's process group for the duration (left again if joined here), or a world of one."""
    if not launched_by_torchrun():
        yield World.single(device)
        return
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    joined = not dist.is_initialized()
    if joined:
        dist.init_process_group(backend(device), device_id=device if device.type == "cuda" else None)
    try:
        yield World(dist.get_rank(), dist.get_world_size(), device, distributed=True)
    finally:
        if joined:
            dist.destroy_process_group()


def data_parallel(model: nn.Module, w: World) -> nn.Module:
    """DistributedDataParallel over the group (gradients averaged over processes in backward), or ``model``.

    Every trainable parameter must get a gradient in each step (no search for unused ones); buffers are
    not re-broadcast before each forward, as training never changes them (no batch norm).
    """
    if not w.distributed:
        return model
    device_ids = [w.device.index] if w.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, forward_sync_buffers=False)


def barrier(w: World) -> None:
    if w.distributed:
        dist.barrier()


def all_sum(w: World, values: list[float]) -> list[float]:
    """Element-wise sum over all processes (float64 on this process's device, as nccl needs)."""
    if not w.distributed:
        return values
    total = torch.tensor(values, dtype=torch.float64, device=w.device)
    dist.all_reduce(total)
    return total.tolist()


def from_main(w: World, make: Callable[[], T]) -> T:
    """``make()`` run on the main process only, its (picklable) result sent to every process."""
    box = [make() if w.is_main else None]
    if w.distributed:
        dist.broadcast_object_list(box, src=MAIN_RANK)
    return box[0]


@contextmanager
def main_first(w: World) -> Iterator[None]:
    """The main process runs the body first (e.g. writes a cache), the others after it has finished."""
    if not w.is_main:
        barrier(w)
    yield
    if w.is_main:
        barrier(w)
