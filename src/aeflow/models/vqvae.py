"""The VQ-VAE (van den Oord et al. 2017): a convolutional encoder's feature map (7x7 for MNIST, 2x2 for
the 8x8 digits) snapped to the nearest of `codebook_size` learned vectors, decoded by the mirror image.

- Straight-through gradients: the decoder's input is z_e + sg(e - z_e), so the reconstruction gradient
  reaches the encoder as if quantisation were the identity.
- Loss: reconstruction (squared error summed over pixels) + ||sg(z_e) - e||^2 (codebook) +
  commitment * ||z_e - sg(e)||^2, summed over positions and code dimensions, averaged over the batch.
- Options: EMA codebook updates (Razavi et al. 2019; the codebook loss is then dropped), k-means
  initialisation of the codebook on the first training batch, restarts of dead codes (unused for
  `restart_after` batches) at random encoder outputs of the current batch.
- Codebook usage every epoch: perplexity (exp of the entropy of code frequencies) and the fraction of
  codes unused, as loss-dict metrics.
- The prior for sampling is an *independent categorical distribution per position*, fitted to the
  training set's tokens after training (`aeflow.priors.CategoricalPrior`, saved with the run). It
  ignores dependencies between positions, so samples
  are rough; an autoregressive prior (PixelCNN over the code map) is the known better choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from aeflow.config import choice, require
from aeflow.models.base import Model
from aeflow.models.registry import register
from aeflow.nn import ACTIVATIONS, conv_features, conv_upsampler, feature_shape


@dataclass
class VQVAEConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    channels: list[int] = field(default_factory=lambda: [32, 64])
    code_dim: int = 16              # dimension of each codebook vector
    codebook_size: int = 64
    commitment: float = 0.25
    ema: bool = True                # EMA codebook updates instead of the codebook loss
    ema_decay: float = 0.99
    kmeans_init: bool = True        # initialise the codebook by k-means on the first training batch
    restart_after: int = 100        # restart a code unused for this many training batches (0 = never)
    activation: str = "silu"

    def validate(self) -> None:
        require(len(self.input_shape) == 3, "vq-vae needs image data (C, H, W)")
        require(self.codebook_size >= 2 and self.code_dim >= 1,
                f"codebook_size must be >= 2 and code_dim >= 1, got {self.codebook_size} and {self.code_dim}")
        require(0 < self.ema_decay < 1 and self.commitment >= 0 and self.restart_after >= 0,
                "ema_decay in (0, 1), commitment >= 0, restart_after >= 0")
        choice("activation", self.activation, ACTIVATIONS)


def kmeans(x: torch.Tensor, k: int, iterations: int = 10, generator: torch.Generator | None = None) -> torch.Tensor:
    """Lloyd's algorithm from k random points of x (empty clusters keep their centre)."""
    centres = x[torch.randperm(len(x), generator=generator)[:k]].clone()
    for _ in range(iterations):
        assign = torch.cdist(x, centres).argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1)
        centres = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
    return centres


