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

import math
import signal
import time
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aeflow.config import TrainConfig, WeightSchedule
from aeflow.errors import ConfigError, Interrupted, TrainingError
from aeflow.nn.ema import EMA
from aeflow.protocols import Phased, WeightedTerms
from aeflow.threads import ALONE, CoreSharing
from aeflow.training.callbacks import Callback, MetricsLog, ProgressBar, Start, read_metrics
from aeflow.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from aeflow.training.schedules import warmup_cosine
from aeflow.training.world import World, current

METRICS = "metrics.jsonl"
SYNC_EVERY = 10   # on a GPU, steps between the checks that read a loss back (NaN, Ctrl-C): each one waits for it
# Checkpoints after the first and the last epoch, at Ctrl-C, and between them at most one per this many seconds:
# a small model's epochs take milliseconds, and a checkpoint each would spend the run writing. A killed run
# resumes from the last one, bitwise as if never stopped.
CHECKPOINT_EVERY_S = 10.0


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
    # The fused kernel updates every parameter in one pass instead of a dozen tensor operations each: the same
    # update to float rounding, and a small model's step markedly shorter on a CPU (docs/benchmarks.md).
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), fused=True)


def phase_parameters(model: torch.nn.Module) -> dict[str, list[torch.nn.Parameter]]:
    """The parameters each optimiser steps: one phase "" with all of them, or the model's own phases."""
    if not isinstance(model, Phased):
        return {"": list(model.parameters())}
    return {phase: model.phase_parameters(phase) for phase in model.phases}


@contextmanager
def _stop_on_sigint(escalate: bool = True):
    """First Ctrl-C asks the loop to stop after the current step; a second one stops at once (`escalate`; not
    under torchrun, which passes a terminal's Ctrl-C on to processes that had it already, and kills them
    itself 30 s later)."""
    flag = {"stop": False}

    def handler(signum, frame):
        flag["stop"] = True
        if escalate:
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


def channels_last(model: torch.nn.Module, device: torch.device) -> bool:
    """Whether to train in channels-last memory: convolutions on a GPU (cuDNN's fast kernels take NHWC; on
    a CPU a UNet's forward pass is no faster in it: docs/benchmarks.md)."""
    return device.type == "cuda" and any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def _on(t: torch.Tensor, device: torch.device, memory_format: torch.memory_format) -> torch.Tensor:
    """The whole tensor on the training device once (no per-step host-to-device copies); images in the
    model's memory format."""
    return t.to(device, memory_format=memory_format) if t.ndim == 4 else t.to(device)


def _rows(data: dict[str, torch.Tensor]) -> int:
    return len(next(iter(data.values())))


