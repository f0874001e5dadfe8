"""Denoising diffusion (Ho et al. 2020): a time-conditioned network trained to undo q(x_t | x_0) at a random
step, predicting epsilon, x_0 or v; sampled by ancestral DDPM (all T steps) or DDIM (any number).

The loss is the squared error of the prediction, summed over pixels, averaged over the batch; with
`min_snr_gamma` > 0 each example is weighted by min(SNR, gamma) in x_0 terms (Hang et al. 2023).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from aeflow.config import choice, require
from aeflow.diffusion.ddpm import DDPMSchedule
from aeflow.models.generator import NetworkConfig, NetworkGenerator
from aeflow.models.registry import register


@dataclass
class DDPMConfig(NetworkConfig):
    schedule: str = "linear"       # linear | cosine
    timesteps: int = 1000
    prediction: str = "epsilon"    # epsilon | x0 | v
    min_snr_gamma: float = 0.0     # 0 = plain MSE
    clip_sample: bool = True       # clip predicted x_0 to [-1, 1] while sampling (pixel space only)

    def validate(self) -> None:
        super().validate()
        choice("schedule", self.schedule, ["linear", "cosine"])
        choice("prediction", self.prediction, ["epsilon", "x0", "v"])
        require(self.timesteps >= 2, f"timesteps must be >= 2, got {self.timesteps}")
        require(self.min_snr_gamma >= 0, "min_snr_gamma must be >= 0")
        if self.schedule == "linear" and self.timesteps <= 10_000:
            last = terminal_alpha_bar(self.timesteps)
            require(last <= MAX_TERMINAL_ALPHA_BAR,
                    f"schedule linear with timesteps={self.timesteps} ends at alpha-bar {last:.3g}: sampling would "
                    "start from pure noise the model never saw (the linear betas 1e-4..0.02 are Ho et al.'s for "
                    "T = 1000); "
                    f"use -m schedule=cosine (any T), or timesteps >= {_fewest_linear_steps()}")


# The most signal the last timestep may keep: sqrt(0.01) = 10% of x_0 beside the noise, where sampling starts
# from pure N(0, I). Ho et al.'s T = 1000 ends at 4e-5; the cosine schedule ends below 1e-8 at any T.
MAX_TERMINAL_ALPHA_BAR = 0.01


def terminal_alpha_bar(steps: int) -> float:
    """alpha-bar at the last timestep of the linear schedule (float64 math, no tensor needed)."""
    betas = (1e-4 + (0.02 - 1e-4) * i / (steps - 1) for i in range(steps))
    return math.exp(sum(math.log1p(-b) for b in betas))


def _fewest_linear_steps() -> int:
    return next(t for t in range(2, 10_001) if terminal_alpha_bar(t) <= MAX_TERMINAL_ALPHA_BAR)


@register("ddpm")
class DDPM(NetworkGenerator):
    """Denoising diffusion: epsilon / x0 / v prediction; a noise predictor for ancestral DDPM or DDIM sampling."""

    Config = DDPMConfig
    default_sampler = "ddim"

    def __init__(self, config: DDPMConfig) -> None:
        super().__init__(config)
        self.schedule = DDPMSchedule(config.schedule, config.timesteps)
        self.default_steps = min(50, config.timesteps)   # DDIM visits a subset of the T timesteps
        self.clip = 1.0 if config.clip_sample and config.pixel_scaling else None

    def predict(self, xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0_hat, eps_hat) at integer timesteps t."""
        out = self.network(xt, t.float() / self.config.timesteps)
        return self.schedule.to_x0_eps(out, xt, t, self.config.prediction)

    def loss(self, batch) -> dict[str, torch.Tensor]:
        x0 = self.to_model_space(batch["x"])
        t = torch.randint(0, self.config.timesteps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        out = self.network(self.schedule.add_noise(x0, t, noise), t.float() / self.config.timesteps)
        mse = (out - self.schedule.target(x0, noise, t, self.config.prediction)).pow(2).flatten(1).sum(1)
        if self.config.min_snr_gamma > 0:
            loss = (mse * self.schedule.min_snr_weight(t, self.config.prediction, self.config.min_snr_gamma)).mean()
            return {"loss": loss, "mse": mse.mean().detach()}
        return {"loss": mse.mean(), "mse": mse.mean().detach()}
