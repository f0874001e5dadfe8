"""The processes one run trains in: one by default, several under `torchrun` (PyTorch's launcher sets RANK,
WORLD_SIZE and LOCAL_RANK for each). Everything the trainer and the run layer need to know about the others
is here: which rank is the main one (the only one that writes files), each rank's share of a batch, and the
collectives (average, any, barrier, gather). With one process every one of them is a no-op, so the
single-process path does no more work than before.

A global batch of B images is split into WORLD_SIZE consecutive slices of B / WORLD_SIZE rows; gradients are
averaged by DistributedDataParallel, so a step is the step one process takes on the whole batch (up to the
order of float sums). Backend: nccl on CUDA, gloo otherwise. A rank that waits longer than AEFLOW_DDP_TIMEOUT
seconds (default 600) for the others stops with an error instead of hanging; torchrun also stops every rank
when one of them exits with an error.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import torch
import torch.distributed as dist

from aeflow.errors import ConfigError

TIMEOUT_ENV = "AEFLOW_DDP_TIMEOUT"
T = TypeVar("T")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def device(self, name: str) -> str:
        """The device this rank trains on: torchrun's local rank picks the GPU when the config says cuda."""
        if self.distributed and name in ("cuda", "auto") and torch.cuda.is_available():
            return f"cuda:{self.local_rank}"
        return name

    def local_batch(self, batch_size: int) -> int:
        if batch_size % self.size:
            raise ConfigError(f"batch_size {batch_size} does not split over {self.size} processes; give a multiple "
                              f"of {self.size} (the batch size is the global one: each process takes an equal slice)")
        return batch_size // self.size

    def shard(self, rows: torch.Tensor) -> torch.Tensor:
        """This rank's consecutive slice of a global batch's rows (equal slices: see `local_batch`)."""
        share = len(rows) // self.size
        return rows[self.rank * share:(self.rank + 1) * share]

    def total(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of `tensor` over the ranks (every rank gets it)."""
        if not self.distributed:
            return tensor
        summed = _for_backend(tensor)
        dist.all_reduce(summed)
        return summed.to(tensor.device)

    def average(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.total(tensor) / self.size

    def any(self, flag: bool) -> bool:
        """Whether `flag` is set in any process (so that every process takes the same branch)."""
        if not self.distributed:
            return flag
        flags = _for_backend(torch.tensor([int(flag)], dtype=torch.int32))
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return bool(flags.item())

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's `tensor` (same shape on each), in rank order."""
        if not self.distributed:
            return [tensor]
        tensor = _for_backend(tensor)
        out = [torch.empty_like(tensor) for _ in range(self.size)]
        dist.all_gather(out, tensor)
        return out

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def main_first(self, work: Callable[[], T]) -> T:
        """`work()` on the main rank, then on the others: what it writes (a download, derived data) they read."""
        if self.main:
            result = work()
        self.barrier()
        if not self.main:
            result = work()
        return result


def _for_backend(tensor: torch.Tensor) -> torch.Tensor:
    """A copy where the collective can reach it: nccl moves only GPU tensors."""
    if dist.get_backend() == "nccl":
        return tensor.to(f"cuda:{torch.cuda.current_device()}", copy=True)
    return tensor.clone()


@cache
def current() -> World:
    """The world of this process, from torchrun's environment; the process group is started the first time."""
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1:
        return World()
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_seconds()))
    return world


def timeout_seconds() -> float:
    value = os.environ.get(TIMEOUT_ENV, "600")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise ConfigError(f"{TIMEOUT_ENV}={value!r}: give the seconds a process waits for the others (> 0)")
    return seconds
