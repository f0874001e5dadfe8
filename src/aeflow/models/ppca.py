"""Probabilistic PCA (Tipping & Bishop 1999): z ~ N(0, I), x | z ~ N(W z + mu, s^2 I), fitted in closed form.

A latent-variable model whose log-likelihood is known exactly, log p(x) = log N(x; mu, W W^T + s^2 I),
so every likelihood bound (ELBO, IWAE) can be checked against the truth. Its posterior is Gaussian too:
q(z | x) = N(M^-1 W^T (x - mu), s^2 M^-1) with M = W^T W + s^2 I; `proposal_std_scale` widens the
proposal used for importance sampling (1 = the exact posterior, where every bound is tight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from aeflow.config import require
from aeflow.models.base import FittedModel
from aeflow.models.registry import register


@dataclass
class PPCAConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    n_components: int = 10
    proposal_std_scale: float = 1.0

    def validate(self) -> None:
        d = math.prod(self.input_shape)
        require(1 <= self.n_components < d, f"n_components must be in 1..{d - 1}, got {self.n_components}")
        require(self.proposal_std_scale > 0, "proposal_std_scale must be > 0")


@register("ppca")
class PPCA(FittedModel):
    """Probabilistic PCA: a linear-Gaussian latent model with an exact log-likelihood."""

    Config = PPCAConfig

    def __init__(self, config: PPCAConfig) -> None:
        super().__init__(config)
        d, k = math.prod(config.input_shape), config.n_components
        self.register_buffer("mean", torch.zeros(d, dtype=torch.float64))
        self.register_buffer("weight", torch.zeros(d, k, dtype=torch.float64))
        self.register_buffer("noise_var", torch.ones((), dtype=torch.float64))

    def fit(self, x: torch.Tensor) -> FittedModel:
        data = self.flat(x).double()
        k = self.config.n_components
        self.mean.copy_(data.mean(0))
        cov = torch.cov((data - self.mean).T, correction=0)
        eigvals, eigvecs = torch.linalg.eigh(cov)
        eigvals, eigvecs = eigvals.flip(0), eigvecs.flip(1)
        noise = eigvals[k:].mean().clamp_min(1e-6)
        self.noise_var.copy_(noise)
        self.weight.copy_(eigvecs[:, :k] * (eigvals[:k] - noise).clamp_min(0).sqrt())
        return self

    def _posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (B, k) and Cholesky factor (k, k) of q(z | x)."""
        m = self.weight.T @ self.weight + self.noise_var * torch.eye(self.config.n_components, dtype=torch.float64)
        m_inv = torch.linalg.inv(m)
        mean = (self.flat(x).double() - self.mean) @ self.weight @ m_inv.T
        return mean, torch.linalg.cholesky(self.noise_var * m_inv)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._posterior(x)[0].to(x.dtype)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.unflat((z.double() @ self.weight.T + self.mean).float())

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images: the Gaussian's draws clamped into the pixel range [0, 1], as every sampler's are (the density,
        `log_likelihood`, is the unclamped Gaussian's over all of R^D)."""
        z = torch.randn(n, self.config.n_components, generator=generator, dtype=torch.float64)
        eps = torch.randn(n, self.mean.numel(), generator=generator, dtype=torch.float64)
        return self.unflat((z @ self.weight.T + self.mean + self.noise_var.sqrt() * eps).float()).clamp(0, 1)

    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) per example, in nats."""
        cov = self.weight @ self.weight.T + self.noise_var * torch.eye(self.mean.numel(), dtype=torch.float64)
        dist = torch.distributions.MultivariateNormal(self.mean, covariance_matrix=cov)
        return dist.log_prob(self.flat(x).double())

    def log_importance_weights(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None
                               ) -> torch.Tensor:
        """log p(x, z_i) - log q(z_i | x) for z_i ~ q(z | x), i = 1..k: shape (k, B)."""
        data = self.flat(x).double()
        mean, chol = self._posterior(x)
        chol = chol * self.config.proposal_std_scale
        q = torch.distributions.MultivariateNormal(mean, scale_tril=chol)
        eps = torch.randn(k, *mean.shape, generator=generator, dtype=torch.float64)
        z = mean + eps @ chol.T
        prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        recon = z @ self.weight.T + self.mean
        lik = torch.distributions.Normal(recon, self.noise_var.sqrt()).log_prob(data).sum(-1)
        return prior + lik - q.log_prob(z)
