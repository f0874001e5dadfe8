"""Flow matching on the straight path (conventions in aeflow/diffusion/flow.py: t = 0 noise, t = 1 data,
target data - noise), with optional mini-batch optimal-transport coupling, and reflow.

Reflow (Liu et al. 2023, 2-rectified flow): a trained flow ("teacher", `reflow_from` = its run folder) maps
noise to samples along curved paths; training a new flow on those fixed (noise, sample) pairs
straightens them, so few Euler steps suffice. The student starts from the teacher's weights.

Loss: squared error of the velocity, summed over pixels, averaged over the batch; or, with
`velocity_loss=pseudo_huber`, the pseudo-Huber distance sqrt(|error|^2 + c^2) - c (Song & Dhariwal 2024;
Lee et al. 2024 for reflow), which grows like |error|, not its square, so the few pairs the student fits
worst do not dominate the gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm import tqdm

from aeflow.config import choice, require
from aeflow.diffusion.flow import TIME_SAMPLINGS, interpolate, ot_pair, sample_times, target_velocity
from aeflow.diffusion.samplers import FLOW_SAMPLERS, ode_adaptive, ode_fixed_steps
from aeflow.errors import ConfigError
from aeflow.models.generator import NetworkConfig, NetworkGenerator, sampling_batch_size
from aeflow.registry import register


@dataclass
class FlowConfig(NetworkConfig):
    time_sampling: str = "uniform"     # uniform | logit_normal | u_shaped
    velocity_loss: str = "squared"     # squared | pseudo_huber
    ot_coupling: bool = False          # pair noise and data within a batch by exact optimal transport
    reflow_from: str | None = None     # run folder of a trained flow: train on its (noise, sample) pairs
    reflow_pairs: int = 10_000
    reflow_sampler: str = "heun"
    reflow_steps: int = 20

    def validate(self) -> None:
        super().validate()
        choice("time_sampling", self.time_sampling, TIME_SAMPLINGS)
        choice("velocity_loss", self.velocity_loss, ["squared", "pseudo_huber"])
        choice("reflow_sampler", self.reflow_sampler, FLOW_SAMPLERS)
        require(self.reflow_pairs >= 1 and self.reflow_steps >= 1, "reflow_pairs and reflow_steps must be >= 1")
        require(not (self.reflow_from and self.ot_coupling), "reflow trains on fixed pairs: drop ot_coupling")


def pseudo_huber(squared_error: torch.Tensor, dim: int) -> torch.Tensor:
    """sqrt(|e|^2 + c^2) - c per example from its summed squared error |e|^2, with c = 0.00054 sqrt(dim)
    (Song & Dhariwal 2024's constant for images with pixels in [-1, 1])."""
    c = 0.00054 * dim ** 0.5
    return (squared_error + c * c).sqrt() - c


@register("flow")
class FlowMatching(NetworkGenerator):
    """Flow matching on the straight noise-to-data path; Euler/midpoint/Heun/adaptive sampling; OT, reflow."""

    Config = FlowConfig
    samplers = FLOW_SAMPLERS
    default_sampler, default_steps = "heun", 10

    def velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.network(x, t)

    def loss(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """`noise`: the coupled noise of each example (reflow pairs); otherwise fresh, optionally OT-paired."""
        data = self.to_model_space(x)
        if noise is None:
            noise = torch.randn_like(data)
            if self.config.ot_coupling and self.training:
                noise = ot_pair(noise, data)
        t = sample_times(len(data), self.config.time_sampling).to(data.device)
        v = self.network(interpolate(noise, data, t), t)
        squared_error = (v - target_velocity(noise, data)).pow(2).flatten(1).sum(1)
        mse = squared_error.mean()
        if self.config.velocity_loss == "pseudo_huber":
            return {"loss": pseudo_huber(squared_error, data[0].numel()).mean(), "mse": mse.detach()}
        return {"loss": mse, "mse": mse.detach()}

    def generate(self, n: int, generator: torch.Generator | None = None, sampler: str | None = None,
                 steps: int | None = None, noise: torch.Tensor | None = None, shift: float = 1.0,
                 churn: float = 0.0) -> tuple[torch.Tensor, int]:
        """`shift` > 1: fixed-step samplers take smaller steps near the noise end (`flow_time_grid`);
        `churn` > 0: they add fresh noise before each step (`churn_back`), drawn from `generator`."""
        sampler, steps = self.check_sampler(sampler, steps)
        x = self.noise(n, generator) if noise is None else noise
        x, nfe = self.integrate(x, sampler, steps, shift, churn, generator)
        return self.to_data_space(x), nfe

    def integrate(self, noise: torch.Tensor, sampler: str, steps: int, shift: float = 1.0, churn: float = 0.0,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
        """Model-space endpoints of the ODE (or, with churn, the stochastic sampler) from `noise`, and the
        number of network evaluations."""
        if shift <= 0:
            raise ConfigError(f"shift must be > 0, got {shift}")
        if churn < 0:
            raise ConfigError(f"churn must be >= 0, got {churn}")
        if sampler == "adaptive" and (shift != 1 or churn):
            raise ConfigError("shift and churn apply to the fixed-step samplers, not adaptive")
        with torch.no_grad():
            if sampler == "adaptive":
                return ode_adaptive(self.velocity, noise)
            return ode_fixed_steps(self.velocity, noise, steps, sampler, shift, churn, generator)

    def derive_training_data(self, train_x: torch.Tensor, test_x: torch.Tensor):
        """Reflow: (teacher sample, its noise) pairs replace the dataset; None (the dataset as is) otherwise."""
        if not self.config.reflow_from:
            return None
        from aeflow.runs import load

        teacher = load(self.config.reflow_from)
        if not isinstance(teacher, FlowMatching):
            raise ConfigError(f"reflow_from={self.config.reflow_from} is a {teacher.registry_name} run, not a flow")
        try:
            self.network.load_state_dict(teacher.network.state_dict())
        except RuntimeError:
            raise ConfigError("reflow: the student's network must match the teacher's; "
                              f"use the same network options as {self.config.reflow_from}") from None
        n_test = min(len(test_x), 1000)
        return (self._pairs(teacher, self.config.reflow_pairs, seed=0),
                self._pairs(teacher, n_test, seed=1))

    def _pairs(self, teacher: FlowMatching, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        batch_size = sampling_batch_size(next(teacher.parameters()).device)
        samples, noises = [], []
        for i in tqdm(range(0, n, batch_size), desc=f"reflow pairs ({self.config.reflow_sampler})", unit="batch"):
            noise = teacher.noise(min(batch_size, n - i), generator)
            x1, _ = teacher.integrate(noise, self.config.reflow_sampler, self.config.reflow_steps)
            samples.append((x1 + 1) / 2 if self.config.pixel_scaling else x1)  # data space, unclamped
            noises.append(noise)
        return torch.cat(samples), torch.cat(noises)
