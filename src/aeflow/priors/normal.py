"""N(0, temperature^2 I) over the codes: the prior a VAE is trained towards, and the "random codes" an
autoencoder was never trained on."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aeflow.priors.base import CodePrior, register_prior


@dataclass
class NormalConfig:
    code_dim: int = 0   # read off the encoder by `fit`


@register_prior
class NormalPrior(CodePrior):
    name = "normal"
    Config = NormalConfig

    def fit(self, model, train_x: torch.Tensor) -> NormalPrior:
        self.check(model)
        with torch.no_grad():
            self.config.code_dim = int(model.encode(torch.zeros(2, *model.input_shape)).flatten(1).shape[1])
        return self

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        return torch.randn(n, self.config.code_dim, generator=generator) * temperature
