"""A DCGAN (Radford et al. 2016) for 28x28 and 8x8 single-channel images: the loss is learnt.

Generator: z -> (C0, H/4, W/4) -> transposed convolutions with BatchNorm and ReLU -> tanh.
Discriminator: strided convolutions with LeakyReLU(0.2), BatchNorm after the first -> one logit.
Weights from N(0, 0.02), BatchNorm scales from N(1, 0.02), as in the paper.

Two optimisation phases share each batch, in order: the discriminator step (real vs. detached fakes),
then the generator step, "non_saturating" (maximise log D(G(z)), Goodfellow et al.'s practical choice)
or "minimax" (minimise log(1 - D(G(z))), which saturates when D wins). The trainer runs one optimiser
per phase (`phases`, `phase_parameters`); `loss(x)` without a phase reports every term.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from aeflow.config import choice, require
from aeflow.models.generator import Generator
from aeflow.models.registry import Preset, register, register_preset
from aeflow.nn.conv import Reshape


@dataclass
class GANConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    latent_dim: int = 64
    channels: list[int] = field(default_factory=lambda: [128, 64])  # generator, coarse to fine (D mirrors)
    loss: str = "non_saturating"                                    # non_saturating | minimax

    def validate(self) -> None:
        choice("loss", self.loss, ["non_saturating", "minimax"])
        require(len(self.input_shape) == 3 and self.input_shape[1] % 4 == 0 and self.input_shape[2] % 4 == 0,
                f"the DCGAN needs images with sides divisible by 4, got {self.input_shape}")
        require(len(self.channels) == 2, "channels must list two widths, e.g. [128, 64]")
        require(self.latent_dim >= 1, "latent_dim must be >= 1")


def _dcgan_init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@register("gan")
class GAN(Generator):
    """A DCGAN: generator and discriminator trained in two phases, minimax or non-saturating loss."""

    Config = GANConfig
    default_sampler = "direct"
    phases = ("discriminator", "generator")

    def __init__(self, config: GANConfig) -> None:
        super().__init__(config)
        c, h, w = config.input_shape
        wide, narrow = config.channels
        self.generator = nn.Sequential(
            nn.Linear(config.latent_dim, wide * (h // 4) * (w // 4)), Reshape(wide, h // 4, w // 4),
            nn.BatchNorm2d(wide), nn.ReLU(),
            nn.ConvTranspose2d(wide, narrow, 4, stride=2, padding=1), nn.BatchNorm2d(narrow), nn.ReLU(),
            nn.ConvTranspose2d(narrow, c, 4, stride=2, padding=1), nn.Tanh())
        self.discriminator = nn.Sequential(
            nn.Conv2d(c, narrow, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(narrow, wide, 4, stride=2, padding=1), nn.BatchNorm2d(wide), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(wide * (h // 4) * (w // 4), 1))
        self.apply(_dcgan_init)

    def to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x - 1

    def to_data_space(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2).clamp(0, 1)

    def phase_parameters(self, phase: str) -> list[nn.Parameter]:
        return list((self.discriminator if phase == "discriminator" else self.generator).parameters())

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        return torch.randn(n, self.config.latent_dim, generator=generator).to(device)

    def map_noise(self, noise: torch.Tensor) -> torch.Tensor:
        return self.generator(noise)

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.discriminator(self.to_model_space(x))).squeeze(1)

    def _generator_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        if self.config.loss == "non_saturating":
            return F.softplus(-d_fake).mean()   # -log D(G(z))
        return -F.softplus(d_fake).mean()       # log(1 - D(G(z)))

    def loss(self, batch, phase: str | None = None) -> dict[str, torch.Tensor]:
        x = batch["x"]
        real = self.to_model_space(x)
        if phase == "generator":
            g_loss = self._generator_loss(self.discriminator(self.map_noise(self.noise(len(x)))).squeeze(1))
            return {"loss": g_loss, "g_loss": g_loss.detach()}
        with torch.no_grad():
            fake = self.map_noise(self.noise(len(x)))
        d_real, d_fake = self.discriminator(real).squeeze(1), self.discriminator(fake).squeeze(1)
        d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        terms = {"loss": d_loss, "d_loss": d_loss.detach(), "D(x)": torch.sigmoid(d_real).mean().detach(),
                 "D(G(z))": torch.sigmoid(d_fake).mean().detach()}
        if phase is None:  # evaluation: every term, "loss" = the two players' losses summed
            terms["g_loss"] = self._generator_loss(d_fake).detach()
            terms["loss"] = d_loss + terms["g_loss"]
        return terms


register_preset("dcgan", Preset(
    model="gan", model_config={},
    train={"lr": 2e-4, "betas": [0.5, 0.999], "batch_size": 128, "warmup_epochs": 0.0, "grad_clip": 0.0,
           "final_lr_fraction": 1.0, "sample_every": 1},
    description="DCGAN recipe: Adam lr 2e-4, betas (0.5, 0.999), batch 128, constant learning rate, "
                "fixed-noise sample grid every epoch",
))
