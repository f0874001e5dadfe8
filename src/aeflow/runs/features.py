"""The feature extractors behind FD: one small classifier per image dataset, trained once into the cache, and
the judge of recognisability beside it (models/judge.py), trained on 90% of the training split, its temperature
fitted on the other 10% and validated on reference sets (eval/recognisability.py) once, after training.

Each cache entry is an ordinary run folder, `<cache>/features/<dataset>-v<VERSION>/` and
`<cache>/features/<dataset>-judge-v<VERSION>/`, so its config, weights, metrics, test accuracy and (the judge's)
calibration can be inspected like any run.
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
from aeflow.eval.features import VERSION, FeatureExtractor, JudgeOfImages, extract
from aeflow.eval.recognisability import (
    expected_calibration_error,
    fit_temperature,
    reference_sets,
    validation_problems,
)
from aeflow.eval.rows import GeneratorRow, generator_row
from aeflow.eval.samples import check_samples, score_samples
from aeflow.runs.folder import SUMMARY, load, read_summary, write_summary, writing_run
from aeflow.runs.pipeline import ensure
from aeflow.runs.sampling import SampleRequest, draw
from aeflow.runs.train import make_config

# (model config, training config) per image size; seconds for 8x8, a few minutes for 28x28 on 2 CPU cores.
RECIPES = {
    8: ({"channels": [32, 64], "feature_dim": 128}, {"epochs": 15, "batch_size": 64, "lr": 2e-3, "weight_decay": 0.05}),
    28: ({"channels": [32, 64, 64], "feature_dim": 128},
         {"epochs": 4, "batch_size": 128, "lr": 2e-3, "weight_decay": 0.05}),
}

# The judge: another network, objective, seed and order (models/judge.py says why each).
JUDGE_RECIPES = {
    8: ({"network": "mlp", "widths": [256], "feature_dim": 128, "blur_sigmas": [0.4, 0.8]},
        {"epochs": 30, "batch_size": 64, "lr": 2e-3, "weight_decay": 0.01, "seed": 1}),
    28: ({"network": "conv", "widths": [16, 32], "feature_dim": 128, "blur_sigmas": [0.7, 1.4]},
         {"epochs": 3, "batch_size": 128, "lr": 2e-3, "weight_decay": 0.01, "seed": 1}),
}
HELD_OUT = 0.1          # of the training split: the judge's temperature is fitted there
REFERENCE_N = 2000      # images per reference set


def extractor_dir(dataset: str) -> Path:
    return cache_dir() / "features" / f"{dataset}-v{VERSION}"


def judge_dir(dataset: str) -> Path:
    return cache_dir() / "features" / f"{dataset}-judge-v{VERSION}"


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
        out = ensure(recipe(data, progress), extractor_dir(data.name), dataset=data, rerun=rerun)
        build_judge(data, progress, rerun)
        return out
    except Mismatch as e:
        raise ConfigError(f"a cached feature classifier does not match this version's recipe ({e}); rebuild them "
                          f"with `aeflow features build --dataset {data.name} --rerun`") from None


def build_judge(data: Dataset, progress: bool = True, rerun: bool = False) -> Path:
    """Train the judge on the first 90% of the training split, then fit its temperature on the rest and measure
    it on the reference sets, into its summary (once)."""
    model_cfg, train_cfg = JUDGE_RECIPES[data.shape[-1]]
    kept = len(data.train_x) - int(HELD_OUT * len(data.train_x))
    config = make_config("judge", data.name, {**model_cfg, "n_classes": len(data.classes)},
                         {**train_cfg, "progress": progress}, train_subset=kept)
    out = ensure(config, judge_dir(data.name), dataset=data.subset_train(kept), rerun=rerun)
    if "calibration" not in read_summary(out):
        with writing_run(out):
            write_summary(out, calibrate(load(out), data, kept))
    return out


def calibrate(judge, data: Dataset, kept: int) -> dict[str, Any]:
    """The judge's temperature from the held-out images (the training split after the first `kept`), its
    calibration before and after, and its calibrated confidence on each reference set."""
    held_x, held_y = data.train_x[kept:], data.train_y[kept:]
    logits = extract_logits(judge, held_x)
    temperature = fit_temperature(logits, held_y)
    sets = reference_sets(data.test_x, data.test_y, held_x, data.train_x[:kept].mean(0, keepdim=True),
                          min(REFERENCE_N, len(data.test_x), len(held_x)))
    confidences = {name: float(extract(judge, images, temperature=temperature)[1].max(-1).values.mean())
                   for name, images in sets.items()}
    return {"calibration": {"temperature": temperature, "held_out": len(held_x),
                            "held_out_accuracy": float((logits.argmax(-1) == held_y).float().mean()),
                            "ece_before": expected_calibration_error(logits.softmax(-1), held_y),
                            "ece_after": expected_calibration_error((logits / temperature).softmax(-1), held_y)},
            "references": confidences, "validation_problems": validation_problems(confidences)}


def extract_logits(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        model.eval()
        return torch.cat([model(x[i:i + 1000]) for i in range(0, len(x), 1000)])


def load_judge(dataset: str) -> JudgeOfImages:
    out = judge_dir(dataset)
    summary = read_summary(out)
    calibration = summary["calibration"]
    return JudgeOfImages(load(out), calibration["temperature"],
                         f"{dataset} judge v{VERSION} (test accuracy {summary['final']['test/accuracy']:.4f}, "
                         f"temperature {calibration['temperature']:.2f})",
                         summary["references"], summary["validation_problems"])


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
    if not _built(dataset) or build:   # ensure checks a cached one against the recipe, builds a missing one
        if not build:
            raise DataError(f"no feature extractor for {dataset} in {out.parent}; build it with "
                            f"`aeflow features build --dataset {dataset}`")
        build_extractor(data or load_dataset(dataset), progress=progress)
    return FeatureExtractor(load(out), f"{dataset} classifier v{VERSION}, test accuracy "
                                       f"{extractor_accuracy(dataset):.4f}", load_judge(dataset))


def _built(dataset: str) -> bool:
    judge = judge_dir(dataset)
    return (extractor_dir(dataset) / SUMMARY).exists() and (judge / SUMMARY).exists() and \
        "calibration" in read_summary(judge)


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
