"""Running `aeflow peers`: for each comparison, the peer trained with its recipe and aeflow's model trained for
the same wall-clock seconds on the same machine, both sampled by the same requests and scored with the one
scoring row, FD measured along the way from snapshots; then report.html, report.md and report.json. A finished
comparison is reused; an interrupted one continues (aeflow's run resumes from its checkpoint; a peer's
training, which its library cannot resume, starts again)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import platform
import statistics
import tempfile
import time
from dataclasses import asdict, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from aeflow.data import Dataset, load_dataset
from aeflow.errors import DataError
from aeflow.eval.features import FeatureExtractor
from aeflow.figures import Curves, ImageGrid
from aeflow.files import atomic_save, atomic_save_array, read_json, read_tensors, remove_made, write_json
from aeflow.peers import require_library
from aeflow.peers.clock import Clock
from aeflow.progress import say
from aeflow.report import render_report
from aeflow.runs import feature_extractor, load
from aeflow.runs.features import measure_generator
from aeflow.runs.folder import locked, read_summary
from aeflow.runs.pipeline import ensure
from aeflow.runs.train import build, make_config, snapshot_path
from aeflow.studies.claim import claim_study
from aeflow.studies.peers.budgets import PeerBudget, peer_budget
from aeflow.studies.peers.pairs import PAIRS, Pair
from aeflow.training import read_metrics
from aeflow.training.trainer import train as train_loop
from aeflow.viz import save_figures

VERSION = 2            # what a comparison's record holds; another version is redone, not read
PROBE_SECONDS = 3.0    # aeflow's training loop run this long, or for this share of the budget when that is
PROBE_SHARE = 0.03     # longer (a dozen UNet steps on 2 cores), to turn the budget's seconds into steps


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
        identity = {"dataset": dataset, "budget": json.loads(json.dumps(asdict(budget))), "version": VERSION,
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
            record = _saved(out / pair.key / "record.json")
            if isinstance(record, dict) and record.get("version") == VERSION:
                say(f"{head}: finished earlier, reused")
            else:
                say(f"{head}: {budget.seconds[pair.key]:g} s of training each")
                record = compare(pair, budget, data, extractor, out / pair.key, progress)
            records.append(record)
            for row in record["rows"]:
                fd = row["stats"]["fd"]
                say(f"  {row['label']:<24} FD {pair.library} {fd['peer']['mean']:8.2f} +/- {fd['peer']['std']:.2f}"
                    f"   aeflow {fd['aeflow']['mean']:8.2f} +/- {fd['aeflow']['std']:.2f}   {row['verdict']}")
        report = {"dataset": dataset, "budget": budget.name, "wall_time_s": round(time.perf_counter() - started, 1),
                  "machine": {"platform": platform.platform(), "processor": platform.processor() or
                              platform.machine(), "torch_threads": torch.get_num_threads(),
                              "torch": torch.__version__},
                  "versions": identity["versions"], "n_eval": budget.n_eval, "extractor": extractor.description,
                  "comparisons": records}
        paths = render_report(report, out, "peers")
        say(f"\nreport: {paths['html']}")
        return report


def compare(pair: Pair, budget: PeerBudget, data: Dataset, extractor: FeatureExtractor, folder: Path,
            progress: bool) -> dict[str, Any]:
    """The pair at each of the budget's seeds (the two sides' order alternating with the seed), every row scored
    in both feature spaces, and per row the verdict the seeds allow (`verdict`)."""
    seeds = [compare_seed(pair, budget, data, extractor, folder / f"seed-{seed}", seed, progress)
             for seed in range(budget.seeds)]
    first = seeds[0]
    rows = [{**row, "seeds": [s["rows"][i] for s in seeds], **spread([s["rows"][i] for s in seeds])}
            for i, row in enumerate(first["rows"])]
    record = {"version": VERSION, "key": pair.key, "title": pair.title, "library": pair.library,
              "library_version": version(pair.library), "recipe": pair.recipe, "sources": pair.sources,
              "deviations": pair.deviations, "budget_seconds": budget.seconds[pair.key], "seeds": budget.seeds,
              "sides": first["sides"], "by_seed": [{"seed": s["seed"], "order": s["order"], "sides": s["sides"]}
                                                   for s in seeds],
              "rows": rows, "curves": first["curves"], "figures": figures(pair, folder, first["curves"], rows,
                                                                          budget.n_curve)}
    write_json(folder / "record.json", record)
    return record


def side_order(seed: int) -> tuple[str, str]:
    """Which side trains first at `seed`: the peer at even seeds, aeflow at odd ones, so that neither always
    meets the machine's caches (and whatever else runs) first."""
    return ("peer", "aeflow") if seed % 2 == 0 else ("aeflow", "peer")


