"""The torch twin of a hand-written model: the same layers as torch modules, the same starting weights, the
loss written as a forward pass only, gradients by autograd, and torch.optim.SGD with momentum."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from aeflow.byhand.numpy_models import VAE, Autoencoder


def torch_twin_train(model: Autoencoder, x: np.ndarray, order: list[np.ndarray], lr: float, momentum: float,
                     noise: list[np.ndarray] | None = None) -> list[float]:
    """Train a float64 torch copy of `model` (not `model` itself) on the same batches; the loss of every step."""
    params = {k: torch.tensor(v, requires_grad=True) for k, v in model.params().items()}
    optimizer = torch.optim.SGD(params.values(), lr=lr, momentum=momentum)
    data = torch.from_numpy(x)
    losses = []
    for step, rows in enumerate(order):
        eps = None if noise is None else torch.from_numpy(noise[step])
        loss = twin_loss(params, data[torch.from_numpy(rows)], eps, isinstance(model, VAE))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def twin_loss(params: dict[str, torch.Tensor], x: torch.Tensor, eps: torch.Tensor | None, variational: bool
              ) -> torch.Tensor:
    """The forward pass of the twin: the batch-mean loss, autograd-differentiable."""
    def layer(name: str, h: torch.Tensor) -> torch.Tensor:
        return h @ params[f"{name}.w"] + params[f"{name}.b"]

    code = layer("enc2", torch.tanh(layer("enc1", x)))
    kl = torch.zeros(len(x), dtype=x.dtype)
    if variational:
        mu, logvar = code.chunk(2, dim=1)
        code = mu + torch.exp(0.5 * logvar) * eps
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)
    logits = layer("dec2", torch.tanh(layer("dec1", code)))
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    return (bce + kl).mean()
