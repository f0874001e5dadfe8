"""Looking inside a code space: interpolations, perturbations, truncations and posterior-collapse checks."""

from __future__ import annotations

from pathlib import Path

import torch

from aeflow.nn.distributions import gaussian_kl


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str = "linear") -> torch.Tensor:
    """`steps` codes from z0 to z1 (both included): straight line, or great circle (slerp, Shoemake 1985)
    with the norm interpolated linearly, which keeps Gaussian codes at typical norms."""
    t = torch.linspace(0, 1, steps, dtype=z0.dtype)[:, None]
    if mode == "linear":
        return (1 - t) * z0 + t * z1
    if mode != "spherical":
        raise ValueError(f"mode must be linear or spherical, got {mode!r}")
    n0, n1 = z0.norm(), z1.norm()
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.arccos((u0 @ u1).clamp(-1 + 1e-7, 1 - 1e-7))
    direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)
    return direction * ((1 - t) * n0 + t * n1)


@torch.no_grad()
def noise_sweep(model, x: torch.Tensor, scales: list[float], seed: int = 0) -> list[dict[str, float]]:
    """Reconstruction error when s * N(0, I) noise is added to the codes, for each s."""
    z = model.encode(x)
    rows = []
    for s in scales:
        noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(seed)) * s
        x_hat = model.decode(z + noise)
        rows.append({"scale": s, "error": float((x_hat - x).pow(2).flatten(1).sum(1).mean())})
    return rows


@torch.no_grad()
def truncation_sweep(model, x: torch.Tensor) -> list[dict[str, float]]:
    """Reconstruction error with the last k code dimensions set to zero, k = 0..d."""
    z = model.encode(x)
    rows = []
    for k in range(z.shape[1] + 1):
        z_k = z.clone()
        if k:
            z_k[:, -k:] = 0
        rows.append({"zeroed": k, "error": float((model.decode(z_k) - x).pow(2).flatten(1).sum(1).mean())})
    return rows


@torch.no_grad()
def active_units(model, x: torch.Tensor, threshold: float = 0.01) -> dict:
    """Burda et al. (2016): a latent dimension is active when Var_x E[z | x] > threshold. With the KL per
    dimension (for models with a Gaussian posterior), a posterior-collapse detector."""
    model.eval()
    means = model.encode(x)
    variance = means.var(0)
    result = {"active_units": int((variance > threshold).sum()), "latent_dim": int(means.shape[1]),
              "variance_per_dim": [round(float(v), 5) for v in variance]}
    if hasattr(model, "posterior"):
        kl = gaussian_kl(*model.posterior(x)).mean(0)
        result["kl_per_dim"] = [round(float(v), 5) for v in kl]
        result["kl_total"] = float(kl.sum())
    result["collapsed"] = result["active_units"] == 0 or result.get("kl_total", 1.0) < 0.1
    return result


@torch.no_grad()
def code_sensitivity(model, x: torch.Tensor, scale: float = 0.01, seed: int = 0) -> dict[str, float]:
    """How far codes move under small input perturbations: mean ||f(x + d) - f(x)|| / ||d|| with
    d ~ scale * N(0, I); also divided by the codes' standard deviation, so that a model cannot look
    insensitive by merely shrinking its codes."""
    was_training = model.training
    model.eval()
    delta = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)) * scale
    z = model.encode(x)
    ratio = (model.encode(x + delta) - z).norm(dim=1) / delta.flatten(1).norm(dim=1)
    model.train(was_training)
    return {"code_sensitivity": float(ratio.mean()), "code_sensitivity_per_code_std": float(ratio.mean() / z.std()),
            "perturbation_scale": scale}