def evaluate(model: torch.nn.Module, data: dict[str, torch.Tensor], batch_size: int,
             bf16: bool = False, world: World | None = None) -> dict[str, float]:
    """Mean of every loss term over `data` (named tensors with the same rows), in eval mode; under several
    processes each evaluates its slice of the rows and the sums are added up."""
    world = world or World()
    was_training = model.training
    model.eval()
    n = _rows(data)
    share = -(-n // world.size)   # this process's consecutive rows (the last one's may be fewer)
    first, end = min(n, world.rank * share), min(n, (world.rank + 1) * share)
    sums: dict[str, torch.Tensor] = {}
    with torch.no_grad(), torch.autocast(data["x"].device.type, dtype=torch.bfloat16, enabled=bf16):
        for i in range(first, end, batch_size):
            batch = {k: t[i:min(i + batch_size, end)] for k, t in data.items()}
            for k, v in model.loss(batch).items():
                sums[k] = sums.get(k, 0.0) + v.detach().double() * _rows(batch)
    model.train(was_training)
    return {k: float(world.total(v)) / n for k, v in sorted(sums.items())}


class LossOf(torch.nn.Module):
    """`model.loss(batch[, phase])` as a module's forward, holding only the parameters that phase steps:
    what DistributedDataParallel wraps, so that it sees the forward its gradients follow (and, for a
    two-phase GAN, averages only the gradients of the phase that took the step)."""

    def __init__(self, model: torch.nn.Module, phase: str, params: list[torch.nn.Parameter]) -> None:
        super().__init__()
        self.phase, self.stepped = phase, torch.nn.ParameterList(params)
        self.__dict__["model"] = model   # not a submodule: its other parameters are not this phase's

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model.loss(batch, phase=self.phase) if self.phase else self.model.loss(batch)


def loss_modules(model: torch.nn.Module, params: dict[str, list[torch.nn.Parameter]], world: World,
                 compile: bool = False) -> dict[str, torch.nn.Module]:
    """One loss module per phase; under several processes each is wrapped in DistributedDataParallel, and with
    `compile` in torch.compile (outside DDP, as PyTorch's DDP notes advise)."""
    if world.distributed and getattr(model, "state_outside_gradients", False):
        raise ConfigError(f"{type(model).__name__} updates state outside its gradients as it trains (see its "
                          "state_outside_gradients), which each process would update apart: train it in one process")
    modules = {phase: LossOf(model, phase, [p for p in p_list if p.requires_grad]) for phase, p_list in params.items()}
    if world.distributed:
        modules = _distributed(model, modules, world)
    return {phase: torch.compile(m) for phase, m in modules.items()} if compile else modules


def _distributed(model: torch.nn.Module, modules: dict[str, torch.nn.Module], world: World
                 ) -> dict[str, torch.nn.Module]:
    from torch.nn.parallel import DistributedDataParallel

    device = next(model.parameters()).device
    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        if device.type == "cuda":   # batch statistics over the global batch, as in one process
            torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return {phase: DistributedDataParallel(m, device_ids=ids) for phase, m in modules.items()}


@dataclass
class Position:
    """Where the loop is: what a checkpoint keeps besides weights, optimiser moments and random states."""
    epoch: int = 0
    batch_index: int = 0
    train_time: float = 0.0
    sums: dict[str, torch.Tensor] = field(default_factory=dict)   # this epoch's loss terms so far, summed


# The one loop, longer than a screen on purpose: it reads top to bottom as nanoGPT's does; what does not share its
# state (placing the data, a step, an epoch's line, the schedules) is split out below.
def train(model: torch.nn.Module, train_data: dict[str, torch.Tensor], test_data: dict[str, torch.Tensor],
          cfg: TrainConfig, run_dir: Path, resume: bool = False, callbacks: Sequence[Callback] = (),
          sharing: CoreSharing = ALONE
          ) -> tuple[dict[str, Any], EMA | None]:   # over 60 lines: the one loop, read top to bottom (nanoGPT's way)
    """Train `model` in place; write metrics.jsonl and checkpoint.safetensors into `run_dir`; (the last epoch's
    metrics, the weight average or None). `callbacks` run after each step and epoch, before the metrics log and
    the progress line; under torchrun the main process alone runs them and writes files (training/world.py).
    `sharing` pins the run's threads (those it started with, when resumed) unless its policy is adaptive."""
    world = current()
    device, train_data, test_data = _placed(model, train_data, test_data, cfg, world)
    n = _rows(train_data)
    steps_per_epoch = _steps_per_epoch(n, cfg, world)
    total_steps, warmup_steps = steps_per_epoch * cfg.epochs, round(cfg.warmup_epochs * steps_per_epoch)
    params = phase_parameters(model)
    optimizers = {phase: make_optimizer(p, cfg) for phase, p in params.items()}
    losses, ema = loss_modules(model, params, world, cfg.compile), EMA(model, cfg.ema_decay) if cfg.ema_decay else None
    weight_schedules, shuffle = _weight_schedules(model, cfg), torch.Generator().manual_seed(cfg.seed)
    ckpt_path, metrics_path = run_dir / CHECKPOINT_NAME, run_dir / METRICS
    at, epoch_shuffle_state, threads, resumed = _start(ckpt_path, resume, model, optimizers, ema, cfg,
                                                       steps_per_epoch, world, device, shuffle)
    checkpoints = _Checkpoints(ckpt_path, model, optimizers, ema, world, device,
                               {"epochs": cfg.epochs, "steps_per_epoch": steps_per_epoch, "world_size": world.size,
                                "threads": threads})
    step = at.epoch * steps_per_epoch + at.batch_index
    hooks = _started_hooks(callbacks, cfg, Start(run_dir, at.epoch, at.batch_index, cfg.epochs, steps_per_epoch,
                                                 resumed, _notes(model, world, device)), total_steps, world)
    check_every = 1 if device.type == "cpu" else SYNC_EVERY   # a check reads the loss back: on a GPU, a wait
    last: dict[str, Any] = {}
    def out_of_time(seconds: float) -> bool:   # every process ends at the same step
        return cfg.max_train_seconds > 0 and world.any(seconds >= cfg.max_train_seconds)

    model.train()
    with _stop_on_sigint(escalate=not world.distributed) as sigint, _closing(hooks), sharing.pinned(threads):
        while at.epoch < cfg.epochs and not out_of_time(at.train_time):
            shuffle.set_state(epoch_shuffle_state)
            perm = torch.randperm(n, generator=shuffle).to(device)
            t0 = time.perf_counter()
            while at.batch_index < steps_per_epoch:
                checked = step % check_every == 0
                if checked and at.batch_index and out_of_time(at.train_time + time.perf_counter() - t0):
                    break   # an epoch cut short ends like a whole one: evaluated, logged, checkpointed
                if checked and world.any(sigint["stop"]):   # every process stops at one step
                    at.train_time += time.perf_counter() - t0
                    checkpoints.save(at, epoch_shuffle_state)
                    raise Interrupted(f"interrupted at epoch {at.epoch + 1}, step {step}; checkpoint saved in "
                                      f"{ckpt_path}")
                lr = cfg.lr * warmup_cosine(step, total_steps, warmup_steps, cfg.final_lr_fraction)
                _set_schedules(model, optimizers, weight_schedules, lr, step / steps_per_epoch)
                rows = world.shard(perm[at.batch_index * cfg.batch_size:(at.batch_index + 1) * cfg.batch_size])
                check = (lambda loss, phase, step=step: _check_finite(loss, phase, at, step, ckpt_path, world)) \
                    if checked else None
                total = _step({k: t[rows] for k, t in train_data.items()}, losses, optimizers, params, cfg, at.sums,
                              device, check)
                if ema:
                    ema.update(model, step)
                at.batch_index += 1
                step += 1
                for hook in hooks:
                    hook.step_end(step, at.epoch + 1, lr, total, at.train_time + time.perf_counter() - t0)
            epoch_time = time.perf_counter() - t0
            at.train_time += epoch_time
            with ema.applied(model) if ema else nullcontext(model):   # evaluated with the weights sampled
                test = evaluate(model, test_data, cfg.eval_batch_size, cfg.bf16, world)
                last = _epoch_line(model, at, step, lr, epoch_time, cfg.batch_size, test, world)
                for hook in hooks:
                    hook.epoch_end(model, last, epoch_time)
            at.epoch, at.batch_index, at.sums = at.epoch + 1, 0, {}
            epoch_shuffle_state = shuffle.get_state()
            if checkpoints.due(at.epoch >= cfg.epochs or out_of_time(at.train_time)):
                checkpoints.save(at, epoch_shuffle_state)
    if not last:  # resumed a run that had already finished
        last = read_metrics(metrics_path)[-1]
    return last, ema


@dataclass
class _Checkpoints:
    """The run's checkpoint: every process takes part in a save (its random states and loss sums), the main one
    writes; an epoch's end saves when `due` (its last, or CHECKPOINT_EVERY_S since the last save)."""
    path: Path
    model: torch.nn.Module
    optimizers: dict[str, torch.optim.Optimizer]
    ema: EMA | None
    world: World
    device: torch.device
    run: dict[str, Any]   # what the run is: its epochs, steps per epoch, processes, threads
    saved_at: float = -math.inf

    def save(self, at: Position, shuffle_state: torch.Tensor) -> None:
        sums = {k: float(self.world.average(v)) for k, v in at.sums.items()}
        at.sums = {k: torch.tensor(v, dtype=torch.float64, device=self.device) for k, v in sums.items()}
        rng = _random_states(self.world, self.device)
        if self.world.main:
            save_checkpoint(self.path, self.model, self.optimizers, {"shuffle": shuffle_state, **rng},
                            {"epoch": at.epoch, "batch_index": at.batch_index, "train_time": at.train_time,
                             "epoch_sums": sums, **self.run}, self.ema.shadow if self.ema else None)
        self.saved_at = time.monotonic()

    def due(self, last_epoch: bool) -> bool:   # every process decides alike
        return last_epoch or self.world.any(time.monotonic() - self.saved_at >= CHECKPOINT_EVERY_S)


def _placed(model: torch.nn.Module, train_data: dict[str, torch.Tensor], test_data: dict[str, torch.Tensor],
            cfg: TrainConfig, world: World) -> tuple[torch.device, dict, dict]:
    """The model and both data sets on this process's device, in the memory layout its kernels want."""
    device = resolve_device(world.device(cfg.device))
    memory_format = torch.channels_last if channels_last(model, device) else torch.preserve_format
    model.to(device, memory_format=memory_format)
    return (device, {k: _on(t, device, memory_format) for k, t in train_data.items()},
            {k: _on(t, device, memory_format) for k, t in test_data.items()})


def _set_schedules(model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                   weight_schedules: dict[str, WeightSchedule], lr: float, epoch: float) -> None:
    """The learning rate and the loss-term weights at this point of the run."""
    for optimizer in optimizers.values():
        for group in optimizer.param_groups:
            group["lr"] = lr
    for name, schedule in weight_schedules.items():
        model.loss_weights[name] = schedule.value(epoch)


def _step(batch: dict[str, torch.Tensor], losses: dict[str, torch.nn.Module],
          optimizers: dict[str, torch.optim.Optimizer], params: dict[str, list[torch.nn.Parameter]], cfg: TrainConfig,
          sums: dict[str, torch.Tensor], device: torch.device, check) -> torch.Tensor:
    """One optimiser step per phase on `batch` (`check(loss, phase)` first, where given); its loss terms added to
    the epoch's `sums`. Returns the summed loss, still on the device."""
    total = torch.zeros((), dtype=torch.float64, device=device)
    for phase, optimizer in optimizers.items():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            terms = losses[phase](batch)
        loss = terms["loss"]
        if check is not None:
            check(loss, phase)
        optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=params[phase] if phase else None)
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params[phase], cfg.grad_clip, foreach=True)
        optimizer.step()
        total += loss.detach()
        for k, v in terms.items():
            if k != "loss":
                sums[k] = sums.get(k, 0.0) + v.detach().double()
    sums["loss"] = sums.get("loss", 0.0) + total
    return total


