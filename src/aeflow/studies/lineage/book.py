"""The lineage's machinery: a folder of chapters, each a list of runs made with `ensure` plus what is measured
and drawn from them, kept as chapters/NN-key.json so that a second call reuses every finished chapter
(its runs' weights digests prove they were not retrained) and continues the first unfinished one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from aeflow.config import from_dict, to_dict
from aeflow.data import Dataset, load_dataset
from aeflow.errors import ConfigError
from aeflow.eval.features import FeatureExtractor
from aeflow.eval.rows import GeneratorRow
from aeflow.eval.sample_quality import diversity, sharpness
from aeflow.eval.samples import score_samples
from aeflow.figures import Figure, ImageGrid
from aeflow.files import atomic_save, read_tensors
from aeflow.protocols import Encodes
from aeflow.runs import (
    SampleRequest,
    ensure,
    feature_extractor,
    load,
    make_config,
    read_summary,
    weights_digest,
)
from aeflow.runs.features import measure_generator
from aeflow.runs.measured import record_measurement
from aeflow.runs.sampling import default_source
from aeflow.studies.engine import Unit, body
from aeflow.studies.lineage.budgets import Budget
from aeflow.studies.lineage.records import read_numbers
from aeflow.viz import save_figures


@dataclass
class Chapter:
    key: str
    title: str
    story: str                                   # what this step of the story changes
    run: Callable[[Book], Any]                   # does the work, returns the chapter's record (records.py)
    applies: Callable[[Dataset], str | None] = lambda data: None   # a reason when it does not apply
    seeded: bool = False                         # cheap enough to run on each of the budget's seeds
    reads: tuple[str, ...] = ()                  # the earlier chapters whose runs or records it reads


def chapter_groups(chapters: list[Chapter]) -> list[list[Chapter]]:
    """The chapters joined with those they read, and those with theirs: groups that share no run or record,
    each in chapter order, in the order of their first chapter."""
    groups: list[list[Chapter]] = []
    for chapter in chapters:
        joined = [g for g in groups if any(c.key in chapter.reads for c in g)]
        merged = sorted([c for g in joined for c in g], key=chapters.index) + [chapter]
        groups = [g for g in groups if g not in joined]
        groups.append(merged)
    return sorted(groups, key=lambda g: chapters.index(g[0]))


@dataclass
class RunUsed:
    """A run a chapter trained or read: its folder (under the lineage's), its weights' digest when the chapter
    used them, and its training seconds."""
    path: str
    weights: str
    train_time_s: float


@dataclass
class RoutedRow(GeneratorRow):
    """A generator's row with the road it takes to an image: the report's ending ranks them."""
    route: str = ""


@dataclass
class ChapterRecord:
    """What a chapter leaves in chapters/NN-key.json: its runs, figures and generators' rows, and its measurements
    as its typed record's JSON at seed 0 and at the budget's other seeds (`read_numbers` reads them back)."""
    key: str
    title: str
    story: str
    folder: str                                                      # its runs' folder, under the lineage's
    runs: dict[str, RunUsed] = field(default_factory=dict)           # name (seed-N/name beyond seed 0) -> run
    figures: list[dict[str, str]] = field(default_factory=list)      # {"file": under the lineage, "caption"}
    generators: list[RoutedRow] = field(default_factory=list)        # the comparison's rows (seed 0)
    curves: dict[str, list[GeneratorRow]] = field(default_factory=dict)   # FD-vs-NFE points, by curve
    applies: bool = True
    reason: str = ""                                                 # why it does not apply
    numbers: dict[str, Any] = field(default_factory=dict)
    other_seeds: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def read(cls, saved: dict[str, Any]) -> ChapterRecord:
        """A record as the engine saved it (ConfigError when it is not a chapter's record)."""
        return from_dict(cls, body(saved), "a chapter record")


@dataclass
class Made:
    """What a chapter made, kept until it ends, when `Book.write_made` writes it just before the engine saves the
    chapter's record: figures, each generator's 16 samples, and the measurements recorded in the runs they
    measured."""
    figures: dict[str, Figure] = field(default_factory=dict)          # file name under figures/
    samples: dict[str, torch.Tensor] = field(default_factory=dict)    # generator name -> images
    measurements: list[tuple[Path, GeneratorRow, dict[str, Any], bool]] = field(default_factory=list)


@dataclass
class Book:
    """The state of one lineage: its folder, data, budget, feature extractor and every chapter's results."""

    out: Path
    data: Dataset
    budget: Budget
    extractor: FeatureExtractor
    data_dir: str | None = None
    progress: bool = True
    rerun: bool = False                                                # replace runs that are not the ones asked
    identity: str = ""                                                 # the lineage's digest (dataset, budget)
    results: dict[str, ChapterRecord] = field(default_factory=dict)    # chapter key -> its record
    current: ChapterRecord | None = None                               # the record being written
    made: Made = field(default_factory=Made)                           # ... and what it made, written with it
    drawn: dict[str, tuple] = field(default_factory=dict)   # the last 8 draws: a request asked twice is drawn once
    seed: int = 0          # the seed being run: its runs train with it and sit in seed-N/; seed 0 draws the figures

    @contextmanager
    def at_seed(self, seed: int) -> Iterator[None]:
        self.seed = seed
        try:
            yield
        finally:
            self.seed = 0

    def _seeded(self, name: str) -> str:
        return name if self.seed == 0 else f"seed-{self.seed}/{name}"

    # -- runs -------------------------------------------------------------------------------------------
    def train(self, name: str, model: str, model_options: dict | None = None, train_options: dict | None = None,
              dataset: Dataset | None = None, images: int | None = None) -> Path:
        """The run `name` of the current chapter, trained only if it is not finished already (on the lineage's
        data, or on `dataset`; on its first `images` training images only, where given)."""
        subset = min((n for n in (self.budget.train_subset, images) if n is not None), default=None)
        data = (self.data if dataset is None else dataset).subset_train(subset)
        config = make_config(model, data.name, model_options,
                             {"progress": self.progress, "seed": self.seed, **(train_options or {})},
                             self.data_dir if dataset is None else None, train_subset=subset)
        name = self._seeded(name)
        run = ensure(config, self.out / self.current.folder / name, dataset=data, rerun=self.rerun)
        self.current.runs[name] = RunUsed(str(run.relative_to(self.out)), weights_digest(run),
                                          read_summary(run)["train_time_s"])
        return run

    def numbers(self, chapter: str) -> Any:
        """An earlier chapter's record (seed 0), typed."""
        return read_numbers(chapter, self.results[chapter].numbers)

    def run_path(self, chapter: str, name: str) -> Path:
        """A run of an earlier chapter, or of the current one, at the seed being run."""
        record = self.current if self.current and chapter == self.current.key else self.results[chapter]
        return self.out / record.runs[self._seeded(name)].path

    # -- measuring --------------------------------------------------------------------------------------
    def score(self, images: torch.Tensor, seed: int = 0) -> dict[str, Any]:
        """FD with its floor, precision/recall, coverage, memorisation, sharpness and diversity of images."""
        n = min(self.budget.n_eval, len(images), len(self.data.test_x))
        scores = score_samples(images, self.data, self.extractor, n, seed)
        scores["sharpness"] = sharpness(images[:n])
        scores["diversity"] = diversity(images[:n], self.data.test_x[:n])
        return scores

    def _measured(self, model, run: Path | None, request: SampleRequest, name: str,
                  label: str) -> tuple[GeneratorRow, torch.Tensor, dict[str, Any]]:
        """measure_generator, or the same request's images and scores from earlier in the chapter (a chapter's
        best sampler setting, pictured, is one of the settings it measured) under this row's name."""
        def key(asked: SampleRequest) -> str:
            chapter = self.current.key if self.current else None
            return json.dumps([chapter, str(run), to_dict(asked)], sort_keys=True, default=str)

        if run is None:   # nothing names the model: nothing to tell its draws from another model's
            return measure_generator(model, run, request, self.data, self.extractor, name, label)
        if key(request) in self.drawn:
            row, images, scores = self.drawn[key(request)]
            return replace(row, name=name, label=label or row.label), images, scores
        measured = measure_generator(model, run, request, self.data, self.extractor, name, label)
        resolved = replace(request, options=measured[0].options)   # the sampler's options with its defaults filled
        self.drawn = {**dict(list(self.drawn.items())[-14:]), key(request): measured, key(resolved): measured}
        return measured

    def generator(self, name: str, run: Path | None, request: SampleRequest, model=None, label: str = "",
                  curve: str | None = None, picture: bool = False) -> GeneratorRow:
        """Sample `request.n` images (default: the budget's N) from a run and measure them: a row for the
        comparison of generators (or a point of the FD-vs-NFE plot under `curve`), 16 images for the sample grid
        and 32 for the chapter's picture. At a seed other than 0 the row is only returned: the comparison, the
        grids and the run's summary hold seed 0's."""
        model = model if model is not None else load(run)
        request = replace(request, n=self.budget.n_eval if request.n == SampleRequest.n else request.n,
                          seed=self.seed if request.seed == SampleRequest.seed else request.seed)
        row, images, scores = self._measured(model, run, request, name, label)
        if self.seed != 0:
            return row
        if run is not None:   # the run's folder keeps what was measured of it: the explorer and the CLI read it
            self.made.measurements.append((run, row, scores, not curve and row.source == default_source(model)))
        if curve:
            self.current.curves.setdefault(curve, []).append(row)
            return row
        self.current.generators.append(RoutedRow(**asdict(row), route=route(model, row)))
        self.made.samples[name] = images[:16]
        if picture:
            self.figure(f"{name.replace(' ', '-').lower()}-samples.png",
                        ImageGrid([images[:16], images[16:32]], ["", ""], f"{name}: {row.label}"),
                        f"Samples of {name} ({row.label}, {row.nfe} network evaluations each; FD {row.fd:.1f}, "
                        f"floor {row.fd_real_floor:.1f}).")
        return row

    def figure(self, name: str, figure: Figure, caption: str) -> None:
        if self.seed != 0:   # the figures show seed 0; the other seeds give numbers
            return
        file = f"{self.current.key}-{name}"
        self.made.figures[file] = figure
        self.current.figures.append({"file": f"figures/{file}", "caption": caption})

    # -- chapters ---------------------------------------------------------------------------------------
    def chapter_file(self, index: int, chapter: Chapter) -> Path:
        return self.out / "chapters" / f"{index:02d}-{chapter.key}.json"

    def unit(self, index: int, chapter: Chapter, work: Callable[[], None] = lambda: None) -> Unit:
        """The chapter as a unit of the lineage's work (studies/engine.py): its record file, what decides it, the
        work (`work` runs its seeds), and when a whole record is stale anyway: numbers of another shape, or a
        run it used whose weights changed since it measured them."""
        def make() -> dict[str, Any]:
            started = time.perf_counter()
            self.begin(index, chapter)
            reason = chapter.applies(self.data)
            if reason is None:
                work()
            else:
                self.current.applies, self.current.reason = False, reason
            self.write_made()   # before the record: a record on disk means its figures and samples are there
            self.current.seconds = round(time.perf_counter() - started, 1)
            return to_dict(self.current)

        return Unit(chapter.key, self.chapter_file(index, chapter), chapter_identity(self.identity, chapter.key),
                    make, lambda saved: chapter_problem(saved, chapter.key) or
                    self._runs_changed(ChapterRecord.read(saved)))

    def _runs_changed(self, record: ChapterRecord) -> str | None:
        for run in record.runs.values():
            if not (self.out / run.path / "model.safetensors").exists() or \
                    weights_digest(self.out / run.path) != run.weights:
                return f"used the run {run.path}, whose weights changed since"
        return None

    def begin(self, index: int, chapter: Chapter) -> None:
        """A new chapter's record, empty, and nothing made yet."""
        self.made = Made()
        self.current = ChapterRecord(chapter.key, chapter.title, chapter.story, f"{index:02d}-{chapter.key}")

    def write_made(self) -> None:
        """Write what the chapter made (its runs wrote themselves): the measurements into their runs' folders,
        the samples, the figures."""
        for run, row, scores, own in self.made.measurements:
            record_measurement(run, row, scores, own=own, measured_by="aeflow lineage")
        for name, images in self.made.samples.items():
            atomic_save({"images": images}, self.out / "samples" / f"{name}.safetensors")
        save_figures(self.made.figures, self.out / "figures")
        self.made = Made()


LATENT_ROAD, PRIOR_ROAD, PIXEL_ROAD = ("noise to a code by many steps, decoded", "a code drawn from a prior, decoded",
                                      "noise to pixels")


def route(model, row: GeneratorRow) -> str:
    """Which road a generator takes to an image, for the report's ending."""
    if model.registry_name == "latent-flow":
        return LATENT_ROAD
    if row.source != "model" or isinstance(model, Encodes):   # a prior's codes, or a VAE's N(0, I) codes
        return PRIOR_ROAD
    return PIXEL_ROAD


def open_book(out: Path, dataset: str, budget: Budget, data_dir: str | None, progress: bool, rerun: bool,
              identity: str) -> Book:
    """A lineage's book: its data (the budget's training subset) and the domain classifier that scores it,
    trained once on the whole training split and cached."""
    full = load_dataset(dataset, data_dir)
    data = full.subset_train(budget.train_subset)
    extractor = feature_extractor(data.name, full, progress=progress)
    return Book(out, data, budget, extractor, data_dir, progress, rerun, identity)


def chapter_identity(lineage: str, key: str) -> dict[str, str]:
    """What decides a chapter's record: the lineage's identity (dataset, budget, version) and the chapter."""
    return {"lineage": lineage, "chapter": key}


def chapter_problem(saved: dict[str, Any], key: str) -> str | None:
    """Why a chapter's saved record, whole and of this lineage, cannot be read as this chapter's, or None."""
    try:
        record = ChapterRecord.read(saved)
    except ConfigError as e:
        return f"is damaged (not a chapter record: {e})"
    if record.key != key:
        return "is damaged (another chapter's record)"
    try:
        for numbers in (record.numbers, *record.other_seeds):
            read_numbers(key, numbers)
    except ConfigError as e:
        return f"holds numbers of another shape ({e})"
    return None


def saved_samples(out: Path, name: str) -> torch.Tensor:
    return read_tensors(out / "samples" / f"{name}.safetensors")[0]["images"]


