"""One training of a comparison, a *cell*: a network (the peer's or aeflow's) trained by a recipe (the peer's
library's loop or aeflow's), at the recipe's learning rate times a factor (the tuning search), at a seed, for the
budget's seconds on the training images less the validation ones. A finished cell is read back from its folder;
an unfinished one starts again (aeflow's own runs resume from their checkpoint). Every cell keeps its trained
weights and, where one is kept, their moving average: EMA on and off are two readings of one training (an
average never changes the trajectory it averages)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aeflow.data import Dataset
from aeflow.errors import DataError
from aeflow.files import atomic_save, read_json, read_tensors, remove_made, write_json
from aeflow.peers.clock import Clock
from aeflow.runs import load
from aeflow.runs.folder import read_summary
from aeflow.runs.pipeline import ensure
from aeflow.runs.train import build, make_config, snapshot_path
from aeflow.studies.peers.budgets import PeerBudget
from aeflow.studies.peers.pairs import Pair
from aeflow.training import read_metrics
from aeflow.training.checkpoint import CHECKPOINT_NAME
from aeflow.training.trainer import train as train_loop

PROBE_SECONDS = 3.0    # aeflow's training loop run this long (the budget's seconds if fewer), or for this share
PROBE_SHARE = 0.03     # of the budget when that is longer, to turn the budget's seconds into steps
SIDES = ("peer", "aeflow")


@dataclass(frozen=True)
class Cell:
    network: str        # "peer" or "aeflow": whose network
    recipe: str         # "peer" or "aeflow": whose loop and recipe
    lr_factor: float    # times the recipe's published learning rate
    seed: int

    @property
    def name(self) -> str:
        return f"{self.network}-network.{self.recipe}-recipe.lr-x{self.lr_factor:g}.seed-{self.seed}"

    @property
    def traced(self) -> bool:
        """Snapshots along the way (the FD-against-seconds curve): the published recipes' seed 0 only."""
        return self.network == self.recipe and self.lr_factor == 1 and self.seed == 0


def standard(side: str, lr_factor: float, seed: int) -> Cell:
    """A side's own network under its own recipe."""
    return Cell(side, side, lr_factor, seed)


@dataclass
class Trained:
    """A finished cell: `model` samples (aeflow's model or the peer's adapter) with the weights `use` puts in
    `module`; `info` is what the report says of its training."""

    cell: Cell
    model: torch.nn.Module
    module: torch.nn.Module
    weights: dict[bool, dict[str, torch.Tensor]]   # averaged or not -> the state of `module`
    info: dict[str, Any]
    folder: Path

    def use(self, averaged: bool) -> torch.nn.Module:
        """The model with the trained weights, or their moving average (a cell that kept none has none)."""
        self.module.load_state_dict(self.weights[averaged])
        return self.model.eval()


def train_cell(pair: Pair, cell: Cell, budget: PeerBudget, fit: Dataset, folder: Path, progress: bool) -> Trained:
    """`cell` trained for the budget's seconds in `folder` (or read back from it)."""
    if cell.recipe == "peer":
        return _by_peer_recipe(pair, cell, budget, fit, folder)
    if cell.network == "aeflow":
        return _aeflow_run(pair, cell, budget, fit, folder, progress)
    return _aeflow_loop_on_peer_network(pair, cell, budget, fit, folder)


def epochs_seen(images_seen: int, fit: Dataset) -> float:
    return round(images_seen / len(fit.train_x), 2)


def _by_peer_recipe(pair: Pair, cell: Cell, budget: PeerBudget, fit: Dataset, folder: Path) -> Trained:
    torch.manual_seed(cell.seed)
    net = pair.build_peer(budget, fit) if cell.network == "peer" else \
        pair.for_peer_loop(build(_aeflow_config(pair, cell, budget, fit, 1), fit).network)
    info, recipe = _saved(folder / "side.json"), cell_recipe(pair, cell, budget, fit)
    files = _weight_files(folder)
    if _finished(info, files[False], budget.seconds[pair.key], recipe):
        weights = _read_weights(files)
    else:   # a peer's library cannot resume: its training starts again, the snapshots of an earlier try dropped
        remove_made((folder / "snapshots").glob("step-*.safetensors"))
        clock = Clock(budget.seconds[pair.key], budget.snapshots if cell.traced else (), folder)
        plan, averaged = pair.train_peer(net, fit.train_x, clock, cell.seed, folder / pair.library,
                                         pair.peer_lr * cell.lr_factor)
        weights = {False: {k: v.detach().clone() for k, v in net.state_dict().items()}}
        if averaged is not None:
            weights[True] = averaged
        _save_weights(weights, files)
        info = {"budget_seconds": clock.seconds, "recipe": recipe,
                "seconds": round(clock.elapsed(), 2), "steps": clock.steps,
                "snapshots": clock.snapshots,
                "images_seen": clock.steps * pair.peer_batch_size, "lr": pair.peer_lr * cell.lr_factor,
                "epochs": epochs_seen(clock.steps * pair.peer_batch_size, fit), "threads": torch.get_num_threads(),
                "n_parameters": sum(p.numel() for p in net.parameters()), "schedule": plan or {}}
        write_json(folder / "side.json", info)
    return Trained(cell, pair.adapt(net, fit), net, weights, info, folder)