def _steps_per_epoch(n: int, cfg: TrainConfig, world: World) -> int:
    if cfg.batch_size > n:
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than the training set ({n}); lower --batch-size")
    world.local_batch(cfg.batch_size)
    return n // cfg.batch_size  # full batches only; each epoch reshuffles


def _epoch_line(model: torch.nn.Module, at: Position, step: int, lr: float, epoch_time: float, batch_size: int,
                test: dict[str, float], world: World) -> dict[str, Any]:
    """The epoch's line of metrics.jsonl: where the run is, its speed, the loss terms' means, the test's."""
    weights = model.loss_weights if isinstance(model, WeightedTerms) else {}
    return {"epoch": at.epoch + 1, "step": step, "lr": lr, "train_time": round(at.train_time, 3),
            "images_per_s": round(at.batch_index * batch_size / max(epoch_time, 1e-9), 1),
            **{f"weight/{k}": v for k, v in weights.items()},
            **{f"train/{k}": float(world.average(v)) / at.batch_index for k, v in at.sums.items()},
            **{f"test/{k}": v for k, v in test.items()}}


@contextmanager
def _closing(hooks: Sequence[Callback]):
    try:
        yield
    finally:
        for hook in hooks:
            hook.close()


def _start(ckpt_path: Path, resume: bool, model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer],
           ema: EMA | None, cfg: TrainConfig, steps_per_epoch: int, world: World, device: torch.device,
           shuffle: torch.Generator) -> tuple[Position, torch.Tensor, int, bool]:
    """Where the loop starts: the checkpoint's position when resuming, else the beginning. (position, the first
    epoch's shuffle state, the CPU threads the run trains with: a resume takes the count the run started with,
    since float sums depend on it; whether it resumed)."""
    if resume and ckpt_path.exists():
        return (*_resumed(ckpt_path, model, optimizers, ema, cfg, steps_per_epoch, world, device), True)
    # a new run, or one killed before its first checkpoint: no epoch is done
    if world.rank:   # every process draws its own noise (the weights start the same: DDP broadcasts rank 0's)
        torch.manual_seed(cfg.seed + world.rank)
    return Position(), shuffle.get_state(), torch.get_num_threads(), False


