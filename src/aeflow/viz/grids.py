"""Image grids: rows of same-sized images tiled into one PNG, with a label per row."""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from aeflow.viz.plots import save_figure  # noqa: E402


def tile(images: torch.Tensor, pad: int = 1, columns: int | None = None, fill: float = 1.0) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> one greyscale canvas (the channel mean for C > 1) in rows of `columns` images
    (default: one row), `pad` pixels of `fill` between them."""
    images = images.detach().float().clamp(0, 1).mean(1).cpu()
    n, h, w = images.shape
    columns = columns or n
    rows = math.ceil(n / columns)
    canvas = torch.full((rows * (h + pad) - pad, columns * (w + pad) - pad), fill)
    for i in range(n):
        r, c = divmod(i, columns)
        canvas[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = images[i]
    return canvas


def png_bytes(images: torch.Tensor, columns: int | None = None, size: int = 96) -> bytes:
    """The images tiled (`tile`) as a PNG in memory, ink black on white, each image scaled up by a whole factor
    to about `size` pixels (what the explorer sends)."""
    from PIL import Image

    canvas = 1 - tile(images, columns=columns, fill=0.0).numpy()   # white between the images
    h, w = images.shape[-2:]
    scale = max(1, size // max(h, w))
    picture = Image.fromarray((canvas * 255).astype(np.uint8)).resize(
        (canvas.shape[1] * scale, canvas.shape[0] * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


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
