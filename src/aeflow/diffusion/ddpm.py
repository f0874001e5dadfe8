"""The DDPM noise process (Ho et al. 2020): beta schedules, q(x_t | x_0), the posterior q(x_{t-1} | x_t, x_0),
and converters between the three things a network may predict (epsilon, x_0, v; Salimans & Ho 2022).

Timesteps are integers 0..T-1 (as in diffusers); t = 0 is the least noisy. alpha_bar[t] is the product of
(1 - beta) up to and including t, so x_t = sqrt(alpha_bar[t]) x_0 + sqrt(1 - alpha_bar[t]) eps.
"""

from __future__ import annotations

import math

import torch

from aeflow.config import choice


def beta_schedule(kind: str, steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """linear (Ho et al.) or cosine (Nichol & Dhariwal 2021, s = 0.008, betas clipped at 0.999), float64."""
    choice("schedule", kind, ["linear", "cosine"])
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)
    s = 0.008
    f = torch.cos((torch.arange(steps + 1, dtype=torch.float64) / steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)


class DDPMSchedule:
    """`kind` names the betas (linear, cosine); `betas` given (a schedule another library made) are used as they
    are, `kind` then only names them."""

    def __init__(self, kind: str = "linear", steps: int = 1000, betas: torch.Tensor | None = None) -> None:
        betas = beta_schedule(kind, steps) if betas is None else betas.to(torch.float64)
        self.kind, self.steps = kind, len(betas)
        alpha_bar = torch.cumprod(1 - betas, 0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        self.betas = betas.float()
        self.alpha_bar = alpha_bar.float()
        self.alpha_bar_prev = alpha_bar_prev.float()
        self.posterior_variance = (betas * (1 - alpha_bar_prev) / (1 - alpha_bar)).float()
        self.posterior_coef_x0 = (alpha_bar_prev.sqrt() * betas / (1 - alpha_bar)).float()
        self.posterior_coef_xt = ((1 - betas).sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar)).float()

    def _at(self, values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """values[t], shaped to broadcast against `like` (one value per example)."""
        return values.to(like.device)[t].reshape(-1, *([1] * (like.ndim - 1)))

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """A draw from q(x_t | x_0) given the noise."""
        ab = self._at(self.alpha_bar, t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of q(x_{t-1} | x_t, x_0)."""
        mean = self._at(self.posterior_coef_x0, t, xt) * x0 + self._at(self.posterior_coef_xt, t, xt) * xt
        return mean, self._at(self.posterior_variance, t, xt)

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        ab = self.alpha_bar.to(t.device)[t]
        return ab / (1 - ab)

    # -- converters between predictions -----------------------------------------------------------
    def to_x0_eps(self, prediction: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, kind: str
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_0, epsilon) implied by a network's `kind` prediction (epsilon | x0 | v) at x_t."""
        a, s = self._at(self.alpha_bar, t, xt).sqrt(), (1 - self._at(self.alpha_bar, t, xt)).sqrt()
        if kind == "epsilon":
            return (xt - s * prediction) / a, prediction
        if kind == "x0":
            return prediction, (xt - a * prediction) / s
        if kind == "v":
            return a * xt - s * prediction, s * xt + a * prediction
        raise ValueError(f"prediction must be epsilon, x0 or v; got {kind!r}")

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, kind: str) -> torch.Tensor:
        """What a `kind`-predicting network is trained to output at x_t = add_noise(x0, t, noise)."""
        if kind == "epsilon":
            return noise
        if kind == "x0":
            return x0
        a, s = self._at(self.alpha_bar, t, x0).sqrt(), (1 - self._at(self.alpha_bar, t, x0)).sqrt()
        return a * noise - s * x0

    def min_snr_weight(self, t: torch.Tensor, kind: str, gamma: float = 5.0) -> torch.Tensor:
        """Hang et al. (2023): the x0-loss weight min(SNR, gamma), expressed for the `kind` target's MSE."""
        snr = self.snr(t)
        clipped = snr.clamp(max=gamma)
        if kind == "epsilon":
            return clipped / snr
        if kind == "x0":
            return clipped
        return clipped / (snr + 1)


def ddim_timesteps(total: int, steps: int) -> list[int]:
    """`steps` timesteps from T-1 down, evenly spaced ("trailing" spacing: the first is always T-1)."""
    return sorted({int(round(total - i * total / steps)) - 1 for i in range(steps)}, reverse=True)
