"""Running `aeflow peers`: for each comparison, the same small tuning search for both sides (the published
learning rate x 0.3, 1 and 3, with and without a moving average of the weights where that applies), chosen on a
validation split; then the published recipes and the tuned ones, each side trained for the same wall-clock
seconds at every seed, both sampled by the same requests and scored with the one scoring row in two feature
spaces; for the UNets a 2x2 of network against recipe; FD along the way from snapshots; then report.html,
report.md and report.json. A finished comparison is reused, and so is every finished training of an unfinished
one (cells.py)."""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from aeflow.data import Dataset, load_dataset
from aeflow.eval.features import FeatureExtractor
from aeflow.figures import Curves, ImageGrid
from aeflow.files import atomic_save_array, read_tensors
from aeflow.peers import require_library
from aeflow.progress import say
from aeflow.report import render_report
from aeflow.runs import feature_extractor
from aeflow.runs.features import measure_generator
from aeflow.runs.folder import locked
from aeflow.runs.train import snapshot_path
from aeflow.studies.engine import Unit, claim_study, made, reused
from aeflow.studies.peers.budgets import PeerBudget, peer_budget
from aeflow.studies.peers.cells import SIDES, Cell, Trained, standard, train_cell
from aeflow.studies.peers.pairs import PAIRS, Pair, Row
from aeflow.viz import save_figures

VERSION = 5            # what a comparison's record holds; another version is redone, not read


def default_out(dataset: str, budget: str) -> Path:
    return Path(f"runs/peers-{dataset}-{budget}")


def run_peers(dataset: str = "digits", budget: str | PeerBudget = "cpu", out: str | Path | None = None,
              data_dir: str | None = None, only: list[str] | None = None, progress: bool = True,
              rerun: bool = False) -> dict[str, Any]:
    """Run (or continue) the comparisons `only` (default all) into `out`; write the report there and return it."""
    budget = budget if isinstance(budget, PeerBudget) else peer_budget(budget)
    pairs = [PAIRS[key] for key in (only or PAIRS)]
    for pair in pairs:
        require_library(pair.library)
    out = Path(out or default_out(dataset, budget.name))
    with locked(out, "peers"):
        # the seconds are each comparison's own (checked with its record), so that a comparison can be added
        fields = {k: v for k, v in asdict(budget).items() if k != "seconds"}
        identity = {"dataset": dataset, "budget": json.loads(json.dumps(fields)), "version": VERSION,
                    "versions": {p.library: _installed(p.library) for p in PAIRS.values()}}
        claim_study(out, "peers", identity, rerun, lambda i: f"{i.get('dataset')} peers at the "
                    f"{i.get('budget', {}).get('name')} budget", "*/record.json")
        started = time.perf_counter()
        full = load_dataset(dataset, data_dir)
        data = full.subset_train(budget.train_subset)
        extractor = feature_extractor(data.name, full, progress=progress)
        say(f"peers on {dataset} ({budget.name} budget) in {out}")
        records = []
        for index, pair in enumerate(pairs, 1):
            head = f"[{index}/{len(pairs)}] {pair.title}: {pair.library} against aeflow"
            unit = Unit(pair.key, out / pair.key / "record.json", comparison_identity(pair, budget, data),
                        lambda pair=pair: compare(pair, budget, data, extractor, out / pair.key, progress))
            record, problem = reused(unit, "comparison")
            if record is not None:
                say(f"{head}: finished earlier, reused")
            else:
                say(f"{head}: " + (f"its record {problem}; " if problem else "") +
                    f"{budget.seconds[pair.key]:g} s of training each")
                record = made(unit)
            records.append(record)
            for kind, compared in record["comparisons"].items():
                for row in compared["rows"]:
                    fd = row["stats"]["fd"]
                    say(f"  {kind:<9} {row['label']:<24} FD {pair.library} {fd['peer']['mean']:8.2f} +/- "
                        f"{fd['peer']['std']:.2f}   aeflow {fd['aeflow']['mean']:8.2f} +/- {fd['aeflow']['std']:.2f}"
                        f"   {row['verdict']}")
        report = {"dataset": dataset, "budget": budget.name, "wall_time_s": round(time.perf_counter() - started, 1),
                  "machine": {"platform": platform.platform(), "processor": platform.processor() or
                              platform.machine(), "torch_threads": torch.get_num_threads(),
                              "torch": torch.__version__},
                  "versions": identity["versions"], "n_eval": budget.n_eval, "extractor": extractor.description,
                  "comparisons": records}
        paths = render_report(report, out, "peers")
        say(f"\nreport: {paths['html']}")
        return report


