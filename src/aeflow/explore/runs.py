"""The explorer's view of run folders: found once under the folders it is given, each known by a short id
(a client names a run by its id, never by a path), its model and dataset loaded once and kept."""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from aeflow import protocols as cap
from aeflow.data import SHAPES, Dataset, load_dataset
from aeflow.errors import AeflowError
from aeflow.models.registry import build_model
from aeflow.runs import WEIGHTS, load, load_config, read_summary
from aeflow.runs.sampling import default_source, sources
from aeflow.samplers import SAMPLERS, samplers_for
from aeflow.training.checkpoint import check_weights_header

CAPABILITIES = {"encodes": cap.Encodes, "reconstructs": cap.Reconstructs, "posterior": cap.HasPosterior,
                "samples": cap.Samples, "likelihood": cap.HasLikelihood, "tokens": cap.Tokenizes,
                "velocity": cap.VelocityField, "noise_predictor": cap.NoisePredictor, "maps_noise": cap.MapsNoise,
                "discriminates": cap.Discriminates}


@dataclass
class Run:
    id: str
    path: Path
    name: str
    family: str
    dataset: str
    data_dir: str | None
    summary: dict[str, Any]
    priors: dict[str, Any] = field(default_factory=dict)   # fitted by `draw` here, kept in memory, never written
    problem: str | None = None                             # why this run cannot be used (its panels are off)

    @cached_property
    def model(self):
        return load(self.path)

    @cached_property
    def shape_only(self):
        """The run's model built on the meta device (no weights, no memory): what it can do, in milliseconds.
        The run list is made from these; a run's weights load when a panel first uses it."""
        config = load_config(self.path)
        with torch.device("meta"):
            model = build_model(config.model, config.model_config, SHAPES[config.data.name])
        check_weights_header(model, self.path / WEIGHTS)
        return model

    def usable(self, loaded: bool = True) -> bool:
        """Whether the run's model loads (or, not `loaded`, whether its weights file fits its config, from the
        header); if not, `problem` says why (the other runs are unaffected)."""
        if self.problem is None:
            try:
                _ = self.model if loaded else self.shape_only   # each made once (cached)
            except Exception as e:   # noqa: BLE001 - whatever a damaged folder raises, this run alone is off
                self.problem = f"its model cannot be read ({' '.join(str(e).split())[:300]})"
        return self.problem is None

    def describe(self) -> dict[str, Any]:
        if not self.usable(loaded="model" in self.__dict__):
            return {"id": self.id, "name": self.name, "family": self.family, "dataset": self.dataset,
                    "problem": self.problem, "capabilities": [], "samplers": [], "sampler_options": {},
                    "default_source": None, "default_sampler": None, "sources": [], "beta": None, "code_dim": None,
                    "shape": [], "codebook_size": None, "numbers": {}}
        model = self.model if "model" in self.__dict__ else self.shape_only
        caps = [name for name, protocol in CAPABILITIES.items() if isinstance(model, protocol)]
        s = self.summary
        return {"id": self.id, "name": self.name, "family": self.family, "dataset": self.dataset, "problem": None,
                "capabilities": caps, "samplers": samplers_for(model),
                "sampler_options": {name: SAMPLERS[name].takes() for name in samplers_for(model)},
                "default_source": default_source(model), "default_sampler": getattr(model, "default_sampler", None),
                "sources": sources(model), "beta": getattr(model.config, "beta", None),
                "code_dim": self.code_dim, "shape": list(model.input_shape),
                "codebook_size": getattr(model, "codebook_size", None),
                "numbers": {"test_recon_error": _number(s, "test_recon_error"), "fd": _number(s, "samples", "fd"),
                            "fd_real_floor": _number(s, "samples", "fd_real_floor"),
                            "precision": _number(s, "samples", "precision"),
                            "recall": _number(s, "samples", "recall"), "elbo": _number(s, "likelihood", "elbo"),
                            "test_kl": _number(s, "final", "test/kl"), "test_recon": _number(s, "final", "test/recon"),
                            "n_parameters": _number(s, "n_parameters"), "train_time_s": _number(s, "train_time_s")}}

    @cached_property
    def code_dim(self) -> int | None:
        model = self.shape_only
        if not isinstance(model, cap.Encodes):
            return None
        try:   # shapes through the encoder on the meta device; an iterative encoder (logistic PCA) needs values
            with torch.device("meta"), torch.no_grad():
                return int(model.encode(torch.zeros(2, *model.input_shape)).flatten(1).shape[1])
        except (NotImplementedError, RuntimeError):
            if not self.usable():
                return None
            with torch.no_grad():
                return int(self.model.encode(torch.zeros(2, *model.input_shape)).flatten(1).shape[1])


def _number(summary: Any, *keys: str) -> float | None:
    """summary[k1][k2]... when it is a finite number; None when it is missing or of another type (a summary.json
    edited by hand shows a dash, not an error)."""
    for key in keys:
        summary = summary.get(key) if isinstance(summary, dict) else None
    ok = isinstance(summary, (int, float)) and not isinstance(summary, bool) and math.isfinite(summary)
    return summary if ok else None


def find_runs(folders: list[Path]) -> dict[str, Run]:
    """Every finished run folder (config.yaml and model.safetensors) under `folders`, by id. One that cannot be
    read is listed with the reason (its panels off); the explorer is read-only and shows what it can."""
    runs: dict[str, Run] = {}
    for root in folders:
        root = Path(root).resolve()
        candidates = [root] if (root / "config.yaml").exists() else sorted(p.parent for p in root.rglob("config.yaml"))
        for path in candidates:
            if not ((path / "model.safetensors").exists() and (path / "summary.json").exists()):
                continue
            name = str(path.relative_to(root.parent)) if path != root else path.name
            rid = _run_id(name, runs)
            try:
                config = load_config(path)
                runs[rid] = Run(rid, path, name, config.model, config.data.name, config.data.data_dir,
                                read_summary(path))
            except (AeflowError, OSError, ValueError) as e:
                runs[rid] = Run(rid, path, name, "?", "?", None, {}, problem=" ".join(str(e).split())[:300])
    return runs


def _run_id(name: str, taken: dict) -> str:
    """A short id from the run's name under its folder (not its absolute path), so that a link to a run still
    opens it after the folder has moved; a second folder of the same name gets the next free id."""
    key, attempt = name, 0
    while (rid := hashlib.sha1(key.encode()).hexdigest()[:10]) in taken:
        attempt += 1
        key = f"{name}#{attempt}"
    return rid


class Cache:
    """Values made once and kept, the oldest dropped beyond `size` entries (None: never); safe across the
    server's worker threads (two making one value at once both make it; one is kept)."""

    def __init__(self, size: int | None = None) -> None:
        self.size, self.values, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self.lock:
            if key in self.values:
                self.values.move_to_end(key)
                return self.values[key]
        value = make()
        with self.lock:
            self.values[key] = value
            while self.size is not None and len(self.values) > self.size:
                self.values.popitem(last=False)
        return value


class Registry:
    """The explorer's state: the runs found (by id), each dataset loaded once, and the last few sampler
    trajectories (the page asks for one's picture, its times, then single frames)."""

    def __init__(self, runs: dict[str, Run]) -> None:
        self.runs = runs
        self.datasets = Cache()
        self.trajectories = Cache(size=8)

    def data(self, run: Run) -> Dataset:
        return self.datasets.get(run.dataset, lambda: load_dataset(run.dataset, run.data_dir))

