"""Running the lineage: the chapters (in order, or in lanes side by side: lanes.py), each reused when finished,
then the claims and the report."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from aeflow.eval.recognisability import RECOGNISABLE, SEEN_AS_OUTLIERS, SHOULD_NOT_READ, SHOULD_READ
from aeflow.figures import Curves, ImageGrid
from aeflow.progress import say
from aeflow.report import render_report
from aeflow.runs.folder import locked
from aeflow.studies.engine import claim_study
from aeflow.studies.lineage.book import (
    LATENT_ROAD,
    PIXEL_ROAD,
    Book,
    ChapterRecord,
    RoutedRow,
    open_book,
    saved_samples,
)
from aeflow.studies.lineage.budgets import Budget, budget_for
from aeflow.studies.lineage.chapters import CHAPTERS
from aeflow.studies.lineage.claims import judge
from aeflow.studies.lineage.lanes import run_chapters
from aeflow.studies.lineage.records import described, read_numbers
from aeflow.studies.lineage.workers import Setup, Workers, default_workers, lineage_workers


def default_out(dataset: str, budget: str) -> Path:
    return Path(f"runs/lineage-{dataset}-{budget}")


def run_lineage(dataset: str = "digits", budget: str | Budget = "cpu", out: str | Path | None = None,
                data_dir: str | None = None, progress: bool = True, rerun: bool = False,
                workers: int | None = None) -> dict[str, Any]:
    """Run (or continue) the lineage into `out`; write report.html, report.md and report.json there and return
    the report's content. A folder holding another lineage (dataset, budget) is refused, or redone when
    `rerun`; so is a run in it that is not the one a chapter asks for. `workers` processes run a seeded
    chapter's other seeds beside seed 0, or with one seed lanes of chapters beside the lineage's own (None:
    `default_workers`; 0: everything in this process, one after another)."""
    budget = budget if isinstance(budget, Budget) else budget_for(budget, dataset)
    out = Path(out or default_out(dataset, budget.name))
    with locked(out, "lineage"):
        identity = claim_lineage(out, dataset, budget, rerun)
        setup = Setup(out, dataset, budget, data_dir, rerun, identity)
        with lineage_workers(default_workers(budget) if workers is None else workers, setup) as pool:
            return _run(setup, progress, pool)


# Raised whenever a chapter measures something its saved records lack (2: classifier confidence; 3: seeds, the
# regularised autoencoders, collapse with an autoregressive decoder; 4: the judge of recognisability, latent
# generators on the compression autoencoder's codes; 5: the compression errors and the by-hand models as typed
# records; 6: the latent chapter's speeds the fastest of three timings each, and the records kept by
# studies/engine.py): a folder of an earlier version is then another lineage, refused or redone, never read for
# numbers it does not hold.
CHAPTERS_VERSION = 6


def lineage_identity(dataset: str, budget: Budget) -> dict[str, Any]:
    """What decides a lineage's results: its dataset, every field of its budget (the time estimates aside) and
    the version of what its chapters measure."""
    fields = {k: v for k, v in asdict(budget).items() if k != "seconds"}
    return {"dataset": dataset, "budget": json.loads(json.dumps(fields)), "chapters": CHAPTERS_VERSION}


def claim_lineage(out: Path, dataset: str, budget: Budget, rerun: bool) -> str:
    """The lineage's digest, kept in the folder's marker (`claim_study`); with `rerun` a folder of another
    lineage loses its chapter records, so that every chapter is done again."""
    return claim_study(out, "lineage", lineage_identity(dataset, budget), rerun,
                       lambda i: f"{i.get('dataset')} lineage at the {i.get('budget', {}).get('name')} budget",
                       "chapters/*.json")


def _run(setup: Setup, progress: bool, workers: Workers | None) -> dict[str, Any]:
    start = time.perf_counter()
    budget, dataset = setup.budget, setup.dataset
    say(f"lineage of {dataset} ({budget.name} budget) in {setup.out}")
    book = open_book(setup.out, dataset, budget, setup.data_dir, progress, setup.rerun, setup.identity)
    run_chapters(book, setup, workers)
    report = _assemble(book, dataset, time.perf_counter() - start)
    paths = render_report(report, setup.out)
    say("")
    for row in report["claims"]:
        say(f"  {row.verdict:<15} {row.claim}")
    say(f"\nreport: {paths['html']}")
    return report


def _assemble(book: Book, dataset: str, wall_time: float) -> dict[str, Any]:
    """The report's content from the chapters' records, with the comparison, FD-vs-NFE plot and sample grid."""
    records = [book.results[c.key] for c in CHAPTERS]
    seeds = {r.key: [read_numbers(r.key, n) for n in (r.numbers, *r.other_seeds)] for r in records}
    generators = [g for r in records for g in r.generators]
    series: dict[str, tuple[list, list]] = {}
    for r in records:
        for name, points in r.curves.items():
            series[name] = ([p.nfe for p in points], [p.fd for p in points])
    for g in generators:
        series.setdefault(g.name, ([], []))
        series[g.name][0].append(g.nfe)
        series[g.name][1].append(g.fd)
    figures: list[dict[str, str]] = []
    if series:
        book.current = ChapterRecord("comparison", "", "", "")
        floor = generators[0].fd_real_floor if generators else None
        book.figure("fd-vs-nfe.png", Curves(series, "network evaluations per sample (NFE)", "FD (lower is better)",
                                            "FD against sampling cost", log_x=True, log_y=True, floor=floor),
                    "FD against network evaluations per sample for every generator and sampler.")
        names = [g.name for g in generators]
        book.figure("samples.png", ImageGrid([saved_samples(book.out, n) for n in names], names,
                                             "16 samples from every generator (seed 0)"),
                    "Samples from every generator, side by side.")
        book.write_made()
        figures = book.current.figures
    return {"dataset": dataset, "budget": book.budget.name, "wall_time_s": round(wall_time, 1),
            "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                        "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
            "n_eval": book.budget.n_eval, "claims": judge(seeds, {r.key: r.applies for r in records}),
            "chapters": records, "tables": {key: described(numbers[0]) if numbers[0] is not None else []
                                            for key, numbers in seeds.items()},   # seed 0's, in words and units
            "measure": _measure(seeds), "comparison": generators,
            "ending": ending(generators, _autoencoder_seconds(book.results)), "figures": figures}


def _autoencoder_seconds(results: dict[str, ChapterRecord]) -> float:
    """The compression autoencoder's training seconds: part of what a generator over its codes cost."""
    runs = results["compression"].runs if "compression" in results else {}
    return runs["autoencoder"].train_time_s if "autoencoder" in runs else 0.0


