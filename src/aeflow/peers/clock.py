"""A wall-clock training budget shared by the peers' loops: when it is spent, and when a snapshot of the weights
is due along the way (the FD-against-seconds curve)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from aeflow.files import atomic_save


class BudgetSpent(Exception):
    """Raised from inside a library's training loop (a callback) when the budget is spent."""


class Clock:
    """`seconds` of training; a snapshot of the weights at each of `fractions` of it, into `folder`. The clock
    runs from `start()`, which a library's loop calls as its first optimiser step begins: the library's set-up
    (building its trainer, data loaders, logs) is not training time, as aeflow's own clock does not count its."""

    def __init__(self, seconds: float, fractions: tuple[float, ...], folder: Path) -> None:
        self.seconds, self.folder = seconds, Path(folder)
        self.due = sorted(f * seconds for f in fractions if 0 < f < 1)
        self.snapshots: list[dict] = []
        self.started: float | None = None
        self.steps = 0

    def start(self) -> None:
        """At the first optimiser step (later calls do nothing)."""
        if self.started is None:
            self.started = time.perf_counter()

    def elapsed(self) -> float:
        return 0.0 if self.started is None else time.perf_counter() - self.started

    def spent(self) -> bool:
        return self.elapsed() >= self.seconds

    def tick(self, weights: Callable[[], dict[str, torch.Tensor]]) -> bool:
        """After each optimiser step: a snapshot of `weights()` (what would be sampled: the EMA where there is
        one) if one is due; True once the budget is spent."""
        self.start()   # a loop that did not start the clock at its first step starts it at the end of it
        self.steps += 1
        now = self.elapsed()
        if self.due and now >= self.due[0]:
            self.due.pop(0)
            self.save_snapshot(weights(), now)
        return now >= self.seconds

    def save_snapshot(self, state: dict[str, torch.Tensor], seconds: float) -> None:
        path = self.folder / "snapshots" / f"step-{self.steps}.safetensors"
        paused = time.perf_counter()
        atomic_save({k: v.detach().cpu().clone() for k, v in state.items()}, path)
        self.started += time.perf_counter() - paused   # writing the snapshot is not training time
        self.snapshots.append({"seconds": round(seconds, 2), "steps": self.steps,
                               "weights": str(path.relative_to(self.folder))})
