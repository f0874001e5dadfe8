"""Samplers of a noise predictor on a DDPM schedule (`predict(x_t, t) -> (x0_hat, eps_hat)`, integer t).

    ddpm  ancestral sampling through all T steps with the posterior variance (Ho et al. 2020)
    ddim  any number of steps, eta = 0 deterministic, eta = 1 the ancestral noise level (Song et al. 2021)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from aeflow.config import require
from aeflow.diffusion.ddpm import ddim_timesteps
from aeflow.protocols import NoisePredictor
from aeflow.samplers.base import MAX_STEPS, Sampler, Step, register_sampler


def _noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator).to(like.device, like.dtype)


def _clip(x0: torch.Tensor, clip: float | None) -> torch.Tensor:
    return x0.clamp(-clip, clip) if clip else x0


@register_sampler
class Ancestral(Sampler):
    name, accepts = "ddpm", NoisePredictor
    summary = "ancestral DDPM: all T steps of the schedule, fresh noise at each (Ho et al. 2020)"
    no_steps = "runs every one of the model's T steps; for fewer, use --sampler ddim --steps N"

    @torch.no_grad()
    def iterate(self, model, x, options, generator=None) -> Iterator[Step]:
        schedule = model.schedule
        for i, step in enumerate(reversed(range(schedule.steps))):
            t = torch.full((len(x),), step, dtype=torch.long, device=x.device)
            x0, _ = model.predict(x, t)
            x0 = _clip(x0, model.clip)
            mean, variance = schedule.posterior(x0, x, t)
            x = mean + variance.sqrt() * _noise(x, generator) if step > 0 else mean
            yield Step(i, step - 1, x, x0, i + 1)


@dataclass
class DDIMOptions:
    steps: int = 50
    eta: float = 0.0   # 0: deterministic; 1: the ancestral noise level

    def validate(self) -> None:
        require(1 <= self.steps <= MAX_STEPS, f"steps must be in 1..{MAX_STEPS:,}, got {self.steps}")
        require(0 <= self.eta <= 1, f"eta must be in [0, 1], got {self.eta}")


@register_sampler
class DDIM(Sampler):
    name, accepts, Options = "ddim", NoisePredictor, DDIMOptions
    summary = "DDIM: any number of steps (trailing spacing), eta 0 deterministic (Song et al. 2021)"

    @classmethod
    def check_fits(cls, options, model) -> None:
        steps = model.schedule.steps
        require(options.steps <= steps, f"ddim steps {options.steps}: the model's schedule has T = {steps} steps, "
                f"and DDIM visits a subset of them; give --steps {steps} or fewer")

    @torch.no_grad()
    def iterate(self, model, x, options, generator=None) -> Iterator[Step]:
        schedule, clip = model.schedule, model.clip
        timesteps = ddim_timesteps(schedule.steps, options.steps)
        alpha_bar = schedule.alpha_bar.to(x.device)
        for i, step in enumerate(timesteps):
            t = torch.full((len(x),), step, dtype=torch.long, device=x.device)
            x0, eps = model.predict(x, t)
            if clip:  # keep epsilon consistent with the clipped x0
                x0 = _clip(x0, clip)
                eps = (x - alpha_bar[step].sqrt() * x0) / (1 - alpha_bar[step]).sqrt()
            ab = alpha_bar[step]
            ab_prev = alpha_bar[timesteps[i + 1]] if i + 1 < len(timesteps) else torch.ones((), device=x.device)
            sigma = options.eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt()
            x = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma ** 2).clamp(min=0).sqrt() * eps
            if options.eta > 0 and i + 1 < len(timesteps):
                x = x + sigma * _noise(x, generator)
            yield Step(i, timesteps[i + 1] if i + 1 < len(timesteps) else -1, x, x0, i + 1)
