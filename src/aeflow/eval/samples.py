"""Scoring a set of generated images against a dataset's test split: one protocol for every model.

FD, precision/recall and mode coverage in the domain classifier's feature space; memorisation in pixel
space. Every FD comes with the real-vs-real floor: the same N training images scored the same way.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aeflow.config import MIN_SCORED_IMAGES, available_memory
from aeflow.data import Dataset
from aeflow.errors import DataError
from aeflow.eval.features import FeatureExtractor, extract
from aeflow.eval.frechet import frechet_distance, gaussian_stats
from aeflow.eval.sample_quality import (
    memorisation,
    mode_coverage,
    nearest_train_distances,
    neighbour_radii,
    precision_recall,
)

DEFAULT_N = 10_000


def load_samples(path: str | Path) -> torch.Tensor:
    """A .npy file of N x C x H x W float images; pickled objects, archives (.npz) and other dtypes are
    refused, and the header's shape is checked against the file's size before anything is read."""
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")   # the header only, until it is checked
    except (OSError, ValueError, EOFError, OverflowError, zipfile.BadZipFile) as e:   # Overflow: a negative shape
        raise DataError(f"cannot read {path} as a .npy array of images: {e or 'the file is empty'}") from None
    if not isinstance(array, np.ndarray):
        raise DataError(f"{path} is an archive (.npz), not one .npy array: save the images with np.save")
    if array.dtype.kind != "f" or array.dtype.fields is not None:
        raise DataError(f"{path}: dtype {array.dtype}; expected floats in [0, 1] (divide uint8 images by 255)")
    if array.size * 4 > available_memory():
        raise DataError(f"{path}: {array.shape} images take {array.size * 4 / 2**30:.1f} GiB as float32, more than "
                        "this machine's free memory; score a part of them (np.load(..., mmap_mode='r')[:10000])")
    with np.errstate(over="ignore"):   # values beyond float32 become inf, which check_samples refuses by name
        return torch.from_numpy(np.array(array, dtype=np.float32))   # a copy: the file is only mapped


def check_samples(samples: torch.Tensor, shape: tuple[int, ...], source: str = "samples") -> torch.Tensor:
    """Refuse anything but finite floats in [0, 1] of shape N x C x H x W matching the dataset."""
    if not samples.is_floating_point():
        raise DataError(f"{source}: dtype {samples.dtype}; expected floats in [0, 1] "
                        "(divide uint8 images by 255 first)")
    if samples.ndim != 4 or tuple(samples.shape[1:]) != tuple(shape):
        raise DataError(f"{source}: shape {tuple(samples.shape)}; expected N x {' x '.join(map(str, shape))}")
    if len(samples) < MIN_SCORED_IMAGES:
        raise DataError(f"{source}: {len(samples)} image(s); scoring needs at least {MIN_SCORED_IMAGES} (precision "
                        "and recall take each image's 3rd nearest neighbour among the others)")
    if not torch.isfinite(samples).all():
        raise DataError(f"{source}: contains NaN or infinite values")
    lo, hi = float(samples.min()), float(samples.max())
    if lo < 0 or hi > 1:
        raise DataError(f"{source}: values in [{lo:.3g}, {hi:.3g}]; expected [0, 1] "
                        "(map [-1, 1] outputs with (x + 1) / 2)")
    return samples.float()


@dataclass(frozen=True)
class Reference:
    """What every score against the same test images shares (their features, the floor, their neighbour radii and
    nearest-training distances): computed once for a lineage's or a peers run's many rows, not once a row (on
    MNIST at N = 2,000 that is seconds a row)."""
    data: Dataset
    extractor: FeatureExtractor
    n: int
    seed: int
    features: torch.Tensor
    probs: torch.Tensor
    stats: tuple[torch.Tensor, torch.Tensor]
    floor_fd: float
    radii: torch.Tensor
    test_distances: torch.Tensor
    judge_probs: torch.Tensor | None            # the judge's calibrated probabilities (None: no judge)
    judge_stats: tuple[torch.Tensor, torch.Tensor] | None
    judge_floor_fd: float | None


_references: list[Reference] = []   # the last few, newest last


def reference(data: Dataset, extractor: FeatureExtractor, n: int, seed: int) -> Reference:
    """The first n test images of `data` as the reference, with the real-vs-real floor from n training images drawn
    by `seed`; the same objects asked again give the same reference without recomputing it."""
    for ref in _references:
        if ref.data is data and ref.extractor is extractor and (ref.n, ref.seed) == (n, seed):
            return ref
    real, floor = data.test_x[:n], floor_images(data, n, seed)
    features, probs = extract(extractor.model, real)
    floor_features, _ = extract(extractor.model, floor)
    stats = gaussian_stats(features)
    judge_probs = judge_stats = judge_floor = None
    if extractor.judge is not None:
        judge_features, judge_probs = extract(extractor.judge.model, real, temperature=extractor.judge.temperature)
        judge_stats = gaussian_stats(judge_features)
        judge_floor = frechet_distance(*gaussian_stats(extract(extractor.judge.model, floor)[0]), *judge_stats)
    ref = Reference(data, extractor, n, seed, features, probs, stats,
                    floor_fd=frechet_distance(*gaussian_stats(floor_features), *stats),
                    radii=neighbour_radii(features), test_distances=nearest_train_distances(real, data.train_x),
                    judge_probs=judge_probs, judge_stats=judge_stats, judge_floor_fd=judge_floor)
    _references[:] = [*_references[-2:], ref]
    return ref


def floor_images(data: Dataset, n: int, seed: int) -> torch.Tensor:
    """The n training images (drawn by `seed`) whose FD to the test images is the real-vs-real floor."""
    return data.train_x[torch.randperm(len(data.train_x), generator=torch.Generator().manual_seed(seed))[:n]]


def score_samples(samples: torch.Tensor, data: Dataset, extractor: FeatureExtractor, n: int | None = None,
                  seed: int = 0) -> dict:
    """FD with its real-vs-real floor, precision/recall, mode coverage and memorisation of `samples`
    against the first n test images of `data`, in `extractor`'s feature space."""
    samples = check_samples(samples, data.shape)
    n = min(n or DEFAULT_N, len(samples), len(data.test_x))
    fake = samples[torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed))[:n]]
    ref = reference(data, extractor, n, seed)
    fake_f, fake_p = extract(extractor.model, fake)
    return {**_scores(fake, fake_f, fake_p, data, extractor, ref, n), **_judged(fake, extractor, ref)}


