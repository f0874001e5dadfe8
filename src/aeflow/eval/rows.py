"""One generator at one sampling setting, measured: the row the lineage, the sweeps and the benchmarks report
(and the peers will), so that "draw, time, score, make a row" is written once and reads the same everywhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from aeflow.data import Dataset
from aeflow.eval.sample_quality import diversity, sharpness


@dataclass
class GeneratorRow:
    name: str                                 # the generator: a model, or a model with a code prior
    label: str                                # its sampling setting in words ("midpoint-2", "GMM, 10 components")
    source: str | None                        # "model" or a code prior's name
    sampler: str | None
    nfe: int                                  # network evaluations per sample
    n: int                                    # images scored (and test images they are scored against)
    seed: int
    fd: float
    fd_real_floor: float                      # FD between two real sets of N: what N itself costs
    precision: float
    recall: float
    coverage: float                           # class entropy of the samples / log(classes)
    min_class_fraction: float                 # the rarest class's share of the samples
    confidence: float                         # the classifier's mean top-class probability on the samples
    test_confidence: float                    # ... on the test images
    fraction_closer_than_test_p1: float       # memorisation: samples nearer a training image than 99% of test's
    sharpness: float                          # variance of the Laplacian
    diversity: float                          # mean pairwise distance, relative to the test images'
    images_per_s: float
    n_parameters: int
    train_time_s: float | None
    options: dict[str, Any] = field(default_factory=dict)   # the sampler's options
    fd_judge: float | None = None             # FD in the judge's features: a second, independent space
    fd_judge_floor: float | None = None


def generator_row(images: torch.Tensor, seconds: float, made: dict[str, Any], scores: dict[str, Any],
                  data: Dataset, seed: int, name: str, n_parameters: int, train_time_s: float | None,
                  label: str = "") -> GeneratorRow:
    """The row of `images` drawn with `seed` in `seconds` (`made`: what `draw` says made them; `scores`:
    `score_samples` of them)."""
    n = scores["n"]
    return GeneratorRow(
        name=name, label=label or made["label"], source=made.get("source"), sampler=made.get("sampler"),
        nfe=made.get("nfe", 1), n=n, seed=seed, fd=scores["fd"], fd_real_floor=scores["fd_real_floor"],
        precision=scores["precision"], recall=scores["recall"], coverage=scores["coverage"],
        min_class_fraction=min(scores["class_fractions"].values()), confidence=scores["confidence"],
        test_confidence=scores["test_confidence"],
        fraction_closer_than_test_p1=scores["fraction_closer_than_test_p1"], sharpness=sharpness(images[:n]),
        diversity=diversity(images[:n], data.test_x[:n]), images_per_s=len(images) / max(seconds, 1e-9),
        n_parameters=n_parameters, train_time_s=train_time_s, options=dict(made.get("options", {})),
        fd_judge=scores.get("fd_judge"), fd_judge_floor=scores.get("fd_judge_floor"))
