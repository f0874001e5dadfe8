"""Closed forms shared by models and metrics."""

from __future__ import annotations

import torch


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension, in closed form."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)