@register("vq-vae")
class VQVAE(Model):
    """A VQ-VAE: a code map snapped to a learned codebook; categorical prior per position for sampling."""

    Config = VQVAEConfig

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__(config)
        c, self.grid_h, self.grid_w = feature_shape(config.input_shape, config.channels)
        self.encoder = nn.Sequential(*conv_features(config.input_shape, config.channels, config.activation),
                                     nn.Conv2d(c, config.code_dim, 1))
        self.decoder = nn.Sequential(nn.Conv2d(config.code_dim, c, 3, padding=1), ACTIVATIONS[config.activation](),
                                     *conv_upsampler(config.input_shape, config.channels, config.activation))
        k, d = config.codebook_size, config.code_dim
        self.codebook = nn.Parameter(torch.randn(k, d) / math.sqrt(d), requires_grad=not config.ema)
        self.register_buffer("ema_counts", torch.ones(k))
        self.register_buffer("ema_sums", self.codebook.detach().clone())
        self.register_buffer("batches_unused", torch.zeros(k, dtype=torch.long))
        self.register_buffer("initialised", torch.tensor(not config.kmeans_init))
        self.codebook_size, self.token_grid = k, (self.grid_h, self.grid_w)
        self.state_outside_gradients = config.ema or config.kmeans_init

    @property
    def positions(self) -> int:
        return self.grid_h * self.grid_w

    def encode_continuous(self, x: torch.Tensor) -> torch.Tensor:
        """z_e as (B, positions, code_dim)."""
        return self.encoder(x).flatten(2).transpose(1, 2)

    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codebook vector for each position: (B, positions)."""
        flat = z_e.reshape(-1, z_e.shape[-1])
        return torch.cdist(flat, self.codebook.detach()).argmin(1).reshape(z_e.shape[:-1])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The quantised code, flattened: (B, positions * code_dim)."""
        return self.codebook[self.nearest(self.encode_continuous(x))].flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        z = z.reshape(len(z), self.grid_h, self.grid_w, self.config.code_dim).permute(0, 3, 1, 2)
        return torch.sigmoid(self.decoder(z))

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Codebook indices per position: (B, positions)."""
        return self.nearest(self.encode_continuous(x))

    def decode_tokens(self, indices: torch.Tensor) -> torch.Tensor:
        return self.decode(self.codebook[indices].flatten(1))

    def loss(self, batch) -> dict[str, torch.Tensor]:
        x = batch["x"]
        z_e = self.encode_continuous(x)
        if self.training and not bool(self.initialised):
            with torch.no_grad():
                self.codebook.copy_(kmeans(z_e.reshape(-1, z_e.shape[-1]).float(), self.config.codebook_size))
                self.ema_sums.copy_(self.codebook)
                self.ema_counts.fill_(1.0)
                self.initialised.fill_(True)
        indices = self.nearest(z_e)
        e = self.codebook[indices]
        z_q = z_e + (e - z_e).detach()   # straight-through
        logits = self.decoder(z_q.transpose(1, 2).reshape(len(x), -1, self.grid_h, self.grid_w)).float()
        recon = (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1).mean()
        commitment = (z_e - e.detach()).pow(2).sum((1, 2)).mean()
        loss = recon + self.config.commitment * commitment
        terms: dict[str, torch.Tensor] = {}
        if not self.config.ema:
            codebook_loss = (z_e.detach() - e).pow(2).sum((1, 2)).mean()
            loss = loss + codebook_loss
            terms["codebook"] = codebook_loss.detach()
        counts = torch.bincount(indices.flatten(), minlength=self.config.codebook_size).float()
        if self.training:
            self._update_codebook(z_e.detach(), indices, counts)
        freq = counts / counts.sum()
        perplexity = torch.exp(-(freq * freq.clamp_min(1e-12).log()).sum())
        return {"loss": loss, "recon": recon.detach(), "commitment": commitment.detach(), **terms,
                "perplexity": perplexity, "dead_fraction": (counts == 0).float().mean()}

    @torch.no_grad()
    def _update_codebook(self, z_e: torch.Tensor, indices: torch.Tensor, counts: torch.Tensor) -> None:
        flat, idx = z_e.reshape(-1, z_e.shape[-1]).float(), indices.flatten()
        if self.config.ema:
            decay = self.config.ema_decay
            self.ema_counts.mul_(decay).add_(counts, alpha=1 - decay)
            self.ema_sums.mul_(decay).index_add_(0, idx, flat, alpha=1 - decay)
            n = self.ema_counts.sum()
            smoothed = (self.ema_counts + 1e-5) / (n + self.config.codebook_size * 1e-5) * n  # Laplace smoothing
            self.codebook.copy_(self.ema_sums / smoothed.unsqueeze(1))
        self.batches_unused.add_(1).masked_fill_(counts > 0, 0)
        if self.config.restart_after:
            dead = (self.batches_unused >= self.config.restart_after).nonzero().flatten()
            if len(dead):
                picks = flat[torch.randint(0, len(flat), (len(dead),), device=flat.device)]
                self.codebook[dead] = picks
                self.ema_sums[dead] = picks
                self.ema_counts[dead] = 1.0
                self.batches_unused[dead] = 0

    @torch.no_grad()
    def measure(self, data) -> dict:
        self.eval()
        indices = torch.cat([self.tokens(data.train_x[i:i + 2000]) for i in range(0, len(data.train_x), 2000)])
        overall = F.one_hot(indices, self.config.codebook_size).sum((0, 1)).float()
        overall = overall / overall.sum()
        return {"codebook": {"size": self.config.codebook_size, "grid": [self.grid_h, self.grid_w],
                             "perplexity_train": float(torch.exp(-(overall * overall.clamp_min(1e-12).log()).sum())),
                             "dead_fraction_train": float((overall == 0).float().mean()),
                             "bits_per_image": self.positions * math.log2(self.config.codebook_size),
                             "prior": "independent categorical per position"}}