def _measure(seeds: dict[str, list[Any]]) -> dict[str, Any] | None:
    """The judge's reference sets beside the decoded codes the claims ask it about (seed 0)."""
    code_space = seeds.get("code-space", [None])[0]
    if code_space is None:
        return None
    m = code_space.measure
    rows = [{"images": name, "confidence": value, "ratio": value / m.references["test images"],
             "expected": "recognisable" if name in (*SHOULD_READ, "test images") else
             ("not recognisable" if name in SHOULD_NOT_READ else "not judged"),
             "seen_in_training": "as outliers" if name in SEEN_AS_OUTLIERS else "no"}
            for name, value in m.references.items()]
    codes = code_space.normal_codes.confidence
    rows.append({"images": "decoded N(0, I) codes (the autoencoder's)", "confidence": codes,
                 "ratio": codes / code_space.test_confidence,
                 "expected": "the claim: not recognisable", "seen_in_training": "no"})
    return {"judge": m.judge, "threshold": RECOGNISABLE, "problems": m.problems, "rows": rows}


@dataclass
class Ranked(RoutedRow):
    """A generator's row in the ending's ranking, with what it is compared by."""
    fd_over_floor: float = 0.0
    confidence_ratio: float = 0.0                # its judge's confidence over the test images'
    cost_s: float = 0.0                          # training seconds, its autoencoder's included on the latent road


@dataclass
class Target:
    """A quality target set before the runs, met or missed by how much (`ratio`: measured / bound)."""
    target: str
    generator: str
    measured: float
    bound: str
    met: bool
    ratio: float


@dataclass
class Ending:
    """Every generator ranked by FD, the best of each road, the most recognisable, and the targets."""
    rows: list[Ranked] = field(default_factory=list)
    best: dict[str, str] = field(default_factory=dict)          # road -> its best generator
    most_recognisable: str = ""
    targets: list[Target] = field(default_factory=list)


def ending(generators: list[RoutedRow], autoencoder_seconds: float = 0.0) -> Ending:
    """Every generator ranked by FD, with its recognisability, speed and cost (its training seconds, and for a
    generator over the compression autoencoder's codes that autoencoder's too), and the best of each road: which
    route wins at this budget."""
    if not generators:
        return Ending()
    rows = sorted((Ranked(**asdict(g), fd_over_floor=g.fd / g.fd_real_floor,
                          confidence_ratio=g.confidence / g.test_confidence,
                          cost_s=(g.train_time_s or 0.0) + (autoencoder_seconds if g.route == LATENT_ROAD else 0))
                   for g in generators), key=lambda g: g.fd)
    best = {road: min((g for g in rows if g.route == road), key=lambda g: g.fd).name
            for road in dict.fromkeys(g.route for g in rows)}
    recognisable = max(rows, key=lambda g: g.confidence_ratio)
    return Ending(rows, best, recognisable.name, targets(rows))


def targets(rows: list[Ranked]) -> list[Target]:
    """The quality targets set for the cpu budget before its runs, each met or missed by how much (a ratio to
    the target: below 1 is met for an upper bound, above 1 for a lower one)."""
    pixel = [g for g in rows if g.route == PIXEL_ROAD and g.name != "one-step"]
    gan = [g for g in rows if g.name == "DCGAN"]
    gmm = [g for g in rows if g.name == "autoencoder + GMM"]
    recognisable = max(rows, key=lambda g: g.confidence_ratio)
    found = [("the best generator's FD, over the floor", rows[0].name, rows[0].fd_over_floor, "at most", 2.0),
             ("the most recognisable generator's confidence, over the test images'", recognisable.name,
              recognisable.confidence_ratio, "at least", 0.95)]
    if pixel:
        best = min(pixel, key=lambda g: g.fd)
        found.append(("the best noise-to-pixels generator's FD, over the floor", best.name, best.fd_over_floor,
                      "at most", 4.0))
    if gan:
        found.append(("the GAN's rarest class, share of its samples", "DCGAN", gan[0].min_class_fraction,
                      "at least", 0.05))
    if gmm:
        rival = min((g for g in rows if g.route in (PIXEL_ROAD, LATENT_ROAD)), key=lambda g: g.fd)
        found.append(("the best noise-to-data or latent generator's FD, over the autoencoder + GMM's",
                      rival.name, rival.fd / gmm[0].fd, "below", 1.0))
    return [Target(what, name, value, f"{how} {bound:g}", value <= bound if how in ("at most", "below")
                   else value >= bound, value / bound) for what, name, value, how, bound in found]
