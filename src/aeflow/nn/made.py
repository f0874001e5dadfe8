"""A masked autoencoder for distribution estimation (MADE, Germain et al. 2015) conditioned on a code: the logits
of p(x_i | x_<i, z) for every pixel i in one pass, the masks keeping each output blind to its own pixel and the
ones after it. As a VAE's decoder it can model the images without z, the set-up in which posterior collapse is
an accident of optimisation (Bowman et al. 2016) rather than the objective's optimum."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from aeflow.nn.mlp import ACTIVATIONS


class MaskedLinear(nn.Linear):
    def __init__(self, n_in: int, n_out: int, mask: torch.Tensor) -> None:
        super().__init__(n_in, n_out)
        self.register_buffer("mask", mask.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class ConditionalMADE(nn.Module):
    """Pixels in a fixed order (raster); hidden units get degrees 1..D-1 in turn; z enters every layer unmasked."""

    def __init__(self, d: int, hidden: Sequence[int], cond_dim: int, activation: str = "silu") -> None:
        super().__init__()
        degrees = [torch.arange(1, d + 1)] + [torch.arange(h) % max(1, d - 1) + 1 for h in hidden]
        self.layers = nn.ModuleList(MaskedLinear(len(a), len(b), b[:, None] >= a[None, :])
                                    for a, b in zip(degrees[:-1], degrees[1:]))
        self.out = MaskedLinear(len(degrees[-1]), d, torch.arange(1, d + 1)[:, None] > degrees[-1][None, :])
        self.cond = nn.ModuleList(nn.Linear(cond_dim, n) for n in (*hidden, d))
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = x
        for layer, cond in zip(self.layers, self.cond):
            h = self.act(layer(h) + cond(z))
        return self.out(h) + self.cond[-1](z)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Pixel by pixel: sampled (Bernoulli) with a generator; without one each pixel is its probability, fed to
        the next (a deterministic picture of what the decoder expects, not a sample)."""
        x = torch.zeros(len(z), self.out.out_features, device=z.device)
        for i in range(x.shape[1]):
            p = torch.sigmoid(self(x, z)[:, i])
            x[:, i] = p if generator is None else torch.bernoulli(p.cpu(), generator=generator).to(p.device)
        return x
