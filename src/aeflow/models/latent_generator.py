"""Latent diffusion / latent flow matching (Rombach et al. 2022, at MNIST scale): flow matching or DDPM on
the codes of a trained, frozen autoencoder or VAE, decoded back to pixels.

`autoencoder` is the parent's spec ({"model": family, "model_config": {...}}), embedded in this run's
config by the run layer when it is trained (`autoencoder_run`, the parent's folder, is kept only as
provenance), so the model builds from its own config alone. The parent's weights are copied into this
model and never trained; the training set is encoded once by the run layer, standardised per dimension
(mean and std kept as buffers), and the inner process (an MLP over the code, `process_config` for its
options) is trained on that. The model is then a generator like any other: its noise is a code, its
velocity field or noise predictor the inner process's, and its data space the decoder's images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from aeflow.config import choice, require
from aeflow.errors import ConfigError
from aeflow.models.generator import Generator
from aeflow.models.registry import Preset, build_model, register, register_preset
from aeflow.protocols import Encodes, NoisePredictor, VelocityField


@dataclass
class LatentGeneratorConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    autoencoder_run: str = ""                               # provenance: the folder the parent came from
    autoencoder: dict[str, Any] = field(default_factory=dict)  # the parent's spec: model, model_config
    process: str = "flow"                                   # flow | ddpm
    process_config: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        require(bool(self.autoencoder_run or self.autoencoder),
                "latent-flow needs -m autoencoder_run=RUN_DIR (a trained autoencoder/VAE)")
        choice("process", self.process, ["flow", "ddpm"])


@register("latent-flow")
class LatentGenerator(Generator):
    """Flow matching or DDPM on the codes of a frozen, trained autoencoder or VAE."""

    Config = LatentGeneratorConfig

    def __init__(self, config: LatentGeneratorConfig) -> None:
        super().__init__(config)
        spec = config.autoencoder
        if not spec:
            raise ConfigError("latent-flow: the autoencoder's spec is missing from the config; train it with "
                              "-m autoencoder_run=RUN_DIR so that the run embeds it")
        self.autoencoder = build_model(spec["model"], spec["model_config"], tuple(spec["model_config"]["input_shape"]))
        if not isinstance(self.autoencoder, Encodes):
            raise ConfigError(f"{config.autoencoder_run or 'the parent'} holds a {spec['model']}, which cannot "
                              "encode and decode")
        if list(self.autoencoder.input_shape) != list(config.input_shape):
            raise ConfigError(f"{config.autoencoder_run} was trained on images {list(self.autoencoder.input_shape)}, "
                              f"this dataset has {list(config.input_shape)}")
        self.autoencoder.requires_grad_(False)
        with torch.no_grad():
            self.code_dim = int(self.autoencoder.encode(torch.zeros(2, *config.input_shape)).shape[1])
        inner = {"network": "mlp", **config.process_config, "pixel_scaling": False}
        self.process = build_model(config.process, inner, (self.code_dim,))
        self.default_sampler, self.default_steps = self.process.default_sampler, self.process.default_steps
        # The inner process's learned field is this model's: the samplers that accept it accept this model.
        if isinstance(self.process, VelocityField):
            self.velocity = self.process.velocity
        if isinstance(self.process, NoisePredictor):
            self.predict, self.schedule, self.clip = self.process.predict, self.process.schedule, self.process.clip
        self.register_buffer("code_mean", torch.zeros(self.code_dim))
        self.register_buffer("code_std", torch.ones(self.code_dim))

    @property
    def autoencoder_family(self) -> str:
        return self.config.autoencoder.get("model", "")

    @property
    def compression(self) -> float:
        """Pixels per code dimension."""
        return math.prod(self.input_shape) / self.code_dim

    def train(self, mode: bool = True):
        super().train(mode)
        self.autoencoder.eval()  # frozen: its norms and dropout stay in inference mode
        return self

    def loss(self, batch) -> dict[str, torch.Tensor]:
        """batch["x"]: standardised codes (what the run layer prepares with `standardise`)."""
        return self.process.loss(batch)

    @torch.no_grad()
    def encode_images(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        self.autoencoder.eval()
        return torch.cat([self.autoencoder.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    def fit_standardisation(self, train_codes: torch.Tensor) -> None:
        self.code_mean.copy_(train_codes.mean(0))
        self.code_std.copy_(train_codes.std(0).clamp_min(1e-6))

    def standardise(self, codes: torch.Tensor) -> torch.Tensor:
        return (codes - self.code_mean) / self.code_std

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.process.noise(n, generator)

    @torch.no_grad()
    def to_data_space(self, codes: torch.Tensor) -> torch.Tensor:
        """Standardised codes -> decoded images in [0, 1]."""
        return self.autoencoder.decode(codes * self.code_std + self.code_mean).clamp(0, 1)


register_preset("latent-ddpm", Preset(
    model="latent-flow", model_config={"process": "ddpm"},
    description="latent diffusion: DDPM (MLP) on the standardised codes of a trained autoencoder/VAE",
))
