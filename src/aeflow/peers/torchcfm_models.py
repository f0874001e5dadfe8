"""torchcfm (Tong et al. 2024) as an aeflow model: `TorchCFMVelocity` wraps a velocity network trained with
torchcfm's ConditionalFlowMatcher as aeflow's VelocityField (t = 0 noise, t = 1 data: torchcfm's convention
too), so that aeflow's ODE samplers and metrics run on it; `train_torchcfm` trains torchcfm's UNetModel as
its unconditional MNIST example does (RECIPE, from examples/images/mnist_example.ipynb: 32 channels, one residual
block per level, Adam at torch's default learning rate 1e-3, batch 128, pixels scaled to [-1, 1], exact
optimal-transport conditional flow matching (OT-CFM) with sigma = 0, sampled by dopri5 at atol = rtol = 1e-4,
which aeflow's `adaptive` sampler is), or with the independent coupling (I-CFM, the example's commented-out
alternative), for a wall-clock budget. `TimeFirst` and `TimeLast` swap the two calling conventions of a
velocity network, so that each side's network can be trained by the other side's loop (the comparison's 2x2).
"""

from __future__ import annotations

import torch
from torchcfm.conditional_flow_matching import ConditionalFlowMatcher, ExactOptimalTransportConditionalFlowMatcher
from torchcfm.models.unet import UNetModel

from aeflow.nn.ema import EMA
from aeflow.peers.clock import Clock

RECIPE = {"num_channels": 32, "num_res_blocks": 1, "lr": 1e-3, "batch_size": 128, "sigma": 0.0, "epochs": 3,
          "solver": "dopri5", "atol": 1e-4, "rtol": 1e-4}
SOURCES = "atong01/conditional-flow-matching: examples/images/mnist_example.ipynb"
MATCHERS = {"ot": ExactOptimalTransportConditionalFlowMatcher, "independent": ConditionalFlowMatcher}
# torchcfm picks channel multipliers per image size from a table that has no 8x8 entry (digits): two levels.
CHANNEL_MULT = {8: (1, 2)}


def build(input_shape: tuple[int, ...]) -> torch.nn.Module:
    return UNetModel(dim=tuple(input_shape), num_channels=RECIPE["num_channels"],
                     num_res_blocks=RECIPE["num_res_blocks"], channel_mult=CHANNEL_MULT.get(input_shape[-1]))


def level_channels(input_shape: tuple[int, ...]) -> list[int]:
    """The channels per resolution of `build`'s UNet (for a network of the same shape elsewhere)."""
    return [int(RECIPE["num_channels"] * m) for m in build(input_shape).channel_mult]


class TorchCFMVelocity(torch.nn.Module):
    """A torchcfm velocity network `net(t, x)` on pixels in [-1, 1], as aeflow's VelocityField."""

    default_sampler, default_steps = "euler", 100

    def __init__(self, net: torch.nn.Module, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.net = net
        self.input_shape = tuple(input_shape)
        self.registry_name = "torchcfm-unet"

    def velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(t, x)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, *self.input_shape, generator=generator).to(next(self.parameters()).device)

    def to_data_space(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2).clamp(0, 1)


def train_torchcfm(net: torch.nn.Module, train_x: torch.Tensor, clock: Clock, seed: int, coupling: str = "ot",
                   lr: float = RECIPE["lr"], average_decay: float | None = None) -> dict[str, torch.Tensor] | None:
    """The example's loop: Adam at `lr`, shuffled batches of 128, `sample_location_and_conditional_flow` on
    (noise, image) pairs coupled by `coupling` (MATCHERS), the squared error of the velocity; until `clock` says
    the budget is spent. With `average_decay`, a moving average of the weights is kept beside them (the tuning
    search's "EMA on"; the example has none) and returned; the trained weights stay in `net`."""
    torch.manual_seed(seed)
    matcher = MATCHERS[coupling](sigma=RECIPE["sigma"])
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    average = EMA(net, average_decay) if average_decay else None
    data = 2 * train_x - 1
    net.train()
    while True:
        for batch in data[torch.randperm(len(data))].split(RECIPE["batch_size"]):
            clock.start()
            x0 = torch.randn_like(batch)
            t, xt, ut = matcher.sample_location_and_conditional_flow(x0, batch)
            loss = torch.mean((net(t, xt) - ut) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if average:
                average.update(net, clock.steps)
            if clock.tick(net.state_dict):
                net.eval()
                return average.shadow if average else None


class TimeFirst(torch.nn.Module):
    """aeflow's velocity network `net(x, t)` called as torchcfm's loop calls its own: `net(t, x)`."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, t.expand(len(x)) if t.dim() == 0 else t)


class TimeLast(torch.nn.Module):
    """torchcfm's velocity network `net(t, x)` called as aeflow's flow model calls its own: `net(x, t)`."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(t, x)