def _aeflow_config(pair: Pair, cell: Cell, budget: PeerBudget, fit: Dataset, epochs: int,
                  snapshot_epochs: list[int] | None = None, progress: bool = False):
    model_options, train_options = pair.aeflow_options(budget, fit)
    train = {**train_options, "lr": train_options["lr"] * cell.lr_factor, "epochs": epochs, "seed": cell.seed,
             "max_train_seconds": budget.seconds[pair.key], "progress": progress,
             "snapshot_epochs": snapshot_epochs or []}
    if pair.aeflow_kl_warmup:
        train["loss_weights"] = {"kl": {"kind": "linear", "start": 0.0, "end": 1.0,
                                        "epochs": pair.aeflow_kl_warmup * epochs}}
    return make_config(pair.aeflow_model, fit.name, model_options, train, train_subset=len(fit.train_x))


def _aeflow_run(pair: Pair, cell: Cell, budget: PeerBudget, fit: Dataset, folder: Path, progress: bool
                ) -> Trained:
    """aeflow's own run (a run folder like any other), planned by `plan`; the averaged weights are the run's
    model, the trained ones its checkpoint's."""
    plan = _plan(pair, cell, budget, fit, folder.parent / "aeflow-plan-aeflow-network.json")
    config = _aeflow_config(pair, cell, budget, fit, plan["epochs"], plan["snapshot_epochs"] if cell.traced else None,
                           progress)
    if plan["train_subset"] is not None:
        config.data.train_subset = plan["train_subset"]
    # a run of another recipe (an older aeflow's, another budget's) is this study's own cell: replaced; without
    # progress bars, the hundreds of epoch lines of each cell are not the study's to print
    with contextlib.nullcontext() if progress else contextlib.redirect_stderr(io.StringIO()):
        run = ensure(config, folder, dataset=fit.subset_train(plan["train_subset"]), rerun=True)
    model = load(run)
    metrics, summary = read_metrics(run / "metrics.jsonl"), read_summary(run)
    batch = config.train.batch_size
    weights = {False: {k[len("model."):]: v for k, v in read_tensors(run / CHECKPOINT_NAME)[0].items()
                       if k.startswith("model.")}}
    if config.train.ema_decay:
        weights[True] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    info = {"seconds": round(summary["train_time_s"], 2), "steps": metrics[-1]["step"],
            "planned_steps": plan["steps"], "images_seen": metrics[-1]["step"] * batch, "lr": config.train.lr,
            "epochs": epochs_seen(metrics[-1]["step"] * batch, fit), "threads": summary["machine"]["torch_threads"],
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "snapshots": [{"seconds": m["train_time"], "epoch": m["epoch"]} for m in metrics
                          if snapshot_path(run, m["epoch"]).exists()]}
    return Trained(cell, model, model, weights, info, folder)


def _aeflow_loop_on_peer_network(pair: Pair, cell: Cell, budget: PeerBudget, fit: Dataset, folder: Path
                                 ) -> Trained:
    """The peer's network inside aeflow's model, trained by aeflow's loop and recipe (no run folder: a run
    folder loads from its config alone, and this network is not aeflow's)."""
    def make(config) -> torch.nn.Module:
        model = build(config, fit)
        torch.manual_seed(config.train.seed)
        model.network = pair.for_aeflow_loop(pair.build_peer(budget, fit))
        return model

    plan = _plan(pair, cell, budget, fit, folder.parent / "aeflow-plan-peer-network.json", make)
    config = _aeflow_config(pair, cell, budget, fit, plan["epochs"])
    model = make(config)
    info, recipe = _saved(folder / "side.json"), cell_recipe(pair, cell, budget, fit)
    files = _weight_files(folder)
    if _finished(info, files[False], budget.seconds[pair.key], recipe):
        weights = _read_weights(files)
    else:
        trained = fit.subset_train(plan["train_subset"])
        remove_made([folder / CHECKPOINT_NAME, folder / "metrics.jsonl"])
        with contextlib.redirect_stderr(io.StringIO()):   # its epoch lines
            last, ema = train_loop(model, {"x": trained.train_x}, {"x": fit.test_x[:config.train.batch_size]},
                                   config.train, folder)
        weights = {False: {k: v.detach().clone() for k, v in model.state_dict().items()}}
        if ema is not None:
            weights[True] = ema.shadow
        _save_weights(weights, files)
        images = last["step"] * config.train.batch_size
        info = {"budget_seconds": budget.seconds[pair.key], "recipe": recipe,
                "seconds": round(last["train_time"], 2),
                "steps": last["step"], "planned_steps": plan["steps"],
                "images_seen": images, "lr": config.train.lr, "epochs": epochs_seen(images, fit),
                "threads": torch.get_num_threads(), "n_parameters": sum(p.numel() for p in model.parameters()),
                "snapshots": []}
        write_json(folder / "side.json", info)
    return Trained(cell, model, model, weights, info, folder)


