"""The one-step baseline: a network trained with squared error to map pure noise straight to an image.

Noise and image are drawn independently, so the error is smallest when the network outputs E[x] for
every input: the samples converge to the blurry average image. This is the motivation for breaking
the leap into many small steps (DDPM) or following a path (flow matching).
"""

from __future__ import annotations

import torch

from aeflow.models.generator import NetworkConfig, NetworkGenerator
from aeflow.models.registry import register


@register("onestep")
class OneStep(NetworkGenerator):
    """The one-step baseline: noise mapped straight to an image by squared error (learns the mean)."""

    Config = NetworkConfig
    default_sampler = "direct"

    def map_noise(self, noise: torch.Tensor) -> torch.Tensor:
        return self.network(noise, torch.zeros(len(noise), device=noise.device))

    def loss(self, batch) -> dict[str, torch.Tensor]:
        data = self.to_model_space(batch["x"])
        mse = (self.map_noise(torch.randn_like(data)) - data).pow(2).flatten(1).sum(1).mean()
        return {"loss": mse, "mse": mse.detach()}
