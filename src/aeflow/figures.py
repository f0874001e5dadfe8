"""Pictures as data: what a model or a study wants drawn, described by arrays and labels. `aeflow.viz`
turns them into PNG files; whoever computes a figure never writes one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ImageGrid:
    """Labelled rows of same-sized images (N, C, H, W) in [0, 1]."""

    rows: list[torch.Tensor]
    labels: list[str]
    title: str = ""


@dataclass
class Curves:
    """Named (xs, ys) series on one pair of axes."""

    series: dict[str, tuple[list[float], list[float]]]
    xlabel: str
    ylabel: str
    title: str = ""
    log_x: bool = False
    log_y: bool = False
    scatter: bool = False   # points only, no lines
    floor: float | None = None   # a reference level drawn across the plot (FD's real-vs-real floor)
    floor_label: str = "real-vs-real floor"


Figure = ImageGrid | Curves
