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
import math
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import torch
import torch.distributed as dist

from aeflow.errors import AeflowError, ConfigError, TrainingError

TIMEOUT_ENV = "AEFLOW_DDP_TIMEOUT"
MAX_TIMEOUT_S = 7 * 24 * 3600   # timedelta takes far more; a week is longer than any wait meant
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

    def leave(self) -> None:
        """Every process at once leaves the process group (after its last collective): a process that ends
        while another still holds a connection to it can take that one down with it."""
        if self.distributed and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

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
    size = _whole_number("WORLD_SIZE", "1")
    if size <= 1:
        return World()
    rank, local_rank = _whole_number("RANK", None), _whole_number("LOCAL_RANK", "0")
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing or not 0 <= rank < size:
        why = f"{' and '.join(missing)} not set" if missing else f"RANK={rank} is not in 0..{size - 1}"
        raise ConfigError(f"WORLD_SIZE={size} says this is one of {size} processes, but {why}: these are torchrun's "
                          "variables; start the run with torchrun, or unset WORLD_SIZE to train in one process")
    world = World(rank, size, local_rank)
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(world.local_rank)
        try:
            dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_seconds()))
        except (dist.DistError, RuntimeError, ValueError) as e:
            raise TrainingError(f"process {rank} of {size} could not reach the others at "
                                f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} ({str(e).splitlines()[0]}); "
                                "start every process with torchrun") from None
    return world


def _whole_number(name: str, default: str | None) -> int:
    value = os.environ.get(name, default)
    if value is None or not value.strip().isascii() or not value.strip().isdigit():
        raise ConfigError(f"{name}={value!r}: torchrun sets it to a whole number; start the run with torchrun, or "
                          "unset WORLD_SIZE, RANK and LOCAL_RANK to train in one process")
    return int(value)


def timeout_seconds() -> float:
    value = os.environ.get(TIMEOUT_ENV, "600")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT_S):
        raise ConfigError(f"{TIMEOUT_ENV}={value!r}: give the seconds a process waits for the others (> 0, at most "
                          f"{MAX_TIMEOUT_S:,})")
    return seconds


@contextmanager
def lost_process_said(world: World):
    """A collective that fails because another process of the run stopped (killed, out of memory, or refused
    its input) ends in one line naming it, not gloo's or nccl's traceback."""
    try:
        yield
    except (dist.DistError, RuntimeError) as e:
        if not world.distributed or isinstance(e, AeflowError) or not _from_a_peer(e):
            raise
        who = f"process {1 - world.rank}" if world.size == 2 else f"another of the {world.size} processes"
        raise TrainingError(f"{who} of this run stopped, so process {world.rank} stops too (its own error, if it "
                            "printed one, says why); the same command again resumes from the last checkpoint") from None


def _from_a_peer(error: Exception) -> bool:
    text = str(error).lower()
    return isinstance(error, dist.DistError) or any(word in text for word in ("gloo", "nccl", "connection", "peer"))
