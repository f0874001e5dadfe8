"""Image grids: rows of same-sized images tiled into one PNG, with a label per row."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from aeflow.viz.plots import save_figure  # noqa: E402


def tile(images: torch.Tensor, pad: int = 1) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> one (H', N*(W+pad)) greyscale strip (the channel mean for C > 1)."""
    images = images.detach().float().clamp(0, 1).mean(1)
    n, h, w = images.shape
    strip = torch.ones(h, n * (w + pad) - pad)
    for i in range(n):
        strip[:, i * (w + pad):i * (w + pad) + w] = images[i]
    return strip


def save_image_grid(rows: list[torch.Tensor], labels: list[str], path: str | Path, title: str = "") -> None:
    """One labelled row per tensor; white pixels are ink (images show as black digits on white)."""
    strips = [tile(r) for r in rows]
    width = max(s.shape[1] for s in strips)
    height = sum(s.shape[0] for s in strips)
    fig, axes = plt.subplots(len(strips), 1, figsize=(max(4.0, width / 18), max(1.5, height / 18 + 0.4)),
                             squeeze=False)
    for ax, strip, label in zip(axes[:, 0], strips, labels):
        ax.imshow(1 - strip.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, path, title, title_band=0.3)
