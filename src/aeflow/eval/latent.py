"""Looking inside a code space: interpolations, perturbations, truncations and posterior-collapse checks."""

from __future__ import annotations

import math

import torch

from aeflow.nn.distributions import gaussian_kl
from aeflow.protocols import HasPosterior


def plane_grid(codes: torch.Tensor, size: int, quantile: float = 0.02) -> torch.Tensor:
    """A size x size grid of 2-D codes over the codes' [quantile, 1 - quantile] range per axis, row by row from
    the top (largest second coordinate) as an image of the plane reads: (size * size, 2)."""
    lo, hi = codes.quantile(quantile, 0), codes.quantile(1 - quantile, 0)
    g0, g1 = torch.linspace(float(lo[0]), float(hi[0]), size), torch.linspace(float(lo[1]), float(hi[1]), size)
    return torch.stack(torch.meshgrid(g1.flip(0), g0, indexing="ij"), -1).reshape(-1, 2)[:, [1, 0]]


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
    if isinstance(model, HasPosterior):
        kl = gaussian_kl(*model.posterior(x)).mean(0)
        result["kl_per_dim"] = [round(float(v), 5) for v in kl]
        result["kl_total"] = float(kl.sum())
    result["collapsed"] = result["active_units"] == 0 or result.get("kl_total", 1.0) < 0.1
    return result


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


@torch.no_grad()
def elbo_surgery(model, x: torch.Tensor, samples: int = 1, seed: int = 0, chunk: int = 500) -> dict[str, float]:
    """Hoffman & Johnson (2016)'s "ELBO surgery": the average KL(q(z|x) || p(z)) over the images in x is the
    mutual information I(X; Z) under q plus KL(q(z) || p(z)), the distance of the aggregate posterior
    q(z) = (1/N) sum_n q(z | x_n) from the prior. I is estimated as E_n E_{z ~ q(z|x_n)}[log q(z|x_n) - log q(z)]
    with q(z) the mixture over the same N images (so I <= log N), the marginal KL as the difference."""
    mu, logvar = model.posterior(x)
    mu, logvar = mu.double(), logvar.double()
    n, d = mu.shape
    generator = torch.Generator().manual_seed(seed)
    z = mu.repeat(samples, 1) + (0.5 * logvar).exp().repeat(samples, 1) * torch.randn(
        samples * n, d, generator=generator, dtype=torch.float64)
    own = torch.arange(samples * n) % n
    log_conditional, log_marginal = [], []
    for i in range(0, len(z), chunk):
        zc = z[i:i + chunk]
        # log N(z_i; mu_j, diag(var_j)) for every image j: (chunk, N)
        log_q = -0.5 * (((zc[:, None] - mu[None]) ** 2 / logvar.exp()[None]) + logvar[None]
                        + math.log(2 * math.pi)).sum(-1)
        log_conditional.append(log_q[torch.arange(len(zc)), own[i:i + chunk]])
        log_marginal.append(torch.logsumexp(log_q, 1) - math.log(n))
    mutual_information = float((torch.cat(log_conditional) - torch.cat(log_marginal)).mean())
    average_kl = float(gaussian_kl(mu, logvar).sum(1).mean())
    return {"average_kl": average_kl, "mutual_information": mutual_information,
            "marginal_kl": average_kl - mutual_information, "log_n": math.log(n), "n": n}
