"""Pictures: image grids and plots, written as PNG files."""

from pathlib import Path

from aeflow.figures import Curves, Figure, ImageGrid
from aeflow.viz.grids import png_bytes, save_image_grid
from aeflow.viz.plots import save_code_scatter, save_curve, save_curves, save_loss_curve


def save_figures(figures: dict[str, Figure], out_dir: str | Path) -> None:
    """Write each figure (an `ImageGrid` or `Curves`) to out_dir / its file name."""
    for name, figure in figures.items():
        path = Path(out_dir) / name
        if isinstance(figure, ImageGrid):
            save_image_grid(figure.rows, figure.labels, path, figure.title)
        elif isinstance(figure, Curves):
            save_curves(figure.series, path, figure.xlabel, figure.ylabel, figure.title, figure.log_x, figure.log_y,
                        figure.scatter, (figure.floor, figure.floor_label) if figure.floor is not None else None)
        else:
            raise TypeError(f"{name}: not a figure ({type(figure).__name__})")


__all__ = ["png_bytes", "save_code_scatter", "save_curve", "save_curves", "save_figures", "save_image_grid",
           "save_loss_curve"]
