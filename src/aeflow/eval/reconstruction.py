"""Reconstruction error as the tables report it: squared error summed over pixels (values in [0, 1]),
averaged over the images of a split (Hinton & Salakhutdinov 2006)."""

from __future__ import annotations

import torch


def reconstruction_error(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 2000,
                         target: torch.Tensor | None = None) -> float:
    """Against `x` itself, or against `target` (the clean images when `x` is corrupted: restoration error)."""
    target = x if target is None else target
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            x_hat = model.reconstruct(x[i:i + batch_size]).float()
            total += float((x_hat - target[i:i + batch_size]).pow(2).flatten(1).sum(1).sum())
    model.train(was_training)
    return total / len(x)