@torch.no_grad()
def traversal(model, z: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
    """Decode each code in `z` with dimension `dim` set to each of `values`: (len(z), len(values), C, H, W)."""
    codes = z[:, None, :].repeat(1, len(values), 1)
    codes[:, :, dim] = values
    return model.decode(codes.reshape(-1, z.shape[1])).reshape(len(z), len(values), *model.input_shape)


@torch.no_grad()
def posterior_and_prior_samples(model, x: torch.Tensor, n_posterior: int, seed: int = 0
                                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoded z ~ q(z | x) for each x ((len(x), n_posterior, ...)) and as many decoded z ~ N(0, I)."""
    g = torch.Generator().manual_seed(seed)
    mu, logvar = model.posterior(x)
    z = mu[:, None] + (0.5 * logvar).exp()[:, None] * torch.randn(len(x), n_posterior, mu.shape[1], generator=g)
    posterior = model.decode(z.reshape(-1, mu.shape[1])).reshape(len(x), n_posterior, *model.input_shape)
    prior = model.decode(torch.randn(len(x) * n_posterior, mu.shape[1], generator=g))
    return posterior, prior.reshape(len(x), n_posterior, *model.input_shape)


def latent_experiments(model, data, out_dir: Path, with_fd: bool = True, n_prior: int | None = None,
                       seed: int = 0) -> dict:
    """Every experiment above on the test split: numbers into a dict, pictures into `out_dir`."""
    from aeflow.eval.samples import score_samples
    from aeflow.sampling import sample_images
    from aeflow.viz import save_code_scatter, save_curve, save_image_grid

    out_dir.mkdir(parents=True, exist_ok=True)
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
        prior_samples = sample_images(model, n_prior or len(x), "normal", seed=seed)
        rows = [prior_samples[i:i + 16] for i in range(0, 64, 16)]
        save_image_grid(rows, [""] * len(rows), out_dir / "normal_codes_decoded.png",
                        title="decoded N(0, I) codes")
        if with_fd:
            results["normal_prior_samples"] = score_samples(prior_samples, data, progress=False)
        pair = codes[:2]
        for mode in ("linear", "spherical"):
            path = interpolate(pair[0], pair[1], 10, mode)
            with torch.no_grad():
                images = model.decode(path)
            save_image_grid([images], [mode], out_dir / f"interpolation_{mode}.png",
                            title=f"{mode} interpolation between two test images' codes")
        _traversal_grids(model, codes, results["variance_per_dim"], out_dir)
        if hasattr(model, "posterior"):
            posterior, prior = posterior_and_prior_samples(model, x[:6], 10, seed)
            rows = [torch.cat([x[i:i + 1], posterior[i]]) for i in range(6)] + list(prior[:3])
            save_image_grid(rows, [f"x{i}, q(z|x)" for i in range(6)] + ["N(0, I)"] * 3,
                            out_dir / "posterior_vs_prior.png",
                            title="a test image then decoded posterior samples; below, decoded prior samples")
    if codes.shape[1] == 2 and data.test_y is not None:
        save_code_scatter(codes.numpy(), data.test_y.numpy(), out_dir / "codes_2d.png", "test codes")
        if data.is_image:
            lo, hi = codes.min(0).values, codes.max(0).values
            g0, g1 = torch.linspace(float(lo[0]), float(hi[0]), 12), torch.linspace(float(lo[1]), float(hi[1]), 12)
            grid = torch.stack(torch.meshgrid(g1.flip(0), g0, indexing="ij"), -1).reshape(-1, 2)[:, [1, 0]]
            with torch.no_grad():
                images = model.decode(grid)
            save_image_grid([images[i:i + 12] for i in range(0, 144, 12)], [""] * 12, out_dir / "decoded_plane.png",
                            title="decoded grid over the code plane")
    return results


def _traversal_grids(model, codes: torch.Tensor, variance_per_dim: list[float], out_dir: Path,
                     max_dims: int = 8, steps: int = 11) -> None:
    """One grid per dimension (the most active first): four test codes, that dimension swept over
    +-3 standard deviations of the test codes, the others held."""
    from aeflow.viz import save_image_grid

    std = codes.std(0)
    order = sorted(range(codes.shape[1]), key=lambda d: -variance_per_dim[d])[:max_dims]
    for rank, dim in enumerate(order):
        values = codes[:, dim].mean() + torch.linspace(-3, 3, steps) * std[dim]
        images = traversal(model, codes[:4], dim, values)
        save_image_grid(list(images), [f"test {i}" for i in range(4)], out_dir / f"traversal_{rank:02d}_dim{dim}.png",
                        title=f"dimension {dim} (activity rank {rank}) from -3 to +3 std, other dimensions held")
