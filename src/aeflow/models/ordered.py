"""Ordered ("prefix") codes by nested dropout (Rippel et al. 2014): in training each example keeps only
its first b code units, b ~ Geometric(p) truncated to [1, d], so the first units must carry the most;
keeping the first k units then reconstructs coarse to fine, like PCA's leading components.

`report`: test error when only the first k units are kept, k = 1..d, against PCA with k components
(a plot and the numbers), and the grid of reconstructions for every k.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aeflow.config import require
from aeflow.diffusion.corruption import keep_prefix
from aeflow.figures import Curves, Figure, ImageGrid
from aeflow.models.autoencoder import Autoencoder, AutoencoderConfig
from aeflow.models.baselines import PCA, PCAConfig
from aeflow.models.registry import register


@dataclass
class OrderedAEConfig(AutoencoderConfig):
    norm: str = "layer"
    nested_p: float = 0.1   # parameter of the geometric distribution of the kept prefix length

    def validate(self) -> None:
        super().validate()
        require(0 < self.nested_p < 1, f"nested_p must be in (0, 1), got {self.nested_p}")
        require(self.norm != "batch", "the decoder sees truncated codes; use norm=layer or none")


@register("ordered-ae")
class OrderedAutoencoder(Autoencoder):
    """An autoencoder trained with nested dropout: its code is ordered coarse to fine."""

    Config = OrderedAEConfig

    def loss(self, batch) -> dict[str, torch.Tensor]:
        x = batch["x"]
        z = self.encode(x)
        if self.training:
            b = torch.distributions.Geometric(probs=torch.tensor(self.config.nested_p)).sample((len(x),)) + 1
            z = keep_prefix(z, b.clamp(max=z.shape[1]).to(z.device))
        return self.reconstruction_terms(z, x)

    def prefix_errors(self, x: torch.Tensor) -> list[float]:
        return prefix_errors(self, x)

    @torch.no_grad()
    def measure(self, data) -> dict:
        """Test error from the first k code units, k = 1..d, beside PCA's with k components (PCA's first k
        components are those of one fit with d, so one fit gives every k)."""
        self.eval()
        pca = PCA(PCAConfig(list(data.shape), n_components=self.config.code_dim)).fit(data.train_x)
        return {"ordered": {"prefix_error": self.prefix_errors(data.test_x),
                            "pca_error": prefix_errors(pca, data.test_x)}}

    @torch.no_grad()
    def figures(self, data, measured: dict) -> dict[str, Figure]:
        ks = list(range(1, self.config.code_dim + 1))
        figures: dict[str, Figure] = {"error_vs_prefix.png": Curves(
            {"nested dropout": (ks, measured["ordered"]["prefix_error"]),
             "PCA": (ks, measured["ordered"]["pca_error"])},
            "first k code units kept", "test squared error", "coarse to fine")}
        if data.is_image:
            x = data.test_x[:8]
            z = self.encode(x)
            figures["prefix_reconstructions.png"] = ImageGrid(
                [x] + [self.decode(keep_prefix(z, k)) for k in ks], ["test"] + [f"k={k}" for k in ks],
                "reconstructions from the first k code units")
        return figures


@torch.no_grad()
def prefix_errors(model, x: torch.Tensor) -> list[float]:
    """Test squared error of `model` decoding only the first k code units, for k = 1..d."""
    z = model.encode(x)
    return [float((model.decode(keep_prefix(z, k)) - x).pow(2).flatten(1).sum(1).mean())
            for k in range(1, z.shape[1] + 1)]
