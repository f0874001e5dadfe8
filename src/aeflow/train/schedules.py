"""Schedules as pure functions of the step or epoch: nothing to save, identical after a resume."""

from __future__ import annotations

import math
from dataclasses import dataclass

from aeflow.config import choice, require


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, final_fraction: float = 0.0) -> float:
    """Multiplier of the base rate: linear warm-up from 1/warmup to 1, then cosine decay to `final_fraction`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class WeightSchedule:
    """A loss-term weight as a function of (fractional) epoch: KL warm-up, cyclical annealing, constants.

    linear:    start -> end over `epochs`, then end (Bowman et al. 2016's KL warm-up: start 0, end 1).
    cyclical:  cycles of `epochs`; rises linearly start -> end over the first `ramp` of each cycle, then holds
               (Fu et al. 2019).
    constant:  `end` throughout.
    """

    kind: str = "linear"
    start: float = 0.0
    end: float = 1.0
    epochs: float = 10.0
    ramp: float = 0.5

    def validate(self) -> None:
        choice("schedule kind", self.kind, ["linear", "cyclical", "constant"])
        require(self.epochs > 0, f"schedule epochs must be > 0, got {self.epochs}")
        require(0 < self.ramp <= 1, f"schedule ramp must be in (0, 1], got {self.ramp}")

    def value(self, epoch: float) -> float:
        if self.kind == "constant":
            return self.end
        if self.kind == "linear":
            progress = min(1.0, epoch / self.epochs)
        else:
            progress = min(1.0, (epoch % self.epochs) / (self.ramp * self.epochs))
        return self.start + (self.end - self.start) * progress
