"""The feature extractors behind FD: one small classifier per image dataset, trained once into the cache.

The cache entry is an ordinary run folder, `<cache>/features/<dataset>-v<VERSION>/`, so its config,
weights, metrics and test accuracy can be inspected like any run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from aeflow.config import RunConfig
from aeflow.data import Dataset, load_dataset
from aeflow.data.download import cache_dir
from aeflow.errors import ConfigError, DataError, Mismatch
from aeflow.eval.features import VERSION, FeatureExtractor
from aeflow.eval.rows import GeneratorRow, generator_row
from aeflow.eval.samples import check_samples, score_samples
from aeflow.runs.folder import SUMMARY, load, read_summary
from aeflow.runs.pipeline import ensure
from aeflow.runs.sampling import SampleRequest, draw
from aeflow.runs.train import make_config

# (model config, training config) per image size; seconds for 8x8, a few minutes for 28x28 on 2 CPU cores.
RECIPES = {
    8: ({"channels": [32, 64], "feature_dim": 128}, {"epochs": 15, "batch_size": 64, "lr": 2e-3, "weight_decay": 0.05}),
    28: ({"channels": [32, 64, 64], "feature_dim": 128},
         {"epochs": 4, "batch_size": 128, "lr": 2e-3, "weight_decay": 0.05}),
}


def extractor_dir(dataset: str) -> Path:
    return cache_dir() / "features" / f"{dataset}-v{VERSION}"


def build_extractor(data: Dataset, progress: bool = True, rerun: bool = False) -> Path:
    """Train the feature classifier for `data` into the cache (or finish an interrupted build); a cached one
    made with another recipe is refused (`rerun` replaces it)."""
    if not data.is_image:
        raise DataError(f"{data.name} is not an image dataset: no feature extractor for it")
    if data.train_y is None:
        raise DataError(f"{data.name} has no labels: a feature classifier cannot be trained on it. Score its "
                        "samples with a labelled dataset of the same kind, or use pixel-space metrics")
    size = data.shape[-1]
    if size not in RECIPES:
        raise DataError(f"no feature-extractor recipe for {size}x{size} images (have {sorted(RECIPES)})")
    try:
        return ensure(recipe(data, progress), extractor_dir(data.name), dataset=data, rerun=rerun)
    except Mismatch as e:
        raise ConfigError(f"the cached feature extractor does not match this version's recipe ({e}); rebuild it with "
                          f"`aeflow features build --dataset {data.name} --rerun`") from None


def recipe(data: Dataset, progress: bool = True) -> RunConfig:
    """The feature classifier's run config for `data` (a recipe per image size)."""
    model_cfg, train_cfg = RECIPES[data.shape[-1]]
    return make_config("classifier", data.name, {**model_cfg, "n_classes": len(data.classes)},
                       {**train_cfg, "progress": progress})


def extractor_accuracy(dataset: str) -> float:
    return read_summary(extractor_dir(dataset))["final"]["test/accuracy"]


def feature_extractor(dataset: str, data: Dataset | None = None, build: bool = True,
                      progress: bool = True) -> FeatureExtractor:
    """The cached classifier for `dataset` (building it first if allowed), ready for the sample metrics."""
    out = extractor_dir(dataset)
    if not (out / SUMMARY).exists() or build:   # ensure checks a cached one against the recipe, builds a missing one
        if not build:
            raise DataError(f"no feature extractor for {dataset} in {out}; build it with "
                            f"`aeflow features build --dataset {dataset}`")
        build_extractor(data or load_dataset(dataset), progress=progress)
    return FeatureExtractor(load(out), f"{dataset} classifier v{VERSION}, test accuracy "
                                       f"{extractor_accuracy(dataset):.4f}")


def score(samples: torch.Tensor, data: Dataset, n: int | None = None, seed: int = 0, progress: bool = True) -> dict:
    """`aeflow.eval.score_samples` with the dataset's feature extractor (trained once, cached)."""
    check_samples(samples, data.shape)   # before the extractor is built: that can take minutes
    return score_samples(samples, data, feature_extractor(data.name, data, progress=progress), n, seed)


def measure_generator(model, run_dir: Path | None, request: SampleRequest, data: Dataset, extractor: FeatureExtractor,
                      name: str, label: str = "", score_seed: int = 0
                      ) -> tuple[GeneratorRow, torch.Tensor, dict[str, Any]]:
    """Draw `request` from the model (timed) and score it against the first request.n test images
    (`score_seed` picks the images scored and the floor's): its row, the images and every score."""
    start = time.perf_counter()
    images, made = draw(model, run_dir, request, data)
    seconds = time.perf_counter() - start
    scores = score_samples(images, data, extractor, request.n, seed=score_seed)
    train_time = read_summary(run_dir).get("train_time_s") if run_dir is not None else None
    row = generator_row(images, seconds, made, scores, data, request.seed, name,
                        sum(p.numel() for p in model.parameters()), train_time, label)
    return row, images, scores
