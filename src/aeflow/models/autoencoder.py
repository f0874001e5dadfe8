"""The deterministic MLP autoencoder, and Hinton & Salakhutdinov's (2006) 784-1000-500-250-30 preset."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from aeflow.config import choice, require
from aeflow.models.base import Model
from aeflow.models.registry import Preset, register, register_preset
from aeflow.nn import ACTIVATIONS, NORMS, mlp


@dataclass
class AutoencoderConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    hidden: list[int] = field(default_factory=lambda: [256, 128])   # encoder widths; the decoder mirrors them
    code_dim: int = 16
    activation: str = "gelu"
    norm: str = "batch"
    output: str = "sigmoid"      # sigmoid: outputs in [0, 1]; linear: unbounded
    recon_loss: str = "bce"      # bce (needs sigmoid output) or mse

    def validate(self) -> None:
        require(self.code_dim >= 1, f"code_dim must be >= 1, got {self.code_dim}")
        require(all(h >= 1 for h in self.hidden), f"hidden widths must be >= 1, got {self.hidden}")
        choice("activation", self.activation, ACTIVATIONS)
        choice("norm", self.norm, NORMS)
        choice("output", self.output, ["sigmoid", "linear"])
        choice("recon_loss", self.recon_loss, ["bce", "mse"])
        require(not (self.recon_loss == "bce" and self.output != "sigmoid"),
                "recon_loss=bce needs output=sigmoid (binary cross-entropy is defined for values in [0, 1])")


@register("autoencoder")
class Autoencoder(Model):
    """A deterministic MLP encoder to a code, and its mirror image as decoder."""

    Config = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__(config)
        d = math.prod(config.input_shape)
        widths = [d, *config.hidden, config.code_dim]
        self.encoder = mlp(widths, config.activation, config.norm)
        self.decoder = mlp(widths[::-1], config.activation, config.norm)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.flat(x))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.unflat(self.decoder(z))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode_logits(z)
        return torch.sigmoid(out) if self.config.output == "sigmoid" else out

    def loss(self, batch) -> dict[str, torch.Tensor]:
        x = batch["x"]
        return self.reconstruction_terms(self.encode(x), x)

    def reconstruction_terms(self, z: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss of decoding `z` against `target` (the regularised variants add their terms to it)."""
        out = self.decode_logits(z).float()
        x_hat = torch.sigmoid(out) if self.config.output == "sigmoid" else out
        sq_err = (x_hat - target).pow(2).flatten(1).sum(1).mean()
        if self.config.recon_loss == "bce":
            recon = F.binary_cross_entropy_with_logits(out, target, reduction="none").flatten(1).sum(1).mean()
        else:
            recon = sq_err
        return {"loss": recon, "recon": recon, "sq_err": sq_err.detach()}


register_preset("hinton", Preset(
    model="autoencoder",
    model_config={"hidden": [1000, 500, 250], "code_dim": 30, "activation": "silu", "norm": "layer",
                  "output": "sigmoid", "recon_loss": "bce"},
    train={"epochs": 50, "batch_size": 512, "lr": 2e-3, "weight_decay": 0.01, "warmup_epochs": 1.0,
           "grad_clip": 1.0},
    description="Hinton & Salakhutdinov 2006: 784-1000-500-250-30, trained with aeflow's recipe",
))