def _started_hooks(callbacks: Sequence[Callback], cfg: TrainConfig, start: Start, total_steps: int, world: World
                   ) -> list[Callback]:
    """The caller's callbacks, the metrics log and the progress bar, told where the loop starts (the main process
    alone has them: it writes the files and says the lines)."""
    if not world.main:
        return []
    step = start.epoch * start.steps_per_epoch + start.batch_index
    hooks = [*callbacks, MetricsLog(start.run_dir / METRICS),
             ProgressBar(cfg.epochs, step, total_steps, cfg.batch_size, cfg.progress)]
    for hook in hooks:
        hook.started(start)
    return hooks


def _notes(model: torch.nn.Module, world: World, device: torch.device) -> list[str]:
    """What the run should know before it starts, said by the progress callback."""
    batch_norm = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if world.distributed and batch_norm and device.type != "cuda":
        return ["BatchNorm normalises each process's slice of the batch here (SyncBatchNorm needs GPUs), so this "
                "run is not the one-process run step for step"]
    return []


def _weight_schedules(model: torch.nn.Module, cfg: TrainConfig) -> dict[str, WeightSchedule]:
    schedules = {name: WeightSchedule.parse(spec, f"train.loss_weights.{name}")
                 for name, spec in cfg.loss_weights.items()}
    if schedules and not isinstance(model, WeightedTerms):
        raise ConfigError(f"train.loss_weights given, but {type(model).__name__} has no weighted loss terms")
    unknown = sorted(set(schedules) - set(model.weighted_terms)) if schedules else []
    if unknown:
        raise ConfigError(f"train.loss_weights: {type(model).__name__} has no weighted term {', '.join(unknown)}; "
                          f"its terms: {', '.join(model.weighted_terms)}")
    return schedules


