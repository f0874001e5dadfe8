"""What the noise-to-data families share (one-step, DDPM, flow matching, latent diffusion): the choice of
time-conditioned network, the map between pixels in [0, 1] and the model's [-1, 1], and sampling in
batches through a sampler picked by name at sampling time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from aeflow.config import choice, require
from aeflow.errors import ConfigError
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


def sampling_batch_size(device: torch.device) -> int:
    """Images per sampler call. On a CPU, small batches keep the activations in cache: the 28x28 UNet
    (16, 32, 32) samples about twice as many images/s in batches of 128 as in batches of 1,000."""
    return 128 if device.type == "cpu" else 1024


def build_network(cfg: NetworkConfig) -> torch.nn.Module:
    if cfg.network == "unet":
        return UNet(cfg.input_shape, cfg.channels, cfg.blocks_per_level, cfg.attention, cfg.dropout)
    return TimeMLP(cfg.input_shape, cfg.hidden, cfg.dropout)


class Generator(Model):
    """A model that samples by a named sampler; `generate` gives (samples, network evaluations)."""

    samplers: tuple[str, ...] = ()
    default_sampler: str = ""
    default_steps: int = 1

    def to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x - 1 if self.config.pixel_scaling else x

    def to_data_space(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2).clamp(0, 1) if self.config.pixel_scaling else x

    def check_sampler(self, sampler: str | None, steps: int | None) -> tuple[str, int]:
        sampler = sampler or self.default_sampler
        if sampler not in self.samplers:
            raise ConfigError(f"{self.registry_name} samples with {', '.join(self.samplers)}; not {sampler!r}")
        steps = self.default_steps if steps is None else steps
        if steps < 1:
            raise ConfigError(f"steps must be >= 1, got {steps}")
        return sampler, steps

    def noise(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        device = next(self.parameters()).device
        return torch.randn(n, *self.input_shape, generator=generator).to(device)

    def generate(self, n: int, generator: torch.Generator | None = None, sampler: str | None = None,
                 steps: int | None = None, **options) -> tuple[torch.Tensor, int]:
        raise NotImplementedError

    def generate_batched(self, n: int, generator: torch.Generator | None = None, sampler: str | None = None,
                         steps: int | None = None, batch_size: int | None = None, **options
                         ) -> tuple[torch.Tensor, int]:
        """`generate` for any n, in batches drawn from one generator (the result depends only on its seed
        and the batch size), in eval mode; (samples, network evaluations per sample)."""
        batch_size = batch_size or sampling_batch_size(next(self.parameters()).device)
        was_training = self.training
        self.eval()
        parts, nfe = [], 0
        for i in range(0, n, batch_size):
            images, nfe = self.generate(min(batch_size, n - i), generator, sampler, steps, **options)
            parts.append(images)
        self.train(was_training)
        return torch.cat(parts), nfe

    def sample(self, n: int, generator: torch.Generator | None = None, sampler: str | None = None,
               steps: int | None = None, batch_size: int | None = None, **options) -> torch.Tensor:
        """n samples in data space (see `generate_batched`)."""
        return self.generate_batched(n, generator, sampler, steps, batch_size, **options)[0]


class NetworkGenerator(Generator):
    """A generator around one time-conditioned network built from its `NetworkConfig` fields."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__(config)
        self.network = build_network(config)
