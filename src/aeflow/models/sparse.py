"""Sparse autoencoders: an overcomplete code (more units than pixels, if you like) kept sparse by
- "l1": a penalty l1_weight * |z|_1 on ReLU codes;
- "kl": sigmoid codes whose average activation rho_hat (over the batch) is pulled to a target rho by
  sum_j KL(rho || rho_hat_j) (Ng's sparse autoencoder notes);
- "topk": only the k largest pre-activations survive (Makhzani & Frey 2013; Gao et al. 2024), with
  their auxiliary loss: the residual is also reconstructed from the top `aux_k` *dead* latents (not
  active for `dead_after` training images), which revives them.
The decoder is linear with columns kept at unit norm by construction (normalised in every forward
pass), so sparsity cannot be bought by shrinking codes and growing the dictionary. A pre-decoder bias
is subtracted before encoding (Gao et al.).

`report` writes L0 (sigmoid codes: units above 0.1), the dead fraction, normalised MSE (centred:
divided by the squared error of predicting the mean image), the dictionary (decoder columns as images)
and error against k for a top-k slider.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from aeflow.config import choice, require
from aeflow.figures import Curves, Figure, ImageGrid
from aeflow.models.base import Model
from aeflow.models.registry import register

KL_ACTIVE = 0.1  # sigmoid codes (kl sparsity) are never exactly zero: a unit counts as active above this


@dataclass
class SparseAEConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    code_dim: int = 256
    sparsity: str = "topk"       # l1 | kl | topk
    l1_weight: float = 0.05      # l1: weight of |z|_1 (nats-free: the loss is squared error)
    rho: float = 0.05            # kl: target mean activation
    kl_weight: float = 1.0       # kl: weight of sum_j KL(rho || rho_hat_j)
    k: int = 16                  # topk: active units per example
    aux_k: int = 64              # topk: dead units used by the auxiliary loss (0 = off)
    aux_weight: float = 1 / 32   # topk: weight of the auxiliary loss (Gao et al.)
    dead_after: int = 20_000     # a unit not active for this many training images is dead

    def validate(self) -> None:
        choice("sparsity", self.sparsity, ["l1", "kl", "topk"])
        require(self.code_dim >= 1, "code_dim must be >= 1")
        require(1 <= self.k <= self.code_dim, f"k must be in [1, code_dim={self.code_dim}], got {self.k}")
        require(0 < self.rho < 1, f"rho must be in (0, 1), got {self.rho}")
        require(min(self.l1_weight, self.kl_weight, self.aux_weight) >= 0 and self.aux_k >= 0,
                "weights and aux_k must be >= 0")


def kl_sparsity(rho: float, rho_hat: torch.Tensor) -> torch.Tensor:
    """sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)); zero exactly when every rho_hat_j = rho."""
    rho_hat = rho_hat.clamp(1e-6, 1 - 1e-6)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def keep_top_k(pre: torch.Tensor, k: int) -> torch.Tensor:
    """ReLU of the k largest entries of each row, zeros elsewhere."""
    values, indices = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, indices, F.relu(values))


@register("sparse-ae")
class SparseAutoencoder(Model):
    """An overcomplete code kept sparse by L1, KL(rho || rho_hat) or top-k; unit-norm dictionary."""

    Config = SparseAEConfig

    def __init__(self, config: SparseAEConfig) -> None:
        super().__init__(config)
        d = math.prod(config.input_shape)
        self.encoder = nn.Linear(d, config.code_dim)
        self.dictionary = nn.Parameter(torch.randn(d, config.code_dim) / math.sqrt(d))
        self.pre_bias = nn.Parameter(torch.zeros(d))
        with torch.no_grad():  # tied initialisation (Gao et al.): the encoder starts as the dictionary's transpose
            self.encoder.weight.copy_(self.unit_dictionary().T)
            self.encoder.bias.zero_()
        self.register_buffer("images_since_active", torch.zeros(config.code_dim, dtype=torch.long))
        self.state_outside_gradients = config.sparsity == "topk" and config.aux_k > 0   # the dead units it revives

    def unit_dictionary(self) -> torch.Tensor:
        return self.dictionary / self.dictionary.norm(dim=0, keepdim=True).clamp_min(1e-8)

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.flat(x) - self.pre_bias)

    def activate(self, pre: torch.Tensor, k: int | None = None) -> torch.Tensor:
        if self.config.sparsity == "topk":
            z = keep_top_k(pre, self.config.k)
        else:
            z = torch.sigmoid(pre) if self.config.sparsity == "kl" else F.relu(pre)
        return keep_top_k(z, k) if k is not None else z  # codes are >= 0: keeps the k largest

    def encode(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor:
        """The sparse code; `k` keeps only the k largest activations (the top-k slider)."""
        return self.activate(self.pre_activations(x), k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.unflat(z @ self.unit_dictionary().T + self.pre_bias)

    def loss(self, batch) -> dict[str, torch.Tensor]:
        x = batch["x"]
        pre = self.pre_activations(x)
        z = self.activate(pre)
        x_flat = self.flat(x)
        residual = x_flat - (z @ self.unit_dictionary().T + self.pre_bias)
        sq_err = residual.pow(2).sum(1).mean()
        terms = {"sq_err": sq_err.detach(), "l0": (z > 0).float().sum(1).mean()}
        loss = sq_err
        if self.config.sparsity == "l1":
            l1 = z.abs().sum(1).mean()
            loss = loss + self.config.l1_weight * l1
            terms["l1"] = l1.detach()
        elif self.config.sparsity == "kl":
            penalty = kl_sparsity(self.config.rho, z.mean(0))
            loss = loss + self.config.kl_weight * penalty
            terms["kl_sparsity"] = penalty.detach()
            terms["l0"] = (z > KL_ACTIVE).float().sum(1).mean()
        else:
            if self.training:
                fired = (z > 0).any(0)
                self.images_since_active.add_(len(x)).masked_fill_(fired, 0)
            dead = self.images_since_active >= self.config.dead_after
            if self.config.aux_k and self.training and dead.any():
                k_aux = min(self.config.aux_k, int(dead.sum()))
                z_dead = keep_top_k(pre.masked_fill(~dead, -torch.inf), k_aux).nan_to_num(0.0)
                aux = (residual.detach() - z_dead @ self.unit_dictionary().T).pow(2).sum(1).mean()
                loss = loss + self.config.aux_weight * aux
                terms["aux"] = aux.detach()
            terms["dead_fraction"] = dead.float().mean()
        return {"loss": loss, **terms}

    # -- what this family reports -----------------------------------------------------------------
    @torch.no_grad()
    def measure(self, data) -> dict:
        self.eval()
        x = data.test_x
        z = self.encode(x)
        centred = (x - data.train_x.mean(0)).pow(2).flatten(1).sum(1).mean()
        error = (self.reconstruct(x) - x).pow(2).flatten(1).sum(1).mean()
        threshold = KL_ACTIVE if self.config.sparsity == "kl" else 0.0
        fired = (self.encode(data.train_x) > threshold).any(0)
        ks = sorted({k for k in (1, 2, 4, 8, 16, 32, 64, 128, self.config.k) if k <= self.config.code_dim})
        slider = [{"k": k, "error": float((self.decode(self.encode(x, k)) - x).pow(2).flatten(1).sum(1).mean())}
                  for k in ks]
        return {"sparsity": {
            "l0": float((z > threshold).float().sum(1).mean()),
            "dead_fraction": float(1 - fired.float().mean()),
            "normalised_mse": float(error / centred), "normalised_mse_centred": True,
            "test_sq_err": float(error), "top_k_slider": slider}}

    @torch.no_grad()
    def figures(self, data, measured: dict) -> dict[str, Figure]:
        slider = measured["sparsity"]["top_k_slider"]
        figures: dict[str, Figure] = {"top_k_slider.png": Curves(
            {"": ([r["k"] for r in slider], [r["error"] for r in slider])},
            "k largest activations kept", "test squared error", "the top-k slider")}
        if data.is_image:
            atoms = self.atoms_by_usage(data.test_x)[:64]
            figures["dictionary.png"] = ImageGrid([atoms[i:i + 16] for i in range(0, len(atoms), 16)],
                                                  [""] * math.ceil(len(atoms) / 16),
                                                  "decoder columns (most used first), each rescaled")
        return figures

    @torch.no_grad()
    def atoms_by_usage(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's columns as images, most used on `x` first, each rescaled to [0, 1]."""
        columns = self.unit_dictionary().T.reshape(-1, *self.input_shape)
        atoms = columns[(self.encode(x) > 0).float().mean(0).argsort(descending=True)]
        low, high = atoms.amin((1, 2, 3), keepdim=True), atoms.amax((1, 2, 3), keepdim=True)
        return (atoms - low) / (high - low).clamp_min(1e-8)
