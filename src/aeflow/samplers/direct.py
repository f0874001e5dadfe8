"""One network pass from noise to a sample (a GAN's generator, the one-step baseline)."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from aeflow.protocols import MapsNoise
from aeflow.samplers.base import Sampler, Step, register_sampler


@register_sampler
class Direct(Sampler):
    name, accepts = "direct", MapsNoise
    summary = "one network pass from noise to a sample"
    no_steps = "is one network pass from noise to a sample"

    @torch.no_grad()
    def iterate(self, model, x, options, generator=None) -> Iterator[Step]:
        x = model.map_noise(x)
        yield Step(0, 1.0, x, x, 1)