def cell_recipe(pair: Pair, cell: Cell, budget: PeerBudget, fit: Dataset) -> str:
    """What a cell trained by the peer's loop or by aeflow's loop on the peer's network records as its recipe:
    the peer's recipe and its deviations, and aeflow's options where the cell holds aeflow's network or follows
    aeflow's recipe (a cell of other options is trained again)."""
    text = pair.recipe + pair.deviations
    if "aeflow" in (cell.network, cell.recipe):
        text += " aeflow: " + json.dumps(pair.aeflow_options(budget, fit), sort_keys=True, default=str)
    return text


def _weight_files(folder: Path) -> dict[bool, Path]:
    """A cell's weight files: the trained weights (False) and their moving average (True)."""
    return {False: folder / "weights.safetensors", True: folder / "weights-averaged.safetensors"}


def _read_weights(files: dict[bool, Path]) -> dict[bool, dict[str, torch.Tensor]]:
    return {averaged: read_tensors(path)[0] for averaged, path in files.items() if path.exists()}


def _save_weights(weights: dict[bool, dict[str, torch.Tensor]], files: dict[bool, Path]) -> None:
    for averaged, state in weights.items():
        atomic_save(state, files[averaged])


def _finished(info: Any, weights: Path, seconds: float, recipe: str) -> bool:
    """Whether a cell's folder holds its training at `seconds` by the recipe `recipe` says: its record and weights
    there, recording this budget and recipe (a record that does not say both is trained again: what it was trained
    by cannot be checked)."""
    return (isinstance(info, dict) and weights.exists() and info.get("budget_seconds") == seconds
            and info.get("recipe") == recipe)


def _plan(pair: Pair, cell: Cell, budget: PeerBudget, fit: Dataset, path: Path, make=None) -> dict[str, Any]:
    """aeflow's schedule for this pair and network: planned for as many steps as the budget's seconds hold at
    the pace of its first steps, rounded down, decided once for these seconds and aeflow's options and kept at
    `path`, so that every cell and a resumed run plan alike; each run also ends at the seconds should the loop
    run slower than its probe (aeflow never trains longer than the peer). Whole epochs when the budget holds at
    least one per snapshot; fewer steps than that (a UNet on 2 cores) are taken as epochs over the first images,
    so that the snapshots fall along the way."""
    seconds = budget.seconds[pair.key]
    planned_for = json.loads(json.dumps({"seconds": seconds, "options": pair.aeflow_options(budget, fit)}))
    plan = _saved(path)
    if isinstance(plan, dict) and plan.get("planned_for", planned_for) == planned_for:   # (older: by path)
        return plan
    probe = _aeflow_config(pair, Cell(cell.network, "aeflow", 1.0, 0), budget, fit, 1)
    batch = probe.train.batch_size
    probe_seconds = max(min(PROBE_SECONDS, seconds), PROBE_SHARE * seconds)
    steps = int(seconds / seconds_per_step(probe, fit, probe_seconds, make))
    least = len(budget.snapshots) + 1
    epochs, subset = steps // (len(fit.train_x) // batch), None
    if epochs < least:
        epochs, subset = least, max(1, steps // least) * batch
    plan = {"planned_for": planned_for, "epochs": epochs, "train_subset": subset, "measured_steps": steps,
            "steps": epochs * (len(fit.subset_train(subset).train_x) // batch),
            "snapshot_epochs": sorted({e for f in budget.snapshots if 1 <= (e := round(f * epochs)) < epochs})}
    write_json(path, plan)
    return plan


def seconds_per_step(config, data: Dataset, seconds: float, make=None) -> float:
    """The seconds a step of aeflow's training loop takes for `config` (the model `make(config)` builds, where given),
    all the loop does between evaluations counted (the first, slow steps of a process too): the loop itself run
    for `seconds` in a folder thrown away. (A median of bare optimiser steps planned up to 27% more steps than
    the loop then took.)"""
    probe = copy.deepcopy(config)
    probe.train.max_train_seconds, probe.train.progress, probe.train.epochs = seconds, False, 1_000_000
    model = make(probe) if make else build(probe, data)
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stderr(io.StringIO()):   # its epoch lines
        last, _ = train_loop(model, {"x": data.train_x}, {"x": data.test_x[:probe.train.batch_size]}, probe.train,
                             Path(folder))
    return last["train_time"] / last["step"]


def _saved(path: Path) -> Any:
    """What this study wrote at `path`, or None where nothing (or something unreadable) is there: redone."""
    try:
        return read_json(path) if path.exists() else None
    except DataError:
        return None