def side_order(seed: int) -> tuple[str, str]:
    """Which side trains first at `seed`: the peer at even seeds, aeflow at odd ones, so that neither always
    meets the machine's caches (and whatever else runs) first."""
    return ("peer", "aeflow") if seed % 2 == 0 else ("aeflow", "peer")


MIN_EPOCHS = 2   # a side that saw fewer in any seed leaves its rows unjudged: a recipe needs epochs to mean anything
LR_FACTORS = (1.0, 0.3, 3.0)   # the tuning search, both sides: the published learning rate first (ties keep it)


@dataclass(frozen=True)
class Variant:
    """A side's recipe as run: its learning rate's factor and whether the moving average is sampled."""

    lr_factor: float
    averaged: bool

    def describe(self, lr: float) -> dict[str, Any]:
        return {"lr_factor": self.lr_factor, "lr": float(f"{lr * self.lr_factor:.4g}"), "averaged": self.averaged}


def published(pair: Pair, side: str) -> Variant:
    return Variant(1.0, pair.peer_averaged if side == "peer" else pair.aeflow_averaged)


def compare(pair: Pair, budget: PeerBudget, data: Dataset, extractor: FeatureExtractor, folder: Path,
            progress: bool) -> dict[str, Any]:
    """The pair's tuning search (seed 0, scored on the validation split), then its published and its tuned
    recipes at each of the budget's seeds (the two sides' order alternating), every row scored on the test
    images in both feature spaces with per row the verdict the seeds allow (`verdict`); for the UNet pairs the
    2x2 of network against recipe. Returns its record (run_peers saves it)."""
    started = time.perf_counter()
    fit, final = split(data, budget)
    study = Study(pair, budget, fit, final, extractor, folder, progress)
    search = study.search()
    variants = {"published": {side: published(pair, side) for side in SIDES},
                "tuned": {side: min(search[side], key=lambda c: c["fd"])["variant"] for side in SIDES}}
    lrs = {"peer": pair.peer_lr, "aeflow": pair.aeflow_options(budget, data)[1]["lr"]}
    comparisons = {kind: {"recipes": {side: chosen[side].describe(lrs[side]) for side in SIDES},
                          **study.seeded(kind, chosen)} for kind, chosen in variants.items()}
    for side in SIDES:
        for candidate in search[side]:
            candidate["variant"] = candidate["variant"].describe(lrs[side])
    first = comparisons["published"]
    record = {"version": VERSION, "key": pair.key, "title": pair.title, "library": pair.library,
              "library_version": version(pair.library), "recipe": pair.recipe, "sources": pair.sources,
              "deviations": pair.deviations, "budget_seconds": budget.seconds[pair.key], "seeds": budget.seeds,
              "training_images": len(fit.train_x),
              "validation": {"images": len(fit.test_x), "row": pair.selection_row.label}, "search": search,
              "comparisons": comparisons, "crossed": study.crossed() if pair.crossed else None,
              "curves": study.curves(), "figures": []}
    record["figures"] = figures(pair, folder, record["curves"], first["rows"], budget.n_curve)
    record["wall_time_s"] = round(time.perf_counter() - started, 1)   # this sitting's share (cells reused)
    return record


def comparison_identity(pair: Pair, budget: PeerBudget, data: Dataset) -> dict[str, Any]:
    """What decides a comparison's record beyond the study's identity (dataset, budget, versions): its seconds
    (each comparison's own, so that one can be added to a folder), the peer's recipe and aeflow's options."""
    model_options, train_options = pair.aeflow_options(budget, data)
    return {"version": VERSION, "comparison": pair.key, "seconds": budget.seconds[pair.key], "recipe": pair.recipe,
            "deviations": pair.deviations, "aeflow": {"model": model_options, "train": train_options,
                                                     "kl_warmup": pair.aeflow_kl_warmup}}


