"""The one training loop. It knows nothing about model families: it minimises `model.loss(batch)["loss"]`,
where a batch maps names to the same rows of each tensor it was given ("x": images, "y": labels, "noise":
coupled noise...). A `Phased` model (a GAN: discriminator, generator) gets one optimiser per phase,
stepped in turn on each batch with `model.loss(batch, phase=...)`, gradients reaching only
`model.phase_parameters(phase)`. A model with `WeightedTerms` gets its loss-term weights scheduled.

AdamW, linear warm-up then cosine decay, gradient clipping, optional bf16 autocast, seeded and
deterministic on CPU. Every epoch: a test evaluation, a line in metrics.jsonl, an atomic checkpoint.
With `ema_decay`, evaluation (and the caller's sampling) uses an average of the weights.
The checkpoint holds the exact position in the epoch, so Ctrl-C (which finishes the current step,
saves and stops) followed by `resume=True` gives the same weights as an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from aeflow.config import TrainConfig, WeightSchedule
from aeflow.errors import ConfigError, DataError, Interrupted, TrainingError
from aeflow.files import atomic_write_text
from aeflow.progress import announce_from_first, duration
from aeflow.protocols import Phased, WeightedTerms
from aeflow.threads import share_cores
from aeflow.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from aeflow.training.ema import EMA
from aeflow.training.schedules import warmup_cosine

METRICS = "metrics.jsonl"
ESTIMATE_AFTER_STEPS = 20   # the time they take, times the steps left, is said when it is over a minute


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but torch sees no CUDA GPU; use --device cpu")
    return torch.device(name)


def make_optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.AdamW:
    # Weight decay on weight matrices only, not on biases and norm scales (as nanoGPT and most recipes).
    params = [p for p in params if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))


def phase_parameters(model: torch.nn.Module) -> dict[str, list[torch.nn.Parameter]]:
    """The parameters each optimiser steps: one phase "" with all of them, or the model's own phases."""
    if not isinstance(model, Phased):
        return {"": list(model.parameters())}
    return {phase: model.phase_parameters(phase) for phase in model.phases}


@contextmanager
def _stop_on_sigint():
    """First Ctrl-C asks the loop to stop after the current step; a second one stops at once."""
    flag = {"stop": False}

    def handler(signum, frame):
        flag["stop"] = True
        signal.signal(signal.SIGINT, previous)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: signals cannot be caught here
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _rows(data: dict[str, torch.Tensor]) -> int:
    return len(next(iter(data.values())))


