"""Corruptions of images and codes, as pure functions: the noise a denoising autoencoder is trained against,
the patches a masked autoencoder hides, the prefix of an ordered code; and PSNR to measure a restoration.
The families train with them and the explorer and the lineage use the same ones."""

from __future__ import annotations

import torch


def corrupt(x: torch.Tensor, kind: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    if kind == "gaussian":
        return (x + level * torch.randn(x.shape, generator=generator).to(x.device)).clamp(0, 1)
    hit = torch.rand(x.shape, generator=generator).to(x.device) < level
    if kind == "masking":
        return x.masked_fill(hit, 0.0)
    salt = torch.rand(x.shape, generator=generator).to(x.device) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1], averaged over images."""
    mse = (x_hat - x).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1 / mse)).mean())


def random_mask(batch: int, patches: int, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Boolean (batch, patches), True = hidden: exactly round(ratio * patches) hidden per image."""
    hidden = round(ratio * patches)
    order = torch.rand(batch, patches, generator=generator).argsort(1)
    return order < hidden  # ranks of a random permutation: the `hidden` smallest are masked


def keep_prefix(z: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """Zero every code unit after the first k (k per example or one for all)."""
    index = torch.arange(z.shape[1], device=z.device)
    k = torch.as_tensor(k, device=z.device).reshape(-1, 1)
    return z * (index[None] < k)
