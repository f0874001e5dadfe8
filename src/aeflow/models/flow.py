"""Flow matching on the straight path (conventions in aeflow/diffusion/flow.py: t = 0 noise, t = 1 data,
target data - noise), with optional mini-batch optimal-transport coupling, and reflow.

Reflow (Liu et al. 2023, 2-rectified flow): a trained flow ("teacher", `reflow_from` = its run folder) maps
noise to samples along curved paths; training a new flow on those fixed (noise, sample) pairs
straightens them, so few Euler steps suffice. The run layer draws the pairs with the teacher's sampler
and starts the student from the teacher's weights; the student's batches carry the coupled "noise".

Loss: squared error of the velocity, summed over pixels, averaged over the batch; or, with
`velocity_loss=pseudo_huber`, the pseudo-Huber distance sqrt(|error|^2 + c^2) - c (Song & Dhariwal 2024;
Lee et al. 2024 for reflow), which grows like |error|, not its square, so the few pairs the student fits
worst do not dominate the gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aeflow.config import choice, require
from aeflow.diffusion.flow import TIME_SAMPLINGS, interpolate, ot_pair, sample_times, target_velocity
from aeflow.models.generator import NetworkConfig, NetworkGenerator
from aeflow.models.registry import register


@dataclass
class FlowConfig(NetworkConfig):
    time_sampling: str = "uniform"     # uniform | logit_normal | u_shaped
    velocity_loss: str = "squared"     # squared | pseudo_huber
    ot_coupling: bool = False          # pair noise and data within a batch by exact optimal transport
    reflow_from: str | None = None     # run folder of a trained flow: train on its (noise, sample) pairs
    reflow_pairs: int = 10_000
    reflow_sampler: str = "heun"       # a velocity-field sampler (`aeflow samplers`), checked by the run
    reflow_steps: int = 20

    def validate(self) -> None:
        super().validate()
        choice("time_sampling", self.time_sampling, TIME_SAMPLINGS)
        choice("velocity_loss", self.velocity_loss, ["squared", "pseudo_huber"])
        require(self.reflow_pairs >= 1 and self.reflow_steps >= 1, "reflow_pairs and reflow_steps must be >= 1")
        require(not (self.reflow_from and self.ot_coupling), "reflow trains on fixed pairs: drop ot_coupling")


def pseudo_huber(squared_error: torch.Tensor, dim: int) -> torch.Tensor:
    """sqrt(|e|^2 + c^2) - c per example from its summed squared error |e|^2, with c = 0.00054 sqrt(dim)
    (Song & Dhariwal 2024's constant for images with pixels in [-1, 1])."""
    c = 0.00054 * dim ** 0.5
    return (squared_error + c * c).sqrt() - c


@register("flow")
class FlowMatching(NetworkGenerator):
    """Flow matching on the straight noise-to-data path: a velocity field for the ODE samplers; OT, reflow."""

    Config = FlowConfig
    default_sampler, default_steps = "heun", 10

    def velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.network(x, t)

    def loss(self, batch) -> dict[str, torch.Tensor]:
        """batch["noise"]: the coupled noise of each example (reflow pairs); otherwise fresh, optionally OT-paired."""
        data = self.to_model_space(batch["x"])
        noise = batch.get("noise")
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
