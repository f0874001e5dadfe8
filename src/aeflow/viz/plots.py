"""Plots of a run's metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from aeflow.files import atomic_write  # noqa: E402

PLAIN = FuncFormatter(lambda value, _: f"{value:g}")
# Minor ticks of a log axis labelled at 2 and 5 times a power of ten only: the others would overlap.
SPARSE = FuncFormatter(lambda value, _: f"{value:g}" if f"{value:e}"[0] in "25" else "")


def save_loss_curve(metrics: list[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Train and test loss per epoch (log scale), and every other test term on a second panel."""
    epochs = [m["epoch"] for m in metrics]
    others = sorted({k for m in metrics for k in m if k.startswith("test/") and k != "test/loss"})
    fig, axes = plt.subplots(1, 1 + bool(others), figsize=(5 + 4 * bool(others), 3.6), squeeze=False)
    ax = axes[0, 0]
    for key in ("train/loss", "test/loss"):
        ax.plot(epochs, [m.get(key, float("nan")) for m in metrics], marker=".", label=key)
    _log_y(ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (per example)")
    ax.legend()
    ax.grid(alpha=0.3)
    if others:
        ax2 = axes[0, 1]
        for key in others:
            ax2.plot(epochs, [m.get(key, float("nan")) for m in metrics], marker=".", label=key)
        _log_y(ax2)
        ax2.set_xlabel("epoch")
        ax2.legend()
        ax2.grid(alpha=0.3)
    save_figure(fig, path, title)


def _log_y(ax) -> None:
    _log_axis(ax.yaxis, ax.set_yscale)


def _log_axis(axis, set_scale) -> None:
    """A log axis with plain numbers ("20", not "2 x 10^1"): easier to read, and no mathtext to typeset for every
    tick (which made a run's loss curve most of a small run's time)."""
    set_scale("log")
    axis.set_major_formatter(PLAIN)
    axis.set_minor_formatter(SPARSE)


MARKERS = "osD^vP*Xh"   # 9 markers against 10 colours: 90 distinct pairs


def save_curve(xs: list[float], ys: list[float], path: str | Path, xlabel: str, ylabel: str, title: str = "",
               log_y: bool = False) -> None:
    save_curves({"": (xs, ys)}, path, xlabel, ylabel, title, log_y=log_y)


def save_curves(series: dict[str, tuple[list[float], list[float]]], path: str | Path, xlabel: str, ylabel: str,
                title: str = "", log_x: bool = False, log_y: bool = False, scatter: bool = False,
                floor: tuple[float, str] | None = None) -> None:
    """One line per named series (a legend when there is more than one); `scatter`: points only; `floor`: a
    (level, label) drawn as a dashed line across the plot."""
    many = len(series) > 6   # the legend goes beside the axes, off the data
    fig, ax = plt.subplots(figsize=(5.5 + 2.5 * many, 5 if scatter else 3.8))
    for i, (label, (xs, ys)) in enumerate(series.items()):
        colour = f"C{i % 10}"   # with a marker of its own: no two series look alike
        if scatter:
            ax.plot(xs, ys, ".", markersize=3, alpha=0.7, color=colour, label=label or None)
        else:
            ax.plot(xs, ys, marker=MARKERS[i % len(MARKERS)], color=colour, label=label or None)
    if floor is not None:
        ax.axhline(floor[0], linestyle="--", color="0.45", linewidth=1, label=floor[1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    for log, axis, set_scale in ((log_x, ax.xaxis, ax.set_xscale), (log_y, ax.yaxis, ax.set_yscale)):
        if log:
            _log_axis(axis, set_scale)
    if many:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    elif len(series) > 1 or floor is not None:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path, title)


def save_code_scatter(codes, labels, path: str | Path, title: str = "", cmap: str = "tab10",
                      colour_label: str = "label") -> None:
    """2-D codes coloured by label (the 'islands vs blobs' picture), or by a continuous value."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap=cmap, s=3, alpha=0.7)
    fig.colorbar(points, ax=ax, label=colour_label)
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    save_figure(fig, path, title)


def save_figure(fig, path: str | Path, title: str = "", title_band: float = 0.0) -> None:
    """Title, tight layout, PNG at 100 dpi, and the figure closed (pyplot keeps figures alive otherwise)."""
    if title:
        fig.suptitle(title, fontsize=10)
    # title_band (inches) keeps the title off a tall grid of aspect-locked images, which tight_layout lets
    # reach the top edge under it
    fig.tight_layout(rect=(0, 0, 1, 1 - title_band / fig.get_figheight()) if title else (0, 0, 1, 1))
    try:   # bbox "tight" keeps long row labels inside the picture; atomic: a kill leaves the old PNG whole
        atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    finally:
        plt.close(fig)
