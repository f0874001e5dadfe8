"""The masked autoencoder (He et al. 2022) at MNIST scale: the image cut into patches, a random fraction
`mask_ratio` of them hidden, a small transformer encoder on the visible patches only, and a lighter
transformer decoder that sees the encoded patches plus a shared mask token at every hidden position
and predicts the pixels. The loss is the squared error on the hidden patches only (summed over their
pixels, averaged over the batch).

encode(x) runs the encoder on every patch (no masking) and returns the tokens flattened (features).
There is no `decode` of a full set of tokens: the decoder is only trained to predict hidden patches.
reconstruct(x) hides `mask_ratio` of the patches (a fixed seed), keeps the visible ones and fills in
the rest: the test error of the run is that image's error. `report`: error on the hidden pixels
against the mask ratio, and the visible / filled-in picture per ratio.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from aeflow.config import require
from aeflow.diffusion.corruption import random_mask
from aeflow.figures import Curves, Figure, ImageGrid
from aeflow.models.base import Model
from aeflow.models.registry import register

REPORT_RATIOS = (0.25, 0.5, 0.75, 0.9)


@dataclass
class MAEConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    patch_size: int = 0          # 0: 4 for 28x28 images, 2 for 8x8
    mask_ratio: float = 0.75
    dim: int = 64
    depth: int = 4
    heads: int = 4
    decoder_dim: int = 32
    decoder_depth: int = 1

    def validate(self) -> None:
        require(len(self.input_shape) == 3, "mae needs image data (C, H, W)")
        p = self.patch_size or (4 if self.input_shape[1] >= 16 else 2)
        require(self.input_shape[1] % p == 0 and self.input_shape[2] % p == 0,
                f"patch_size {p} must divide the image sides {self.input_shape[1:]}")
        require(0 <= self.mask_ratio < 1, f"mask_ratio must be in [0, 1), got {self.mask_ratio}")
        require(self.dim % self.heads == 0 and self.decoder_dim % self.heads == 0, "dims must divide by heads")


def _transformer(dim: int, depth: int, heads: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=True)
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


@register("mae")
class MaskedAutoencoder(Model):
    """A masked autoencoder: a transformer on the visible patches, a light decoder fills in the rest."""

    Config = MAEConfig

    def __init__(self, config: MAEConfig) -> None:
        super().__init__(config)
        c, h, w = config.input_shape
        self.p = config.patch_size or (4 if h >= 16 else 2)
        self.grid = (h // self.p, w // self.p)
        n, patch_dim = self.grid[0] * self.grid[1], c * self.p * self.p
        self.embed = nn.Linear(patch_dim, config.dim)
        self.pos = nn.Parameter(torch.randn(1, n, config.dim) * 0.02)
        self.encoder = _transformer(config.dim, config.depth, config.heads)
        self.norm = nn.LayerNorm(config.dim)
        self.to_decoder = nn.Linear(config.dim, config.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.decoder_dim))
        self.decoder_pos = nn.Parameter(torch.randn(1, n, config.decoder_dim) * 0.02)
        self.decoder = _transformer(config.decoder_dim, config.decoder_depth, config.heads)
        self.to_pixels = nn.Linear(config.decoder_dim, patch_dim)

    @property
    def n_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _, _ = x.shape
        gh, gw = self.grid
        return x.reshape(b, c, gh, self.p, gw, self.p).permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, -1)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        b = len(patches)
        c = self.input_shape[0]
        gh, gw = self.grid
        return patches.reshape(b, gh, gw, c, self.p, self.p).permute(0, 3, 1, 4, 2, 5).reshape(b, c, gh * self.p,
                                                                                               gw * self.p)

    def encode_visible(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """Encoder tokens of the visible patches, (B, n_visible, dim); every row hides as many patches."""
        tokens = self.embed(self.patchify(x)) + self.pos
        visible = tokens[~hidden].reshape(len(x), -1, tokens.shape[-1])
        return self.norm(self.encoder(visible))

    def decode_tokens(self, encoded: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """Pixels of every patch, (B, n_patches, patch_dim), mask tokens where patches were hidden."""
        b = len(encoded)
        full = self.mask_token.expand(b, self.n_patches, -1).clone()
        full[~hidden] = self.to_decoder(encoded).reshape(-1, full.shape[-1])
        return self.to_pixels(self.decoder(full + self.decoder_pos))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.zeros(len(x), self.n_patches, dtype=torch.bool, device=x.device)
        return self.encode_visible(x, hidden).flatten(1)

    def fill_in(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """The image with its hidden patches replaced by the decoder's prediction."""
        predicted = self.decode_tokens(self.encode_visible(x, hidden), hidden).clamp(0, 1)
        return self.unpatchify(torch.where(hidden[..., None], predicted, self.patchify(x)))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        hidden = random_mask(len(x), self.n_patches, self.config.mask_ratio, torch.Generator().manual_seed(0))
        return self.fill_in(x, hidden.to(x.device))

    def masked_error(self, x: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(squared error on the hidden patches per image, predicted patches)."""
        predicted = self.decode_tokens(self.encode_visible(x, hidden), hidden)
        error = ((predicted - self.patchify(x)).pow(2).sum(-1) * hidden).sum(1)
        return error, predicted

    def loss(self, batch) -> dict[str, torch.Tensor]:
        x = batch["x"]
        hidden = random_mask(len(x), self.n_patches, self.config.mask_ratio).to(x.device)
        error, _ = self.masked_error(x, hidden)
        return {"loss": error.mean(), "masked_sq_err": error.mean().detach()}

    @torch.no_grad()
    def measure(self, data) -> dict:
        self.eval()
        x = data.test_x[:2000]
        rows = []
        for ratio in REPORT_RATIOS:
            hidden = random_mask(len(x), self.n_patches, ratio, torch.Generator().manual_seed(0))
            error, predicted = self.masked_error(x, hidden)
            n_hidden_pixels = max(1, round(ratio * self.n_patches)) * predicted.shape[-1]
            rows.append({"mask_ratio": ratio, "hidden_sq_err": float(error.mean()),
                         "hidden_sq_err_per_pixel": float(error.mean() / n_hidden_pixels)})
        return {"masking": {"patch_size": self.p, "trained_ratio": self.config.mask_ratio, "sweep": rows}}

    @torch.no_grad()
    def figures(self, data, measured: dict) -> dict[str, Figure]:
        rows = measured["masking"]["sweep"]
        x = data.test_x[:10]
        grid, labels = [x], ["test"]
        for ratio in REPORT_RATIOS:
            hidden = random_mask(len(x), self.n_patches, ratio, torch.Generator().manual_seed(0))
            shown = torch.where(hidden[:, :, None], torch.full_like(self.patchify(x), 0.5), self.patchify(x))
            grid += [self.unpatchify(shown), self.fill_in(x, hidden)]
            labels += [f"visible {ratio:g}", f"filled in {ratio:g}"]
        return {"error_vs_mask_ratio.png": Curves({"": ([r["mask_ratio"] for r in rows],
                                                        [r["hidden_sq_err_per_pixel"] for r in rows])},
                                                  "mask ratio", "squared error per hidden pixel",
                                                  f"trained at mask ratio {self.config.mask_ratio:g}"),
                "masked_reconstructions.png": ImageGrid(
                    grid, labels, "hidden patches grey; below, the hidden patches filled in by the decoder")}
