"""The contractive autoencoder (Rifai et al. 2011): the squared Frobenius norm of the encoder's Jacobian,
||d code / d x||_F^2, as a penalty, so that the code changes little when the input moves off the data.

"exact" sums the squares of every row of the Jacobian (one backward pass per code dimension: for small
codes); "stochastic" uses E_v ||J^T v||^2 = ||J||_F^2 with v ~ N(0, I) over the code (Hutchinson's
estimator, `projections` draws: one backward pass each), unbiased and cheap for large models.
The encoder must treat examples independently (no batch norm), which the config enforces.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aeflow.config import choice, require
from aeflow.figures import Curves, Figure
from aeflow.models.autoencoder import Autoencoder, AutoencoderConfig
from aeflow.models.registry import register


@dataclass
class ContractiveAEConfig(AutoencoderConfig):
    norm: str = "none"
    contractive_weight: float = 0.1
    jacobian: str = "stochastic"     # exact | stochastic
    projections: int = 1             # stochastic: random projections per example

    def validate(self) -> None:
        super().validate()
        choice("jacobian", self.jacobian, ["exact", "stochastic"])
        require(self.norm != "batch", "norm=batch mixes examples in the encoder's Jacobian; use none or layer")
        require(self.projections >= 1 and self.contractive_weight >= 0, "projections >= 1, contractive_weight >= 0")


def jacobian_frobenius(encoder, x: torch.Tensor, method: str = "exact", projections: int = 1,
                       create_graph: bool = False) -> torch.Tensor:
    """||J(x)||_F^2 per example (J = d encoder(x) / d x), exactly or by Hutchinson's estimator."""
    x = x.detach().requires_grad_(True)
    z = encoder(x)
    total = torch.zeros(len(x), device=x.device)
    if method == "exact":
        for j in range(z.shape[1]):
            (row,) = torch.autograd.grad(z[:, j].sum(), x, create_graph=create_graph, retain_graph=True)
            total = total + row.flatten(1).pow(2).sum(1)
        return total
    for _ in range(projections):
        v = torch.randn_like(z)
        (jtv,) = torch.autograd.grad(z, x, grad_outputs=v, create_graph=create_graph, retain_graph=True)
        total = total + jtv.flatten(1).pow(2).sum(1)
    return total / projections


@register("contractive-ae")
class ContractiveAutoencoder(Autoencoder):
    """An autoencoder penalised by ||d code / d x||_F^2 (exact or Hutchinson's estimate)."""

    Config = ContractiveAEConfig

    def loss(self, batch) -> dict[str, torch.Tensor]:
        x = batch["x"]
        terms = self.reconstruction_terms(self.encode(x), x)
        with torch.enable_grad():
            penalty = jacobian_frobenius(self.encode, x, self.config.jacobian, self.config.projections,
                                         create_graph=self.training).mean()
        terms["loss"] = terms["loss"] + self.config.contractive_weight * penalty
        terms["jacobian_frobenius_sq"] = penalty.detach()
        return terms

    def measure(self, data) -> dict:
        self.eval()
        x = data.test_x[:500]
        exact = float(jacobian_frobenius(self.encode, x, "exact").mean())
        stochastic = float(jacobian_frobenius(self.encode, x, "stochastic", projections=8).mean())
        spectrum = jacobian_spectrum(self.encode, data.test_x[:50])
        return {"contractive": {"jacobian_frobenius_sq_exact": exact, "jacobian_frobenius_sq_stochastic_8": stochastic,
                                "jacobian_singular_values": [round(float(v), 5) for v in spectrum],
                                **code_sensitivity(self, data.test_x)}}

    def figures(self, data, measured: dict) -> dict[str, Figure]:
        spectrum = measured["contractive"]["jacobian_singular_values"]
        return {"jacobian_spectrum.png": Curves({"": (list(range(1, len(spectrum) + 1)), spectrum)},
                                                "singular value index",
                                                "singular value of d code / d x (mean over 50 test images)",
                                                "the directions the code still responds to", log_y=True)}


@torch.no_grad()
def code_sensitivity(model, x: torch.Tensor, scale: float = 0.01, seed: int = 0) -> dict[str, float]:
    """How far codes move under small input perturbations: mean ||f(x + d) - f(x)|| / ||d|| with
    d ~ scale * N(0, I); also divided by the codes' standard deviation, so that a model cannot look
    insensitive by merely shrinking its codes."""
    was_training = model.training
    model.eval()
    delta = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)) * scale
    z = model.encode(x)
    ratio = (model.encode(x + delta) - z).norm(dim=1) / delta.flatten(1).norm(dim=1)
    model.train(was_training)
    return {"code_sensitivity": float(ratio.mean()), "code_sensitivity_per_code_std": float(ratio.mean() / z.std()),
            "perturbation_scale": scale}


def jacobian_spectrum(encoder, x: torch.Tensor) -> torch.Tensor:
    """Singular values of the encoder's Jacobian, largest first, averaged over the images in x (Rifai et
    al.'s picture: a contractive code keeps a few large ones, the directions along the data)."""
    x = x.detach().requires_grad_(True)
    z = encoder(x)
    rows = [torch.autograd.grad(z[:, j].sum(), x, retain_graph=True)[0].flatten(1) for j in range(z.shape[1])]
    jacobians = torch.stack(rows, 1)                      # (N, code, pixels)
    return torch.linalg.svdvals(jacobians).mean(0).detach()