def split(data: Dataset, budget: PeerBudget) -> tuple[Dataset, Dataset]:
    """(the training images less the validation ones, scored against those: what the tuning search chooses
    on; the same training images, scored against the test images: what the comparison reports). The validation
    images are the training split's last tenth (at most `budget.validation`), held out from every cell."""
    held = max(1, min(budget.validation, len(data.train_x) // 10))
    n = len(data.train_x) - held
    y = data.train_y
    fit = Dataset(data.name, data.train_x[:n], None if y is None else y[:n], data.train_x[n:],
                  None if y is None else y[n:], f"{data.source}, less its last {held} (validation)", data.classes)
    return fit, replace(fit, test_x=data.test_x, test_y=data.test_y, source=f"{data.source}, less its last {held}")


class Study:
    """The cells of one comparison, each trained once (cached in memory and on disk), and their scores."""

    def __init__(self, pair: Pair, budget: PeerBudget, fit: Dataset, final: Dataset, extractor: FeatureExtractor,
                 folder: Path, progress: bool) -> None:
        self.pair, self.budget, self.fit, self.final, self.extractor = pair, budget, fit, final, extractor
        self.folder, self.progress = folder, progress
        self.trained: dict[Cell, Trained] = {}
        self.scores: dict[tuple, dict[str, Any]] = {}

    def cell(self, cell: Cell) -> Trained:
        if cell not in self.trained:
            self.trained[cell] = train_cell(self.pair, cell, self.budget, self.fit, self.folder / "cells" / cell.name,
                                            self.progress)
        return self.trained[cell]

    def score(self, cell: Cell, averaged: bool, row: Row, on: str) -> dict[str, Any]:
        """`row` drawn from `cell`'s weights (`averaged` or not) at the cell's seed, scored against the validation
        images (`on` "validation") or the test images ("test"); the test draws kept as samples files."""
        key = (cell, averaged, row.key, on)
        if key not in self.scores:
            data = self.fit if on == "validation" else self.final
            trained = self.cell(cell)
            n = min(len(data.test_x), self.budget.n_samples(row.nfe))
            name = f"{self.pair.library if cell.network == 'peer' else 'aeflow'} network, {cell.recipe} recipe"
            found, images, _ = measure_generator(trained.use(averaged), None, row.request(n, cell.seed), data,
                                                 self.extractor, name, row.label)
            if on == "test":
                averaging = "averaged" if averaged else "trained"
                atomic_save_array(self.folder / "samples" / f"{cell.name}.{averaging}.{row.key}.npy", images.numpy())
            self.scores[key] = asdict(replace(found, train_time_s=trained.info["seconds"]))
        return self.scores[key]

    def search(self) -> dict[str, list[dict[str, Any]]]:
        """Each side at every learning-rate factor (and with and without its moving average, where the pair
        searches it), seed 0, the selection row's FD on the validation images: the same grid and rule for both."""
        found: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
        averagings = (False, True) if self.pair.searches_averaging else (None,)
        for index, factor in enumerate(LR_FACTORS):
            for side in side_order(index):
                cell = standard(side, factor, 0)
                for averaged in averagings:
                    variant = Variant(factor, published(self.pair, side).averaged if averaged is None else averaged)
                    fd = self.score(cell, variant.averaged, self.pair.selection_row, "validation")["fd"]
                    found[side].append({"variant": variant, "fd": fd, "seconds": self.cell(cell).info["seconds"]})
            for side in SIDES:   # the published variant first, so that a tie keeps it
                found[side].sort(key=lambda c: c["variant"] != published(self.pair, side))
        return found

    def seeded(self, kind: str, chosen: dict[str, Variant]) -> dict[str, Any]:
        """Both sides at `chosen` at every seed (the order alternating), every row on the test images."""
        by_seed, per_seed = [], []
        for seed in range(self.budget.seeds):
            cells = {side: standard(side, chosen[side].lr_factor, seed) for side in side_order(seed)}
            sides = {side: self.cell(cell).info for side, cell in cells.items()}   # trained in this order
            by_seed.append({"seed": seed, "order": list(cells), "sides": sides})
            per_seed.append([{side: self.score(cells[side], chosen[side].averaged, row, "test") for side in SIDES}
                             for row in self.pair.rows])
        rows = [{"row": row.key, "label": row.label, **per_seed[0][i], "seeds": [s[i] for s in per_seed],
                 "ratio": per_seed[0][i]["aeflow"]["fd"] / per_seed[0][i]["peer"]["fd"],
                 **spread([s[i] for s in per_seed])} for i, row in enumerate(self.pair.rows)]
        return {"by_seed": by_seed, "sides": by_seed[0]["sides"], "rows": unjudged_when_short(rows, by_seed)}

    def crossed(self) -> dict[str, Any]:
        """The 2x2: each network under each recipe (published, every seed), the selection row on the test
        images: does a side's lead come from its network or from its recipe?"""
        row, cells = self.pair.selection_row, {}
        for seed in range(self.budget.seeds):
            for network in side_order(seed):
                for recipe in SIDES:
                    cell = Cell(network, recipe, 1.0, seed)
                    scored = self.score(cell, published(self.pair, recipe).averaged, row, "test")
                    entry = cells.setdefault(f"{network}|{recipe}", {"network": network, "recipe": recipe,
                                                                     "values": {s: [] for s in SPACES}, "sides": []})
                    for space in SPACES:
                        entry["values"][space].append(scored[space])
                    entry["sides"].append(self.cell(cell).info)
        for entry in cells.values():
            entry["stats"] = {space: _mean_std(values) for space, values in entry.pop("values").items()}
        return {"row": row.label, "cells": list(cells.values())}

    def curves(self) -> dict[str, list[list[float]]]:
        return {side: curve(self.pair, self.cell(standard(side, 1.0, 0)), published(self.pair, side).averaged,
                            self.budget, self.final, self.extractor) for side in SIDES}


SPACES = {"fd": "the feature classifier's", "fd_judge": "the judge's"}


def spread(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """A row over its seeds: per feature space and side the mean and standard deviation of FD, and the row's
    verdict (`verdict`)."""
    stats = {space: {side: _mean_std([s[side].get(space) for s in seeds]) for side in SIDES} for space in SPACES}
    return {"stats": stats, "verdict": verdict(stats), "mean_ratio": stats["fd"]["aeflow"]["mean"] /
            stats["fd"]["peer"]["mean"]}


def unjudged_when_short(rows: list[dict[str, Any]], by_seed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows`, their verdicts replaced by "too short to judge" when a side saw fewer than MIN_EPOCHS epochs at
    any seed."""
    fewest = min(info["epochs"] for seeded in by_seed for info in seeded["sides"].values())
    if fewest >= MIN_EPOCHS:
        return rows
    return [{**row, "verdict": f"too short to judge (a side saw {fewest:g} epochs)"} for row in rows]


def _mean_std(values: list[float | None]) -> dict[str, Any]:
    values = [v for v in values if v is not None]
    return {"values": values, "mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def verdict(stats: dict[str, dict[str, dict[str, Any]]]) -> str:
    """"won" when aeflow's mean FD is below the peer's by more than the two spreads together in every feature
    space, "lost" when above by as much in any, "within the spread" otherwise (or with one seed: no spread to
    judge by). Written before the first run with seeds."""
    results = []
    for space in SPACES:
        peer, ours = stats[space]["peer"], stats[space]["aeflow"]
        if peer["mean"] is None or ours["mean"] is None or len(peer["values"]) < 2:
            return "within the spread"
        gap, spreads = peer["mean"] - ours["mean"], peer["std"] + ours["std"]
        results.append("won" if gap > spreads else ("lost" if -gap > spreads else "within"))
    if all(r == "won" for r in results):
        return "won"
    return "lost" if "lost" in results else "within the spread"


def curve(pair: Pair, trained: Trained, averaged: bool, budget: PeerBudget, data: Dataset,
          extractor: FeatureExtractor) -> list[list[float]]:
    """[training seconds, FD] at each snapshot and at the end, for the pair's first row on n_curve samples (the
    snapshots are of the weights the published recipe samples)."""
    snapshots = [(s["seconds"], trained.folder / s["weights"] if "weights" in s else
                  snapshot_path(trained.folder, s["epoch"])) for s in trained.info["snapshots"]]
    points = []
    for seconds, weights in [*snapshots, (trained.info["seconds"], None)]:
        model = trained.use(averaged)
        if weights is not None:
            trained.module.load_state_dict(read_tensors(weights)[0])
        row, _, _ = measure_generator(model, None, pair.rows[0].request(budget.n_curve, 0), data, extractor,
                                      pair.key, pair.rows[0].label)
        points.append([seconds, row.fd])
    return points


def figures(pair: Pair, folder: Path, curves: dict[str, list[list[float]]], rows: list[dict[str, Any]],
            n_curve: int) -> list[dict[str, str]]:
    """FD against training seconds for both sides, and 16 samples of each side's first row."""
    names = {"peer": pair.library, "aeflow": "aeflow"}
    series = {names[side]: ([p[0] for p in points], [p[1] for p in points]) for side, points in curves.items()}
    samples = [torch.from_numpy(_read_npy(next((folder / "samples").glob(
        f"{side}-network.{side}-recipe.lr-x1.seed-0.*.{rows[0]['row']}.npy")))[:16]) for side in names]
    made = {"fd-vs-seconds.png": Curves(series, "training seconds", "FD (lower is better)",
                                        f"{pair.title}: FD of {rows[0]['label']} along the way "
                                        f"({n_curve} samples each)"),
            "samples.png": ImageGrid(samples, list(names.values()), f"{pair.title}: 16 samples each "
                                                                      f"({rows[0]['label']}, seed 0)")}
    save_figures(made, folder / "figures")
    captions = {"fd-vs-seconds.png": "FD against training seconds, from snapshots of both sides' weights.",
                "samples.png": "The same request drawn from each side."}
    return [{"file": f"{pair.key}/figures/{name}", "caption": captions[name]} for name in made]


def _installed(library: str) -> str | None:
    """The installed version of a peer library (None when absent): every library counts in the identity, so that
    `--only` does not make another study of the same folder."""
    try:
        return version(library)
    except PackageNotFoundError:
        return None


def _read_npy(path: Path):
    import numpy as np

    return np.load(path, allow_pickle=False)