def _scores(fake: torch.Tensor, fake_f: torch.Tensor, fake_p: torch.Tensor, data: Dataset,
            extractor: FeatureExtractor, ref: Reference, n: int) -> dict:
    return {
        "n": n, "reference": f"{data.name} test split (first {n})",
        "extractor": extractor.description,
        "fd": frechet_distance(*gaussian_stats(fake_f), *ref.stats),
        "fd_real_floor": ref.floor_fd,
        **precision_recall(ref.features, fake_f, real_radii=ref.radii),
        "confidence": float(fake_p.max(-1).values.mean()), "test_confidence": float(ref.probs.max(-1).values.mean()),
        "confidence_by": extractor.description,
        **mode_coverage(fake_p, data.classes or [str(i) for i in range(fake_p.shape[1])]),
        **memorisation(fake, data.train_x, data.test_x[:n], test_distances=ref.test_distances),
    }


def _judged(fake: torch.Tensor, extractor: FeatureExtractor, ref: Reference) -> dict:
    """How confidently the judge reads each image as one class, beside the same for the test images
    ("recognisable" in words, where FD mixes blur and strangeness into one distance), and FD in its features."""
    judge = extractor.judge
    if judge is None:
        return {}
    features, probs = extract(judge.model, fake, temperature=judge.temperature)
    return {"confidence": float(probs.max(-1).values.mean()),
            "test_confidence": float(ref.judge_probs.max(-1).values.mean()), "confidence_by": judge.description,
            "fd_judge": frechet_distance(*gaussian_stats(features), *ref.judge_stats),
            "fd_judge_floor": ref.judge_floor_fd}


def format_scores(scores: dict) -> str:
    lines = [f"N = {scores['n']}, reference: {scores['reference']}", f"features: {scores['extractor']}",
             f"FD {scores['fd']:.3f}   (real-vs-real floor {scores['fd_real_floor']:.3f})",
             f"precision {scores['precision']:.3f}   recall {scores['recall']:.3f}",
             *([f"FD in the judge's features {scores['fd_judge']:.3f}   (floor {scores['fd_judge_floor']:.3f})"]
               if "fd_judge" in scores else []),
             f"confidence {scores['confidence']:.3f} (test images: {scores['test_confidence']:.3f}), by "
             f"{scores['confidence_by']}",
             f"class entropy {scores['class_entropy']:.3f} nats (uniform: {scores['max_class_entropy']:.3f})",
             "class fractions " + " ".join(f"{k}:{v:.3f}" for k, v in scores["class_fractions"].items()),
             f"memorisation: median nearest-train distance {scores['sample_nn_train_median']:.3f} "
             f"(test images: {scores['test_nn_train_median']:.3f}, ratio {scores['nn_ratio']:.3f}); "
             f"{scores['fraction_closer_than_test_p1']:.3f} of samples closer than 99% of test images"]
    return "\n".join(lines)
