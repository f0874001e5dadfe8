"""Reconstruction error as the tables report it: squared error summed over pixels (values in [0, 1]),
averaged over the images of a split (Hinton & Salakhutdinov 2006)."""

from __future__ import annotations

import torch


def reconstruction_error(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 2000) -> float:
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            batch = x[i:i + batch_size]
            x_hat = model.reconstruct(batch).float()
            total += float((x_hat - batch).pow(2).flatten(1).sum(1).sum())
    model.train(was_training)
    return total / len(x)
