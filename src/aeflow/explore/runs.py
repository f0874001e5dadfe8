"""The explorer's view of run folders: found once under the folders it is given, each known by a short id
(a client names a run by its id, never by a path), its model and dataset loaded once and kept."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from aeflow.data import Dataset, load_dataset
from aeflow.errors import AeflowError
from aeflow.models import capabilities as cap
from aeflow.runs import load, load_config, read_summary
from aeflow.runs.sampling import default_source, fitted_prior, sources
from aeflow.samplers import samplers_for

CAPABILITIES = {"encodes": cap.Encodes, "reconstructs": cap.Reconstructs, "posterior": cap.HasPosterior,
                "samples": cap.Samples, "likelihood": cap.HasLikelihood, "tokens": cap.Tokenizes,
                "velocity": cap.VelocityField, "noise_predictor": cap.NoisePredictor, "maps_noise": cap.MapsNoise}


@dataclass
class Run:
    id: str
    path: Path
    name: str
    family: str
    dataset: str
    data_dir: str | None
    summary: dict[str, Any]
    priors: dict[str, Any] = field(default_factory=dict)   # fitted here, kept in memory, never written to the run

    @cached_property
    def model(self):
        return load(self.path)

    def prior(self, name: str, data: Dataset):
        """The run's saved prior, else one fitted now to its training codes (kept in memory only)."""
        if name not in self.priors:
            self.priors[name] = fitted_prior(self.model, self.path, name, data=data, save=False)
        return self.priors[name]

    def describe(self) -> dict[str, Any]:
        model = self.model
        caps = [name for name, protocol in CAPABILITIES.items() if isinstance(model, protocol)]
        s = self.summary
        samples = s.get("samples", {})
        return {"id": self.id, "name": self.name, "family": self.family, "dataset": self.dataset,
                "capabilities": caps, "samplers": samplers_for(model), "default_source": default_source(model),
                "default_sampler": getattr(model, "default_sampler", None),
                "sources": sources(model), "beta": getattr(model.config, "beta", None),
                "code_dim": _code_dim(model), "shape": list(model.input_shape),
                "codebook_size": getattr(model, "codebook_size", None),
                "numbers": {"test_recon_error": s.get("test_recon_error"), "fd": samples.get("fd"),
                            "fd_real_floor": samples.get("fd_real_floor"), "precision": samples.get("precision"),
                            "recall": samples.get("recall"), "elbo": s.get("likelihood", {}).get("elbo"),
                            "test_kl": s.get("final", {}).get("test/kl"),
                            "test_recon": s.get("final", {}).get("test/recon"),
                            "n_parameters": s.get("n_parameters"), "train_time_s": s.get("train_time_s")}}


def _code_dim(model) -> int | None:
    if not isinstance(model, cap.Encodes):
        return None
    with torch.no_grad():
        return int(model.encode(torch.zeros(2, *model.input_shape)).flatten(1).shape[1])


def find_runs(folders: list[Path]) -> dict[str, Run]:
    """Every finished run folder (config.yaml and model.safetensors) under `folders`, by id; folders it cannot
    read are skipped (the explorer is read-only and shows what it can)."""
    runs: dict[str, Run] = {}
    for root in folders:
        root = Path(root).resolve()
        candidates = [root] if (root / "config.yaml").exists() else sorted(p.parent for p in root.rglob("config.yaml"))
        for path in candidates:
            if not ((path / "model.safetensors").exists() and (path / "summary.json").exists()):
                continue
            try:
                config = load_config(path)
                summary = read_summary(path)
            except (AeflowError, OSError, json.JSONDecodeError):
                continue
            name = str(path.relative_to(root.parent)) if path != root else path.name
            rid = hashlib.sha1(str(path).encode()).hexdigest()[:10]
            runs[rid] = Run(rid, path, name, config.model, config.data.name, config.data.data_dir, summary)
    return runs


class Datasets:
    """Each dataset loaded once."""

    def __init__(self) -> None:
        self.loaded: dict[str, Dataset] = {}

    def __call__(self, run: Run) -> Dataset:
        if run.dataset not in self.loaded:
            self.loaded[run.dataset] = load_dataset(run.dataset, run.data_dir)
        return self.loaded[run.dataset]

