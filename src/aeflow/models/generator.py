"""What the noise-to-data families share (one-step, DDPM, flow matching, latent diffusion): the choice of
time-conditioned network, the map between pixels in [0, 1] and the model's [-1, 1], and the noise they
start from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from aeflow.config import choice, require
from aeflow.models.base import Model
from aeflow.nn.unet import TimeMLP, UNet


@dataclass
class NetworkConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    network: str = "unet"                                            # unet | mlp
    channels: list[int] = field(default_factory=lambda: [32, 64])     # unet: channels per resolution
    blocks_per_level: int = 1                                         # unet: residual blocks per resolution
    attention: bool = False                                           # unet: self-attention at the lowest one
    hidden: list[int] = field(default_factory=lambda: [512, 512])    # mlp widths
    dropout: float = 0.0
    pixel_scaling: bool = True   # data in [0, 1] <-> model space [-1, 1]; False: data used as is (latent codes)

    def validate(self) -> None:
        choice("network", self.network, ["unet", "mlp"])
        if self.network == "unet":
            require(len(self.input_shape) == 3, "network=unet needs image data (C, H, W); use -m network=mlp")
            require(len(self.channels) >= 1 and min(self.channels) >= 1, "channels must be positive")
        require(self.blocks_per_level >= 1, "blocks_per_level must be >= 1")
        require(0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}")


def build_network(cfg: NetworkConfig) -> torch.nn.Module:
    if cfg.network == "unet":
        return UNet(cfg.input_shape, cfg.channels, cfg.blocks_per_level, cfg.attention, cfg.dropout)
    return TimeMLP(cfg.input_shape, cfg.hidden, cfg.dropout)


class Generator(Model):
    """A model that maps noise to data. How it is sampled is the samplers' business (`aeflow.samplers`): a
    family exposes what it learned (a velocity field, a noise predictor, a one-pass map) and names the
    sampler and steps it is sampled with by default."""

    default_sampler: str = ""
    default_steps: int = 1

    def to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x - 1 if self.config.pixel_scaling else x

    def to_data_space(self, x: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """Model space -> data space; `clamp=False` keeps values outside [0, 1] (reflow's training targets)."""
        if not self.config.pixel_scaling:
            return x
        return ((x + 1) / 2).clamp(0, 1) if clamp else (x + 1) / 2

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        return torch.randn(n, *self.input_shape, generator=generator).to(device)


class NetworkGenerator(Generator):
    """A generator around one time-conditioned network built from its `NetworkConfig` fields."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__(config)
        self.network = build_network(config)
