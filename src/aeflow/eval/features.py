"""Domain feature extractors: one small classifier per image dataset, trained by aeflow once and cached.

The cache entry is an ordinary run folder, `<cache>/features/<dataset>-v<VERSION>/`, so its config,
weights, metrics and test accuracy can be inspected like any run. Bump VERSION when the recipe changes:
features (and so every Fréchet distance) are only comparable within one version.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from aeflow.data import Dataset, load_dataset
from aeflow.data.download import cache_dir
from aeflow.errors import DataError

VERSION = 1

# (model config, training config) per image size; seconds for 8x8, a few minutes for 28x28 on 2 CPU cores.
RECIPES = {
    8: ({"channels": [32, 64], "feature_dim": 128}, {"epochs": 15, "batch_size": 64, "lr": 2e-3, "weight_decay": 0.05}),
    28: ({"channels": [32, 64, 64], "feature_dim": 128},
         {"epochs": 4, "batch_size": 128, "lr": 2e-3, "weight_decay": 0.05}),
}


def extractor_dir(dataset: str) -> Path:
    return cache_dir() / "features" / f"{dataset}-v{VERSION}"


def build_extractor(data: Dataset, progress: bool = True) -> Path:
    """Train the feature classifier for `data` into the cache (or finish an interrupted build)."""
    from aeflow.runs import CONFIG, SUMMARY, make_config, train

    if not data.is_image:
        raise DataError(f"{data.name} is not an image dataset: no feature extractor for it")
    if data.train_y is None:
        raise DataError(f"{data.name} has no labels: a feature classifier cannot be trained on it. Score its "
                        "samples with a labelled dataset of the same kind, or use pixel-space metrics")
    size = data.shape[-1]
    if size not in RECIPES:
        raise DataError(f"no feature-extractor recipe for {size}x{size} images (have {sorted(RECIPES)})")
    model_cfg, train_cfg = RECIPES[size]
    out = extractor_dir(data.name)
    if not (out / SUMMARY).exists():
        config = make_config("classifier", data.name, {**model_cfg, "n_classes": len(data.classes)},
                             {**train_cfg, "progress": progress})
        train(config, out, resume=(out / CONFIG).exists(), dataset=data)
    return out


def load_extractor(dataset: str, data: Dataset | None = None, build: bool = True, progress: bool = True):
    """The cached classifier for `dataset` (building it first if allowed), in eval mode."""
    from aeflow.runs import SUMMARY, load

    out = extractor_dir(dataset)
    if not (out / SUMMARY).exists():
        if not build:
            raise DataError(f"no feature extractor for {dataset} in {out}; build it with "
                            f"`aeflow features build --dataset {dataset}`")
        build_extractor(data or load_dataset(dataset), progress=progress)
    return load(out)


def extractor_accuracy(dataset: str) -> float:
    summary = json.loads((extractor_dir(dataset) / "summary.json").read_text())
    return summary["final"]["test/accuracy"]


@torch.no_grad()
def extract(model, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, class probabilities) of images `x`, batched."""
    feats, probs = [], []
    for i in range(0, len(x), batch_size):
        f = model.features(x[i:i + batch_size].float())
        feats.append(f)
        probs.append(model.head(f).softmax(-1))
    return torch.cat(feats), torch.cat(probs)
