"""Pictures: image grids and plots, written as PNG files."""

from aeflow.viz.grids import save_image_grid
from aeflow.viz.plots import save_code_scatter, save_curve, save_curves, save_loss_curve

__all__ = ["save_code_scatter", "save_curve", "save_curves", "save_image_grid", "save_loss_curve"]
