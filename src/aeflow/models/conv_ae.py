"""The convolutional autoencoder: 28x28x1 -> 14x14x32 -> 7x7x64 -> code -> the mirror image, with the
decoder's upsampling selectable: "resize" (nearest neighbour then a 3x3 convolution) or "transpose"
(stride-2 transposed convolution, whose uneven kernel overlap draws checkerboards; Odena et al. 2016).

`report` measures the checkerboard as the fraction of spectral energy at the Nyquist frequency (the
pixel-alternating pattern, the last row and column of the 2-D spectrum) of the decoder's output, for the
test reconstructions (next to the same number for the test images themselves), for the response to
a constant (all-zero) code, and for the freshly initialised decoder's response to random codes (where
transposed convolutions show their pattern before training has learnt to cancel it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from aeflow.config import choice, require
from aeflow.figures import Figure, ImageGrid
from aeflow.models.base import Model
from aeflow.models.registry import register
from aeflow.nn import ACTIVATIONS, conv_decoder, conv_encoder


@dataclass
class ConvAEConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    channels: list[int] = field(default_factory=lambda: [32, 64])
    code_dim: int = 32
    activation: str = "silu"
    upsampling: str = "resize"   # resize | transpose

    def validate(self) -> None:
        require(len(self.input_shape) == 3, "conv-ae needs image data (C, H, W)")
        choice("upsampling", self.upsampling, ["resize", "transpose"])
        choice("activation", self.activation, ACTIVATIONS)
        require(self.code_dim >= 1 and len(self.channels) >= 1, "code_dim >= 1 and at least one channel width")


def nyquist_energy_fraction(images: torch.Tensor) -> float:
    """Share of the (mean-removed) spectral energy in the Nyquist row and column, averaged over images."""
    x = images.float().mean(1)
    x = x - x.mean((1, 2), keepdim=True)
    power = torch.fft.fft2(x).abs().pow(2)
    h, w = x.shape[1:]
    nyquist = torch.zeros(h, w, dtype=torch.bool)
    if h % 2 == 0:
        nyquist[h // 2, :] = True
    if w % 2 == 0:
        nyquist[:, w // 2] = True
    return float((power[:, nyquist].sum(1) / power.flatten(1).sum(1).clamp_min(1e-12)).mean())


@register("conv-ae")
class ConvAutoencoder(Model):
    """Strided convolutions down to a code and back up, by resize-then-conv or transposed convolutions."""

    Config = ConvAEConfig

    def __init__(self, config: ConvAEConfig) -> None:
        super().__init__(config)
        self.encoder = conv_encoder(config.input_shape, config.channels, config.code_dim, config.activation)
        self.decoder = conv_decoder(config.input_shape, config.channels, config.code_dim, config.activation,
                                    config.upsampling)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def loss(self, batch) -> dict[str, torch.Tensor]:
        x = batch["x"]
        logits = self.decoder(self.encoder(x)).float()
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()
        sq_err = (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1).mean()
        return {"loss": recon, "recon": recon.detach(), "sq_err": sq_err.detach()}

    @torch.no_grad()
    def measure(self, data) -> dict:
        self.eval()
        x = data.test_x[:2000]
        recon = self.reconstruct(x)
        constant = self.decode(torch.zeros(1, self.config.code_dim))
        torch.manual_seed(0)  # a fixed untrained twin: its checkerboard is the upsampling's, not the training's
        fresh = ConvAutoencoder(self.config).eval()
        at_init = fresh.decode(torch.randn(64, self.config.code_dim))
        return {"checkerboard": {"upsampling": self.config.upsampling,
                                 "nyquist_energy_reconstructions": nyquist_energy_fraction(recon),
                                 "nyquist_energy_test_images": nyquist_energy_fraction(x),
                                 "nyquist_energy_constant_code": nyquist_energy_fraction(constant),
                                 "nyquist_energy_at_initialisation": nyquist_energy_fraction(at_init),
                                 "n_parameters": sum(p.numel() for p in self.parameters()),
                                 "code_dim": self.config.code_dim, "compression": math.prod(self.input_shape)
                                 / self.config.code_dim}}

    @torch.no_grad()
    def figures(self, data, measured: dict) -> dict[str, Figure]:
        x = data.test_x[:12]
        constant = self.decode(torch.zeros(1, self.config.code_dim))
        return {"checkerboard.png": ImageGrid([x, self.reconstruct(x), constant.expand(12, -1, -1, -1)],
                                              ["test", "recon.", "code 0"], f"upsampling = {self.config.upsampling}")}