def evaluate(model: torch.nn.Module, data: dict[str, torch.Tensor], batch_size: int,
             bf16: bool = False) -> dict[str, float]:
    """Mean of every loss term over `data` (named tensors with the same rows), in eval mode."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    n = _rows(data)
    with torch.no_grad(), torch.autocast(data["x"].device.type, dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, n, batch_size):
            batch = {k: t[i:i + batch_size] for k, t in data.items()}
            for k, v in model.loss(batch).items():
                sums[k] = sums.get(k, 0.0) + float(v) * _rows(batch)
    model.train(was_training)
    return {k: v / n for k, v in sums.items()}


def train(model: torch.nn.Module, train_data: dict[str, torch.Tensor], test_data: dict[str, torch.Tensor],
          cfg: TrainConfig, run_dir: Path, resume: bool = False,
          on_epoch_end: Callable[[torch.nn.Module, int], None] | None = None) -> tuple[dict[str, Any], EMA | None]:
    """Train `model` in place; write metrics.jsonl and checkpoint.safetensors into `run_dir`. Returns the
    last epoch's metrics and the weight average (None without `ema_decay`). `on_epoch_end(model, epoch)` is
    called after each epoch with the weights used for evaluation in place."""
    device = resolve_device(cfg.device)
    model.to(device)
    train_data = {k: t.to(device) for k, t in train_data.items()}
    test_data = {k: t.to(device) for k, t in test_data.items()}
    n = _rows(train_data)
    if cfg.batch_size > n:
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than the training set ({n}); lower --batch-size")
    steps_per_epoch = n // cfg.batch_size  # full batches only; each epoch reshuffles
    total_steps = steps_per_epoch * cfg.epochs
    warmup_steps = round(cfg.warmup_epochs * steps_per_epoch)
    params = phase_parameters(model)
    optimizers = {phase: make_optimizer(p, cfg) for phase, p in params.items()}
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    weight_schedules = {name: WeightSchedule.parse(spec, f"train.loss_weights.{name}")
                        for name, spec in cfg.loss_weights.items()}
    if weight_schedules and not isinstance(model, WeightedTerms):
        raise ConfigError(f"train.loss_weights given, but {type(model).__name__} has no weighted loss terms")
    unknown = sorted(set(weight_schedules) - set(model.weighted_terms)) if weight_schedules else []
    if unknown:
        raise ConfigError(f"train.loss_weights: {type(model).__name__} has no weighted term {', '.join(unknown)}; "
                          f"its terms: {', '.join(model.weighted_terms)}")
    shuffle = torch.Generator().manual_seed(cfg.seed)
    ckpt_path, metrics_path = run_dir / CHECKPOINT_NAME, run_dir / METRICS

    epoch, batch_index, train_time = 0, 0, 0.0
    epoch_sums: dict[str, float] = {}
    epoch_shuffle_state = shuffle.get_state()
    if resume and ckpt_path.exists():
        rng, state = load_checkpoint(ckpt_path, model, optimizers, ema.shadow if ema else None)
        planned = state.get("epochs", cfg.epochs)
        if planned != cfg.epochs and cfg.final_lr_fraction != 1.0:
            raise ConfigError(f"{run_dir}: the checkpoint was trained for {planned} epochs with a decaying learning "
                              f"rate, and config.yaml now says {cfg.epochs}: more or fewer epochs would have decayed "
                              "it differently; restore epochs in config.yaml or start a new run")
        if state.get("steps_per_epoch", steps_per_epoch) != steps_per_epoch:
            raise ConfigError(f"{run_dir}: the checkpoint took {state['steps_per_epoch']} steps an epoch and "
                              f"config.yaml now makes {steps_per_epoch} (its batch size or training set was "
                              "edited); restore them, or start a new run")
        epoch, batch_index, train_time = state["epoch"], state["batch_index"], state["train_time"]
        epoch_sums = state["epoch_sums"]
        epoch_shuffle_state = rng["shuffle"]
        torch.set_rng_state(rng["torch"])
        _truncate_metrics(metrics_path, epoch)
        where = (f"from epoch {epoch + 1} of {cfg.epochs}, step {batch_index} of {steps_per_epoch}"
                 if epoch < cfg.epochs else f"after its last epoch ({cfg.epochs}): nothing left to train")
        print(f"resuming {ckpt_path.parent} {where}", file=sys.stderr, flush=True)
    else:   # a new run, or one killed before its first checkpoint: no epoch is done
        metrics_path.unlink(missing_ok=True)

    def checkpoint() -> None:
        save_checkpoint(ckpt_path, model, optimizers,
                        {"shuffle": epoch_shuffle_state, "torch": torch.get_rng_state()},
                        {"epoch": epoch, "batch_index": batch_index, "train_time": train_time, "epochs": cfg.epochs,
                         "epoch_sums": epoch_sums, "steps_per_epoch": steps_per_epoch},
                        ema.shadow if ema else None)

    def evaluation_weights():
        return ema.applied(model) if ema else nullcontext(model)

    step = epoch * steps_per_epoch + batch_index
    # a bar only on a terminal: in a log file its carriage-return frames are noise (the epoch lines stay)
    bar = tqdm(total=total_steps, initial=step, disable=not (cfg.progress and sys.stderr.isatty()), unit="step",
               dynamic_ncols=True)
    last: dict[str, Any] = {}
    model.train()
    first_step, started = step, time.perf_counter()
    with _stop_on_sigint() as sigint:
        while epoch < cfg.epochs:
            shuffle.set_state(epoch_shuffle_state)
            perm = torch.randperm(n, generator=shuffle).to(device)
            t0 = time.perf_counter()
            while batch_index < steps_per_epoch:
                share_cores()   # another aeflow command started or ended: take this one's share of the cores
                if sigint["stop"]:
                    train_time += time.perf_counter() - t0
                    checkpoint()
                    bar.close()
                    raise Interrupted(f"interrupted at epoch {epoch + 1}, step {step}; checkpoint saved in "
                                      f"{ckpt_path}")
                lr = cfg.lr * warmup_cosine(step, total_steps, warmup_steps, cfg.final_lr_fraction)
                for optimizer in optimizers.values():
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                for name, schedule in weight_schedules.items():
                    model.loss_weights[name] = schedule.value(step / steps_per_epoch)
                rows = perm[batch_index * cfg.batch_size:(batch_index + 1) * cfg.batch_size]
                batch = {k: t[rows] for k, t in train_data.items()}
                loss_value = 0.0
                for phase, optimizer in optimizers.items():
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                        terms = model.loss(batch, phase=phase) if phase else model.loss(batch)
                    loss = terms["loss"]
                    phase_loss = loss.item()
                    if not math.isfinite(phase_loss):
                        bar.close()
                        kept = (f"the last good checkpoint ({ckpt_path}, epoch {epoch}) is kept"
                                if ckpt_path.exists() else "no checkpoint was written yet")
                        raise TrainingError(f"{phase or 'the'} loss became {phase_loss} at epoch {epoch + 1}, step "
                                            f"{step}; {kept}. Lower --lr, keep gradient clipping on, or drop --bf16")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward(inputs=params[phase] if phase else None)
                    if cfg.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(params[phase], cfg.grad_clip)
                    optimizer.step()
                    loss_value += phase_loss
                    for k, v in terms.items():
                        if k != "loss":
                            epoch_sums[k] = epoch_sums.get(k, 0.0) + float(v.detach())
                epoch_sums["loss"] = epoch_sums.get("loss", 0.0) + loss_value
                if ema:
                    ema.update(model, step)
                batch_index += 1
                step += 1
                bar.update(1)
                if step - first_step == ESTIMATE_AFTER_STEPS:   # evaluations not counted
                    announce_from_first(f"training {cfg.epochs} epochs", started, ESTIMATE_AFTER_STEPS,
                                        total_steps - first_step, "steps", "--epochs or --train-subset")
                if step % 10 == 0 or batch_index == steps_per_epoch:
                    elapsed = train_time + time.perf_counter() - t0
                    bar.set_postfix(epoch=epoch + 1, loss=f"{loss_value:.4g}", lr=f"{lr:.2e}",
                                    img_s=f"{step * cfg.batch_size / max(elapsed, 1e-9):.0f}")
            epoch_time = time.perf_counter() - t0
            train_time += epoch_time
            with evaluation_weights():
                test = evaluate(model, test_data, cfg.eval_batch_size, cfg.bf16)
                if on_epoch_end:
                    on_epoch_end(model, epoch + 1)
            last = {"epoch": epoch + 1, "step": step, "lr": lr, "train_time": round(train_time, 3),
                    "images_per_s": round(steps_per_epoch * cfg.batch_size / max(epoch_time, 1e-9), 1),
                    **{f"weight/{k}": v for k, v in (model.loss_weights if isinstance(model, WeightedTerms)
                                                      else {}).items()},
                    **{f"train/{k}": v / steps_per_epoch for k, v in epoch_sums.items()},
                    **{f"test/{k}": v for k, v in test.items()}}
            with open(metrics_path, "a") as f:
                f.write(json.dumps(last) + "\n")
            tqdm.write(_epoch_line(last, cfg.epochs, epoch_time), file=sys.stderr)
            epoch, batch_index, epoch_sums = epoch + 1, 0, {}
            epoch_shuffle_state = shuffle.get_state()
            checkpoint()
    bar.close()
    if not last:  # resumed a run that had already finished
        last = read_metrics(metrics_path)[-1]
    return last, ema


def _epoch_line(m: dict[str, Any], epochs: int, epoch_time: float) -> str:
    tests = "  ".join(f"{k}={v:.4f}" for k, v in m.items() if k.startswith("test/"))
    remaining = (epochs - m["epoch"]) * epoch_time
    left = f"  about {duration(remaining)} left" if remaining >= 10 else ""
    return (f"epoch {m['epoch']}/{epochs}  train/loss={m['train/loss']:.4f}  {tests}  {m['images_per_s']:.0f} img/s"
            + left)


def read_metrics(path: Path) -> list[dict[str, Any]]:
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


def _truncate_metrics(path: Path, completed_epochs: int) -> None:
    """Drop lines of epochs the checkpoint does not include (written just before an interruption)."""
    kept = [m for m in read_metrics(path) if m["epoch"] <= completed_epochs]
    missing = sorted(set(range(1, completed_epochs + 1)) - {m["epoch"] for m in kept})
    if missing:   # a log edited or deleted by hand: training goes on, and says what the log will lack
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        print(f"aeflow: warning: {path} lacks the lines of epoch(s) {shown}, which cannot be rebuilt; the loss "
              "curve will have that gap", file=sys.stderr, flush=True)
    atomic_write_text(path, "".join(json.dumps(m) + "\n" for m in kept))
