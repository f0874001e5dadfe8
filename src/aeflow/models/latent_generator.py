"""Latent diffusion / latent flow matching (Rombach et al. 2022, at MNIST scale): flow matching or DDPM on
the codes of a trained, frozen autoencoder or VAE, decoded back to pixels.

`autoencoder_run` names the run folder whose encoder and decoder are used; its weights are copied into
this model (so this run's model.safetensors is self-contained) and never trained. The training set is
encoded once (`derive_training_data`), standardised per dimension (mean and std kept as buffers), and
the inner process (an MLP over the code, `process_config` for its options) is trained on that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from aeflow.config import choice, require
from aeflow.errors import ConfigError
from aeflow.models.generator import Generator
from aeflow.registry import Preset, build_model, register, register_preset


@dataclass
class LatentGeneratorConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    autoencoder_run: str = ""
    process: str = "flow"                                   # flow | ddpm
    process_config: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        require(bool(self.autoencoder_run), "latent-flow needs -m autoencoder_run=RUN_DIR (a trained autoencoder/VAE)")
        choice("process", self.process, ["flow", "ddpm"])


@register("latent-flow")
class LatentGenerator(Generator):
    """Flow matching or DDPM on the codes of a frozen, trained autoencoder or VAE."""

    Config = LatentGeneratorConfig

    def __init__(self, config: LatentGeneratorConfig) -> None:
        from aeflow.runs import load_config

        super().__init__(config)
        ae_config = load_config(config.autoencoder_run)
        self.autoencoder = build_model(ae_config.model, ae_config.model_config,
                                       tuple(ae_config.model_config["input_shape"]))
        if not (self.autoencoder.supports("encode") and self.autoencoder.supports("decode")):
            raise ConfigError(f"{config.autoencoder_run} holds a {ae_config.model}, which cannot encode and decode")
        if list(self.autoencoder.input_shape) != list(config.input_shape):
            raise ConfigError(f"{config.autoencoder_run} was trained on images {list(self.autoencoder.input_shape)}, "
                              f"this dataset has {list(config.input_shape)}")
        self.autoencoder.requires_grad_(False)
        with torch.no_grad():
            self.code_dim = int(self.autoencoder.encode(torch.zeros(2, *config.input_shape)).shape[1])
        inner = {"network": "mlp", **config.process_config, "pixel_scaling": False}
        self.process = build_model(config.process, inner, (self.code_dim,))
        self.samplers, self.default_sampler = self.process.samplers, self.process.default_sampler
        self.default_steps = self.process.default_steps
        self.register_buffer("code_mean", torch.zeros(self.code_dim))
        self.register_buffer("code_std", torch.ones(self.code_dim))

    @property
    def compression(self) -> float:
        """Pixels per code dimension."""
        return math.prod(self.input_shape) / self.code_dim

    def train(self, mode: bool = True):
        super().train(mode)
        self.autoencoder.eval()  # frozen: its norms and dropout stay in inference mode
        return self

    def loss(self, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """On standardised codes (what `derive_training_data` gives the trainer)."""
        return self.process.loss(codes)

    def derive_training_data(self, train_x: torch.Tensor, test_x: torch.Tensor):
        from aeflow.runs import load

        self.autoencoder.load_state_dict(load(self.config.autoencoder_run).state_dict())
        train_codes, test_codes = self.encode_images(train_x), self.encode_images(test_x)
        self.code_mean.copy_(train_codes.mean(0))
        self.code_std.copy_(train_codes.std(0).clamp_min(1e-6))
        return ((train_codes - self.code_mean) / self.code_std,), ((test_codes - self.code_mean) / self.code_std,)

    @torch.no_grad()
    def encode_images(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        self.autoencoder.eval()
        return torch.cat([self.autoencoder.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    def generate(self, n: int, generator: torch.Generator | None = None, sampler: str | None = None,
                 steps: int | None = None, **options) -> tuple[torch.Tensor, int]:
        codes, nfe = self.process.generate(n, generator, sampler, steps, **options)
        with torch.no_grad():
            images = self.autoencoder.decode(codes * self.code_std + self.code_mean)
        return images.clamp(0, 1), nfe


register_preset("latent-ddpm", Preset(
    model="latent-flow", model_config={"process": "ddpm"},
    description="latent diffusion: DDPM (MLP) on the standardised codes of a trained autoencoder/VAE",
))
