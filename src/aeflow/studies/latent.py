"""Looking inside a trained encoder's code space, as pictures and numbers: noise and truncation sweeps,
N(0, I) codes decoded (with their FD), interpolations, traversals, active units, and for a 2-D code the
code plane and its decoded grid (`aeflow latent`)."""

from __future__ import annotations

from pathlib import Path

import torch

from aeflow.eval.latent import (
    active_units,
    interpolate,
    noise_sweep,
    plane_grid,
    posterior_and_prior_samples,
    traversal,
    truncation_sweep,
)
from aeflow.models.contractive import code_sensitivity
from aeflow.priors import NormalPrior, decoded_samples
from aeflow.protocols import HasPosterior
from aeflow.runs import score
from aeflow.viz import save_code_scatter, save_curve, save_image_grid


def latent_experiments(model, data, out_dir: Path, with_fd: bool = True, n_prior: int | None = None,
                       seed: int = 0) -> dict:
    """Every experiment above on the test split: numbers into a dict, pictures into `out_dir`."""
    model.eval()
    x = data.test_x
    with torch.no_grad():
        codes = model.encode(x)
    scale = float(codes.std())
    scales = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0]
    noise = noise_sweep(model, x, [s * scale for s in scales], seed)
    save_curve(scales, [r["error"] for r in noise], out_dir / "noise_sweep.png", "noise s (x code std)",
               "test reconstruction error", "codes + s * std * N(0, I)")
    trunc = truncation_sweep(model, x)
    save_curve([r["zeroed"] for r in trunc], [r["error"] for r in trunc], out_dir / "truncation.png",
               "last k code dimensions set to 0", "test reconstruction error")
    results = {"code_std": scale, "noise_sweep": noise, "truncation": trunc, **active_units(model, x),
               **code_sensitivity(model, x)}
    if data.is_image:
        prior = NormalPrior().fit(model, x)
        prior_samples = decoded_samples(model, prior, n_prior or len(x), torch.Generator().manual_seed(seed))
        rows = [prior_samples[i:i + 16] for i in range(0, 64, 16)]
        save_image_grid(rows, [""] * len(rows), out_dir / "normal_codes_decoded.png",
                        title="decoded N(0, I) codes")
        if with_fd:
            results["normal_prior_samples"] = score(prior_samples, data, progress=False)
        pair = codes[:2]
        for mode in ("linear", "spherical"):
            path = interpolate(pair[0], pair[1], 10, mode)
            with torch.no_grad():
                images = model.decode(path)
            save_image_grid([images], [mode], out_dir / f"interpolation_{mode}.png",
                            title=f"{mode} interpolation between two test images' codes")
        _traversal_grids(model, codes, results["variance_per_dim"], out_dir)
        if isinstance(model, HasPosterior):
            posterior, prior = posterior_and_prior_samples(model, x[:6], 10, seed)
            rows = [torch.cat([x[i:i + 1], posterior[i]]) for i in range(6)] + list(prior[:3])
            save_image_grid(rows, [f"x{i}, q(z|x)" for i in range(6)] + ["N(0, I)"] * 3,
                            out_dir / "posterior_vs_prior.png",
                            title="a test image then decoded posterior samples; below, decoded prior samples")
    if codes.shape[1] == 2 and data.test_y is not None:
        save_code_scatter(codes.numpy(), data.test_y.numpy(), out_dir / "codes_2d.png", "test codes")
        if data.is_image:
            grid = plane_grid(codes, 12, quantile=0.0)   # the whole range of the test codes
            with torch.no_grad():
                images = model.decode(grid)
            save_image_grid([images[i:i + 12] for i in range(0, 144, 12)], [""] * 12, out_dir / "decoded_plane.png",
                            title="decoded grid over the code plane")
    return results


def _traversal_grids(model, codes: torch.Tensor, variance_per_dim: list[float], out_dir: Path,
                     max_dims: int = 8, steps: int = 11) -> None:
    """One grid per dimension (the most active first): four test codes, that dimension swept over
    +-3 standard deviations of the test codes, the others held."""
    std = codes.std(0)
    order = sorted(range(codes.shape[1]), key=lambda d: -variance_per_dim[d])[:max_dims]
    for rank, dim in enumerate(order):
        values = codes[:, dim].mean() + torch.linspace(-3, 3, steps) * std[dim]
        images = traversal(model, codes[:4], dim, values)
        save_image_grid(list(images), [f"test {i}" for i in range(4)], out_dir / f"traversal_{rank:02d}_dim{dim}.png",
                        title=f"dimension {dim} (activity rank {rank}) from -3 to +3 std, other dimensions held")