def _check_finite(loss: torch.Tensor, phase: str, at: Position, step: int, ckpt_path: Path, world: World
                  ) -> None:
    """Stop every process when a loss is NaN or infinite on any of them (before it reaches the weights)."""
    value = loss.item()
    if not world.any(not math.isfinite(value)):
        return
    kept = (f"the last good checkpoint ({ckpt_path}, epoch {at.epoch}) is kept" if ckpt_path.exists()
            else "no checkpoint was written yet")
    shown = value if not math.isfinite(value) else "not finite in another process"
    raise TrainingError(f"{phase or 'the'} loss became {shown} at epoch {at.epoch + 1}, step {step}; {kept}. "
                        "Lower --lr, keep gradient clipping on, or drop --bf16")


def _random_states(world: World, device: torch.device) -> dict[str, torch.Tensor]:
    """Every process's random states, by name ("torch", "cuda"; "torch.rank1"... for the others): the noise
    each draws inside its losses, so that a resume draws the same noise again."""
    states = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    gathered = {name: world.gather(state) for name, state in states.items()}
    return {(name if rank == 0 else f"{name}.rank{rank}"): state.cpu()
            for name, per_rank in gathered.items() for rank, state in enumerate(per_rank)}


def _resumed(ckpt_path: Path, model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer], ema: EMA | None,
             cfg: TrainConfig, steps_per_epoch: int, world: World, device: torch.device
             ) -> tuple[Position, torch.Tensor, int]:
    """The checkpoint's weights, moments and random states restored; (position, the epoch's shuffle state, the
    threads it was trained with)."""
    rng, state = load_checkpoint(ckpt_path, model, optimizers, ema.shadow if ema else None)
    run_dir = ckpt_path.parent
    planned = state.get("epochs", cfg.epochs)
    if planned != cfg.epochs and cfg.final_lr_fraction != 1.0:
        raise ConfigError(f"{run_dir}: the checkpoint was trained for {planned} epochs with a decaying learning "
                          f"rate, and config.yaml now says {cfg.epochs}: more or fewer epochs would have decayed "
                          "it differently; restore epochs in config.yaml or start a new run")
    if state.get("steps_per_epoch", steps_per_epoch) != steps_per_epoch:
        raise ConfigError(f"{run_dir}: the checkpoint took {state['steps_per_epoch']} steps an epoch and "
                          f"config.yaml now makes {steps_per_epoch} (its batch size or training set was "
                          "edited); restore them, or start a new run")
    trained_in = state.get("world_size", 1)
    if trained_in != world.size:
        how = (f"with {trained_in} processes in all (torchrun's --nnodes x --nproc-per-node)" if trained_in > 1
               else "in one process (aeflow train --resume, without torchrun)")
        raise ConfigError(f"{run_dir} was trained in {trained_in} process(es) and this resume runs in {world.size}; "
                          f"each process's noise is in the checkpoint: resume {how}")
    suffix = f".rank{world.rank}" if world.rank else ""
    torch.set_rng_state(rng["torch" + suffix])
    if device.type == "cuda" and "cuda" + suffix in rng:
        torch.cuda.set_rng_state(rng["cuda" + suffix], device)
    sums = {k: torch.tensor(v, dtype=torch.float64, device=device) for k, v in state["epoch_sums"].items()}
    threads = state.get("threads") or torch.get_num_threads()   # a checkpoint from before threads were recorded
    return Position(state["epoch"], state["batch_index"], state["train_time"], sums), rng["shuffle"], threads