def compare_seed(pair: Pair, budget: PeerBudget, data: Dataset, extractor: FeatureExtractor, folder: Path,
                 seed: int, progress: bool) -> dict[str, Any]:
    seconds = budget.seconds[pair.key]
    trained: dict[str, Any] = {}
    for side in side_order(seed):
        if side == "peer":
            trained["peer"] = peer_trained(pair, budget, data, folder / "peer", seconds, seed)
        else:
            trained["aeflow"] = aeflow_trained(pair, budget, data, folder / "aeflow", seconds, progress, seed)
    raw, peer_side = trained["peer"]
    peer = pair.adapt(raw, data)
    run = trained["aeflow"]
    ours = load(run)
    metrics = read_metrics(run / "metrics.jsonl")
    summary = read_summary(run)
    aeflow_side = {"seconds": round(summary["train_time_s"], 2), "epochs": metrics[-1]["epoch"],
                   "steps": metrics[-1]["step"], "planned_steps": _saved(folder / "aeflow-plan.json")["steps"],
                   "images_seen": metrics[-1]["step"] * pair.aeflow_options(budget, data)[1]["batch_size"],
                   "threads": summary["machine"]["torch_threads"],
                   "n_parameters": sum(p.numel() for p in ours.parameters()),
                   "run": str(run.relative_to(folder.parent.parent)),
                   "snapshots": [{"seconds": m["train_time"], "epoch": m["epoch"]} for m in metrics
                                 if snapshot_path(run, m["epoch"]).exists()]}
    sides = {"peer": (peer, None, peer_side), "aeflow": (ours, run, aeflow_side)}
    rows = []
    for row in pair.rows:
        n = budget.n_samples(row.nfe)
        measured = {}
        for side, (model, run_dir, info) in sides.items():
            found, images, _ = measure_generator(model, run_dir, row.request(n, seed), data, extractor,
                                                 f"{pair.library if side == 'peer' else 'aeflow'} {pair.key}",
                                                 row.label)
            atomic_save_array(folder / side / f"samples-{row.key}.npy", images.numpy())
            measured[side] = asdict(replace(found, train_time_s=info["seconds"]))
        rows.append({"row": row.key, "label": row.label, **measured,
                     "ratio": measured["aeflow"]["fd"] / measured["peer"]["fd"]})
    curves = {"peer": curve(pair, peer, raw, None, folder / "peer", peer_side, budget, data, extractor, seed),
              "aeflow": curve(pair, ours, ours, run, run, aeflow_side, budget, data, extractor, seed)} \
        if seed == 0 else {}
    return {"seed": seed, "order": list(side_order(seed)), "sides": {"peer": peer_side, "aeflow": aeflow_side},
            "rows": rows, "curves": curves}


SPACES = {"fd": "the feature classifier's", "fd_judge": "the judge's"}


