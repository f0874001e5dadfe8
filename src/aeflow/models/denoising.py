"""The denoising autoencoder (Vincent et al. 2008): the input is corrupted, the target is the clean image.

Corruptions, each with a `level`: "gaussian" (x + level * N(0, 1), clipped to [0, 1]), "salt_pepper"
(a fraction `level` of pixels set to 0 or 1 at random), "masking" (a fraction `level` set to 0).
`report` sweeps the level: PSNR of the noisy input and of the denoised output, and the picture
clean / noisy / denoised per level.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aeflow.config import choice, require
from aeflow.diffusion.corruption import corrupt, psnr
from aeflow.figures import Curves, Figure, ImageGrid
from aeflow.models.autoencoder import Autoencoder, AutoencoderConfig
from aeflow.models.registry import register

REPORT_LEVELS = (0.1, 0.2, 0.3, 0.5, 0.7)


@dataclass
class DenoisingAEConfig(AutoencoderConfig):
    corruption: str = "gaussian"   # gaussian | salt_pepper | masking
    level: float = 0.3

    def validate(self) -> None:
        super().validate()
        choice("corruption", self.corruption, ["gaussian", "salt_pepper", "masking"])
        require(self.level >= 0 and (self.corruption == "gaussian" or self.level <= 1),
                f"level must be >= 0 (and <= 1 for {self.corruption}), got {self.level}")


@register("denoising-ae")
class DenoisingAutoencoder(Autoencoder):
    """An autoencoder fed corrupted images (Gaussian, salt-and-pepper, masking) and asked for clean ones."""

    Config = DenoisingAEConfig

    def loss(self, batch) -> dict[str, torch.Tensor]:
        x = batch["x"]
        noisy = corrupt(x, self.config.corruption, self.config.level) if self.training else x
        return self.reconstruction_terms(self.encode(noisy), x)

    @torch.no_grad()
    def measure(self, data) -> dict:
        self.eval()
        x = data.test_x
        rows = []
        for level in REPORT_LEVELS:
            noisy = corrupt(x, self.config.corruption, level, torch.Generator().manual_seed(0))
            rows.append({"level": level, "psnr_noisy": psnr(noisy, x),
                         "psnr_denoised": psnr(self.reconstruct(noisy), x)})
        return {"denoising": {"corruption": self.config.corruption, "trained_level": self.config.level,
                              "sweep": rows}}

    @torch.no_grad()
    def figures(self, data, measured: dict) -> dict[str, Figure]:
        rows = measured["denoising"]["sweep"]
        levels = [r["level"] for r in rows]
        figures: dict[str, Figure] = {"psnr_vs_level.png": Curves(
            {"noisy input": (levels, [r["psnr_noisy"] for r in rows]),
             "denoised": (levels, [r["psnr_denoised"] for r in rows])},
            f"{self.config.corruption} level", "PSNR (dB)", f"trained at level {self.config.level:g}")}
        if data.is_image:
            x = data.test_x[:10]
            grid, labels = [x], ["clean"]
            for level in REPORT_LEVELS:
                noisy = corrupt(x, self.config.corruption, level, torch.Generator().manual_seed(0))
                grid += [noisy, self.reconstruct(noisy)]
                labels += [f"noisy {level:g}", f"denoised {level:g}"]
            figures["denoising.png"] = ImageGrid(grid, labels, f"{self.config.corruption} corruption")
        return figures
