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
from aeflow.models.autoencoder import Autoencoder, AutoencoderConfig
from aeflow.registry import register


@dataclass
class OrderedAEConfig(AutoencoderConfig):
    norm: str = "layer"
    nested_p: float = 0.1   # parameter of the geometric distribution of the kept prefix length

    def validate(self) -> None:
        super().validate()
        require(0 < self.nested_p < 1, f"nested_p must be in (0, 1), got {self.nested_p}")
        require(self.norm != "batch", "the decoder sees truncated codes; use norm=layer or none")


def keep_prefix(z: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """Zero every code unit after the first k (k per example or one for all)."""
    index = torch.arange(z.shape[1], device=z.device)
    k = torch.as_tensor(k, device=z.device).reshape(-1, 1)
    return z * (index[None] < k)


@register("ordered-ae")
class OrderedAutoencoder(Autoencoder):
    """An autoencoder trained with nested dropout: its code is ordered coarse to fine."""

    Config = OrderedAEConfig

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encode(x)
        if self.training:
            b = torch.distributions.Geometric(probs=torch.tensor(self.config.nested_p)).sample((len(x),)) + 1
            z = keep_prefix(z, b.clamp(max=z.shape[1]).to(z.device))
        return self.reconstruction_terms(z, x)

    @torch.no_grad()
    def prefix_errors(self, x: torch.Tensor) -> list[float]:
        z = self.encode(x)
        return [float((self.decode(keep_prefix(z, k)) - x).pow(2).flatten(1).sum(1).mean())
                for k in range(1, z.shape[1] + 1)]

    @torch.no_grad()
    def report(self, data, out_dir) -> dict:
        from aeflow.registry import build_model
        from aeflow.viz import save_curves, save_image_grid

        self.eval()
        d = self.config.code_dim
        errors = self.prefix_errors(data.test_x)
        pca_errors = []
        for k in range(1, d + 1):
            pca = build_model("pca", {"n_components": k}, data.shape)
            pca.fit(data.train_x)
            pca_errors.append(float((pca.reconstruct(data.test_x) - data.test_x).pow(2).flatten(1).sum(1).mean()))
        ks = list(range(1, d + 1))
        save_curves({"nested dropout": (ks, errors), "PCA": (ks, pca_errors)}, out_dir / "error_vs_prefix.png",
                    "first k code units kept", "test squared error", "coarse to fine")
        if data.is_image:
            x = data.test_x[:8]
            z = self.encode(x)
            rows = [x] + [self.decode(keep_prefix(z, k)) for k in ks]
            save_image_grid(rows, ["test"] + [f"k={k}" for k in ks], out_dir / "prefix_reconstructions.png",
                            title="reconstructions from the first k code units")
        return {"ordered": {"prefix_error": errors, "pca_error": pca_errors}}