def spread(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """A row over its seeds: per feature space and side the mean and standard deviation of FD, and the row's
    verdict (`verdict`)."""
    stats = {}
    for space in SPACES:
        stats[space] = {}
        for side in ("peer", "aeflow"):
            values = [s[side][space] for s in seeds if s[side].get(space) is not None]
            stats[space][side] = {"values": values, "mean": statistics.fmean(values) if values else None,
                                  "std": statistics.stdev(values) if len(values) > 1 else 0.0}
    return {"stats": stats, "verdict": verdict(stats), "mean_ratio": stats["fd"]["aeflow"]["mean"] /
            stats["fd"]["peer"]["mean"]}


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


def peer_trained(pair: Pair, budget: PeerBudget, data: Dataset, folder: Path, seconds: float, seed: int
                 ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The peer's model trained for `seconds` with its library's recipe (or read back when it was)."""
    torch.manual_seed(seed)
    model = pair.build_peer(budget, data)
    side = _saved(folder / "side.json")
    if isinstance(side, dict) and (folder / "weights.safetensors").exists():
        model.load_state_dict(read_tensors(folder / "weights.safetensors")[0])
    else:   # a peer's library cannot resume: its training starts again, the snapshots of an earlier try dropped
        remove_made((folder / "snapshots").glob("step-*.safetensors"))
        clock = Clock(seconds, budget.snapshots, folder)
        plan = pair.train_peer(model, data, clock, seed, folder / pair.library) or {}
        atomic_save(model.state_dict(), folder / "weights.safetensors")
        side = {"seconds": round(clock.elapsed(), 2), "steps": clock.steps, "snapshots": clock.snapshots,
                "images_seen": clock.steps * pair.peer_batch_size, "threads": torch.get_num_threads(),
                "n_parameters": sum(p.numel() for p in model.parameters()), "schedule": plan}
        write_json(folder / "side.json", side)
    return model.eval(), side


def aeflow_trained(pair: Pair, budget: PeerBudget, data: Dataset, out: Path, seconds: float,
                   progress: bool, seed: int) -> Path:
    """aeflow's run for the pair: its schedule planned for as many steps as `seconds` hold at the pace of its
    first steps, rounded down, decided once and kept in aeflow-plan.json so that a resumed run is the same run;
    and ended at `seconds` of training should the loop run slower than its probe (aeflow never trains longer
    than the peer). Whole epochs when the budget holds at least one per snapshot; fewer steps than that (a UNet
    on 2 cores) are taken as epochs over the first images, so that the snapshots still fall along the way."""
    model_options, train_options = pair.aeflow_options(budget, data)
    trained = data.subset_train(budget.train_subset)
    plan_path = out.parent / "aeflow-plan.json"
    plan = _saved(plan_path)
    if not isinstance(plan, dict):
        probe = make_config(pair.aeflow_model, data.name, model_options, {**train_options, "epochs": 1})
        batch = train_options["batch_size"]
        steps = int(seconds / seconds_per_step(probe, trained, max(PROBE_SECONDS, PROBE_SHARE * seconds)))
        least = len(budget.snapshots) + 1
        epochs = steps // (len(trained.train_x) // batch)
        subset = None
        if epochs < least:
            epochs, subset = least, max(1, steps // least) * batch
        plan = {"epochs": epochs, "train_subset": subset, "measured_steps": steps,
                "steps": epochs * (len(trained.subset_train(subset).train_x) // batch),
                "snapshot_epochs": sorted({e for f in budget.snapshots if 1 <= (e := round(f * epochs)) < epochs})}
        write_json(plan_path, plan)
    subset = plan["train_subset"]
    config = make_config(pair.aeflow_model, data.name, model_options,
                         {**train_options, "epochs": plan["epochs"], "snapshot_epochs": plan["snapshot_epochs"],
                          "max_train_seconds": seconds, "progress": progress, "seed": seed},
                         train_subset=subset if subset is not None else budget.train_subset)
    return ensure(config, out, dataset=trained.subset_train(subset))


def seconds_per_step(config, data: Dataset, seconds: float) -> float:
    """The seconds a step of aeflow's training loop takes for `config`, all the loop does between evaluations
    counted (the first, slow steps of a process too): the loop itself run for `seconds` in a folder thrown
    away. (A median of bare optimiser steps planned up to 27% more steps than the loop then took.)"""
    probe = copy.deepcopy(config)
    probe.train.max_train_seconds, probe.train.progress, probe.train.epochs = seconds, False, 1_000_000
    model = build(probe, data)
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stderr(io.StringIO()):   # its epoch lines
        last, _ = train_loop(model, {"x": data.train_x}, {"x": data.test_x[:probe.train.batch_size]}, probe.train,
                             Path(folder))
    return last["train_time"] / last["step"]


def curve(pair: Pair, model: torch.nn.Module, weights_of: torch.nn.Module, run_dir: Path | None, folder: Path,
          side: dict[str, Any], budget: PeerBudget, data: Dataset, extractor: FeatureExtractor, seed: int
          ) -> list[list[float]]:
    """[training seconds, FD] at each snapshot and at the end, for the pair's first row on n_curve samples
    (`weights_of`: the module the snapshots are of, inside the adapter `model` for a peer)."""
    final = {k: v.detach().clone() for k, v in weights_of.state_dict().items()}
    snapshots = [(s["seconds"], folder / s["weights"] if "weights" in s else snapshot_path(folder, s["epoch"]))
                 for s in side["snapshots"]]
    points = []
    for seconds, weights in [*snapshots, (side["seconds"], None)]:
        weights_of.load_state_dict(final if weights is None else read_tensors(weights)[0])
        row, _, _ = measure_generator(model, run_dir, pair.rows[0].request(budget.n_curve, seed), data, extractor,
                                      pair.key, pair.rows[0].label)
        points.append([seconds, row.fd])
    weights_of.load_state_dict(final)
    return points


def figures(pair: Pair, folder: Path, curves: dict[str, list[list[float]]], rows: list[dict[str, Any]],
            n_curve: int) -> list[dict[str, str]]:
    """FD against training seconds for both sides, and 16 samples of each side's first row."""
    names = {"peer": pair.library, "aeflow": "aeflow"}
    series = {names[side]: ([p[0] for p in points], [p[1] for p in points]) for side, points in curves.items()}
    samples = [torch.from_numpy(_read_npy(folder / "seed-0" / side / f"samples-{rows[0]['row']}.npy")[:16])
               for side in names]
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


def _saved(path: Path) -> Any:
    """What this study wrote at `path`, or None where nothing (or something unreadable) is there: redone."""
    try:
        return read_json(path) if path.exists() else None
    except DataError:
        return None


def _read_npy(path: Path):
    import numpy as np

    return np.load(path, allow_pickle=False)
