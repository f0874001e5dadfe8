"""What happens around the loop's steps, in the main process only: the progress bar (and every line the run says),
the metrics log, and what the caller adds (sample grids, snapshots). The loop trains and reduces across processes;
it writes no file and prints no line itself (checkpoints are aeflow.training.checkpoint's, also written by the main
process)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from aeflow.errors import DataError
from aeflow.files import append_line, atomic_write_text
from aeflow.progress import announce_from_first, duration, say
from aeflow.threads import CoreSharing

ESTIMATE_AFTER_STEPS = 20   # the time they take, times the steps left, is said when it is over a minute


@dataclass(frozen=True)
class Start:
    """Where the loop starts."""
    run_dir: Path
    epoch: int                       # epochs already done
    batch_index: int                 # steps already done in the next one
    epochs: int
    steps_per_epoch: int
    resumed: bool                    # from a checkpoint
    notes: list[str] = field(default_factory=list)   # what the run should say before it starts


class Callback:
    """Hooks the loop calls; each does nothing unless a subclass says otherwise."""

    def started(self, start: Start) -> None:
        """Before the first step (of this call: a resumed run starts where its checkpoint is)."""

    def step_end(self, step: int, epoch: int, lr: float, loss: torch.Tensor, train_time: float) -> None:
        """After optimiser step `step` (counted from 1 over the whole run) of epoch `epoch` (from 1); `loss` is a
        tensor still on the device: reading it waits for the device."""

    def epoch_end(self, model: torch.nn.Module, metrics: dict[str, Any], epoch_time: float) -> None:
        """After epoch `metrics["epoch"]` was evaluated, with the weights used for evaluation (the EMA) in place."""

    def close(self) -> None:
        """The loop ended, finished, interrupted or failed."""


class ProgressBar(Callback):
    """A bar on a terminal (in a log file its carriage-return frames are noise), and after the first
    ESTIMATE_AFTER_STEPS steps the time the whole run will take, where that is over a minute."""

    def __init__(self, epochs: int, first_step: int, total_steps: int, images_per_step: int, show: bool) -> None:
        self.epochs, self.first_step, self.total_steps = epochs, first_step, total_steps
        self.images_per_step, self.began = images_per_step, time.perf_counter()
        self.bar = tqdm(total=total_steps, initial=first_step, unit="step", dynamic_ncols=True,
                        disable=not (show and sys.stderr.isatty()))

    def started(self, start: Start) -> None:
        for note in start.notes:
            say(f"aeflow: note: {note}")
        if start.resumed:
            where = (f"from epoch {start.epoch + 1} of {start.epochs}, step {start.batch_index} of "
                     f"{start.steps_per_epoch}" if start.epoch < start.epochs else
                     f"after its last epoch ({start.epochs}): nothing left to train")
            say(f"resuming {start.run_dir} {where}")

    def step_end(self, step: int, epoch: int, lr: float, loss: torch.Tensor, train_time: float) -> None:
        self.bar.update(1)
        if step - self.first_step == ESTIMATE_AFTER_STEPS:   # evaluations not counted
            announce_from_first(f"training {self.epochs} epochs", self.began, ESTIMATE_AFTER_STEPS,
                                self.total_steps - self.first_step, "steps", "--epochs or --train-subset")
        if not self.bar.disable and step % 10 == 0:
            self.bar.set_postfix(epoch=epoch, loss=f"{float(loss):.4g}", lr=f"{lr:.2e}",
                                 img_s=f"{step * self.images_per_step / max(train_time, 1e-9):.0f}")

    def epoch_end(self, model: torch.nn.Module, metrics: dict[str, Any], epoch_time: float) -> None:
        remaining = (self.epochs - metrics["epoch"]) * epoch_time
        left = f"  about {duration(remaining)} left" if remaining >= 10 else ""
        tests = "  ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k.startswith("test/"))
        tqdm.write(f"epoch {metrics['epoch']}/{self.epochs}  train/loss={metrics['train/loss']:.4f}  {tests}  "
                   f"{metrics['images_per_s']:.0f} img/s{left}", file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


class MetricsLog(Callback):
    """A line of JSON per epoch in metrics.jsonl (the run's loss curve): a new run starts it empty, a resumed one
    keeps the lines of the epochs its checkpoint holds (those after it were written just before an interruption)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def started(self, start: Start) -> None:
        if not start.resumed:
            atomic_write_text(self.path, "")
            return
        kept = [m for m in read_metrics(self.path) if m["epoch"] <= start.epoch]
        missing = sorted(set(range(1, start.epoch + 1)) - {m["epoch"] for m in kept})
        if missing:   # a log edited or deleted by hand: training goes on, and says what the log will lack
            shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
            say(f"aeflow: warning: {self.path} lacks the lines of epoch(s) {shown}, which cannot be rebuilt; the "
                "loss curve will have that gap")
        atomic_write_text(self.path, "".join(json.dumps(m) + "\n" for m in kept))

    def epoch_end(self, model: torch.nn.Module, metrics: dict[str, Any], epoch_time: float) -> None:
        append_line(self.path, json.dumps(metrics))


class GiveWay(Callback):
    """After each step, another aeflow job on the machine may compute its step (aeflow.threads: the jobs take
    turns at the cores), or under AEFLOW_THREADS=adaptive this job's share of the cores is taken again."""

    def __init__(self, sharing: CoreSharing) -> None:
        self.sharing = sharing

    def step_end(self, step: int, epoch: int, lr: float, loss: torch.Tensor, train_time: float) -> None:
        self.sharing.give_way()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The epochs' records of a metrics.jsonl (none when it is missing)."""
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
                raise DataError(f"{path}, line {number}, is not an epoch's JSON record: the file was damaged; delete "
                                "that line (the checkpoint, not this log, is what a resume continues from)")
            rows.append(row)
    return rows
