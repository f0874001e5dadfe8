"""Linear and kernel baselines behind the same encode / decode / reconstruct interface.

PCA and kernel PCA are fitted by scikit-learn; their fitted arrays become buffers, so they save to
safetensors and run in torch like every other model. Logistic PCA (Collins, Dasgupta & Schapire 2001;
the baseline of Hinton & Salakhutdinov 2006) is fitted here by alternating Newton steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from aeflow.config import require
from aeflow.models.base import FittedModel
from aeflow.models.registry import register


@dataclass
class PCAConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    n_components: int = 30

    def validate(self) -> None:
        d = math.prod(self.input_shape)
        require(1 <= self.n_components <= d, f"n_components must be in 1..{d} for inputs of shape "
                f"{tuple(self.input_shape)}, got {self.n_components}")


@register("pca")
class PCA(FittedModel):
    """x ~ mean + z W with orthonormal rows of W: the best rank-k linear code in squared error."""

    Config = PCAConfig

    def __init__(self, config: PCAConfig) -> None:
        super().__init__(config)
        d = math.prod(config.input_shape)
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("components", torch.zeros(config.n_components, d))

    def fit(self, x: torch.Tensor) -> FittedModel:
        from sklearn.decomposition import PCA as SkPCA

        data = self.flat(x).double().numpy()
        require(len(data) >= self.config.n_components,
                f"PCA with {self.config.n_components} components needs at least as many examples, got {len(data)}")
        pca = SkPCA(n_components=self.config.n_components, svd_solver="full").fit(data)
        self.mean.copy_(torch.from_numpy(pca.mean_))
        self.components.copy_(torch.from_numpy(pca.components_))
        return self

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (self.flat(x).to(self.mean.dtype) - self.mean) @ self.components.T

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.unflat(z.to(self.components.dtype) @ self.components + self.mean)


@dataclass
class LogisticPCAConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    n_components: int = 30
    iterations: int = 10          # alternations of the code step and the dictionary step
    encode_iterations: int = 25   # Newton steps to encode new data
    l2: float = 1e-3              # ridge on codes and weights: keeps the optimum finite (always-0 pixels)

    def validate(self) -> None:
        require(self.n_components >= 1, f"n_components must be >= 1, got {self.n_components}")
        require(self.iterations >= 1 and self.encode_iterations >= 1, "iterations must be >= 1")
        require(self.l2 > 0, f"l2 must be > 0, got {self.l2}")


def _bce_sum(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood, summed over pixels: one value per row."""
    return (torch.nn.functional.softplus(logits) - x * logits).sum(-1)  # = BCE(x, sigmoid(logits)), fewer temporaries


def _newton_rows(params: torch.Tensor, design: torch.Tensor, x: torch.Tensor, offset: torch.Tensor,
                 l2: float, steps: int) -> torch.Tensor:
    """Minimise, independently for every row r of `params`, the ridge-penalised logistic loss
        sum_n BCE(x[r, n], sigmoid(params[r] . design[n] + offset[r, n])) + l2/2 |params[r]|^2
    by Newton's method with step halving (each problem is strictly convex)."""
    p_dim = design.shape[1]
    outer = (design[:, :, None] * design[:, None, :]).reshape(len(design), p_dim * p_dim)
    eye = torch.eye(p_dim, dtype=params.dtype)

    def objective(theta: torch.Tensor, rows: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        return _bce_sum(theta @ design.T + offset[rows], x[rows]) + 0.5 * l2 * theta.pow(2).sum(-1)

    f = objective(params)
    for _ in range(steps):
        prob = torch.sigmoid(params @ design.T + offset)
        grad = (prob - x) @ design + l2 * params
        hess = (prob * (1 - prob)) @ outer
        step = torch.linalg.solve(hess.reshape(-1, p_dim, p_dim) + l2 * eye, grad.unsqueeze(-1)).squeeze(-1)
        candidate, f_new = params - step, objective(params - step)
        for _ in range(20):  # backtracking: halve the step of the rows whose objective rose, re-evaluate only them
            rows = (f_new > f + 1e-9 * f.abs().clamp_min(1.0)).nonzero().squeeze(1)
            if len(rows) == 0:
                break
            step[rows] *= 0.5
            candidate[rows] = params[rows] - step[rows]
            f_new[rows] = objective(candidate[rows], rows)
        keep = f_new > f  # rows that found no descent keep their parameters
        params, f = torch.where(keep[:, None], params, candidate), torch.where(keep, f, f_new)
    return params


@register("logistic-pca")
class LogisticPCA(FittedModel):
    """x ~ Bernoulli(sigmoid(z V + b)): PCA's low-rank model in the logit space of binary-ish pixels.

    Encoding solves the (convex) code problem for each image with V, b fixed; the reconstruction is the
    Bernoulli mean sigmoid(z V + b)."""

    Config = LogisticPCAConfig

    def __init__(self, config: LogisticPCAConfig) -> None:
        super().__init__(config)
        d = math.prod(config.input_shape)
        self.register_buffer("components", torch.zeros(config.n_components, d))
        self.register_buffer("bias", torch.zeros(d))

    def _codes(self, x: torch.Tensor, steps: int, init: torch.Tensor | None = None) -> torch.Tensor:
        z0 = torch.zeros(len(x), self.config.n_components, dtype=x.dtype) if init is None else init
        offset = self.bias.to(x.dtype).expand_as(x)
        return _newton_rows(z0, self.components.to(x.dtype).T, x, offset, self.config.l2, steps)

    def fit(self, x: torch.Tensor) -> FittedModel:
        data = self.flat(x).float()
        k = self.config.n_components
        mean = data.mean(0).clamp(1e-3, 1 - 1e-3)
        # Start from PCA directions: a good basin for the non-convex joint problem.
        _, _, vh = torch.linalg.svd(data - data.mean(0), full_matrices=False)
        weights = torch.cat([vh[:k] * 4.0, torch.log(mean / (1 - mean))[None]], 0)  # (k+1, d)
        codes = None
        for _ in range(self.config.iterations):
            self.components.copy_(weights[:k])
            self.bias.copy_(weights[k])
            codes = self._codes(data, steps=2, init=codes)
            design = torch.cat([codes, torch.ones(len(codes), 1, dtype=codes.dtype)], 1)
            weights = _newton_rows(weights.T.contiguous(), design, data.T.contiguous(),
                                   torch.zeros_like(data.T), self.config.l2, steps=2).T
        self.components.copy_(weights[:k])
        self.bias.copy_(weights[k])
        return self

    def loss(self, batch) -> dict[str, torch.Tensor]:
        """The fitted objective on `x` (codes optimised): its Bernoulli NLL per image, in nats."""
        x = batch["x"]
        data = self.flat(x).float()
        z = self._codes(data, self.config.encode_iterations)
        nll = _bce_sum(z @ self.components + self.bias, data).mean()
        return {"loss": nll, "nll": nll}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._codes(self.flat(x).float(), self.config.encode_iterations).to(x.dtype)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.unflat(torch.sigmoid(z.to(self.components.dtype) @ self.components + self.bias))


@dataclass
class KernelPCAConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    n_components: int = 30
    kernel: str = "rbf"
    gamma: float | None = None       # RBF width on inputs; None: 1 / (number of input dimensions)
    fit_subset: int = 5000            # kernel PCA is O(n^2) in memory, O(n^3) in time: fit on the first n
    preimage_alpha: float = 0.01      # ridge of the kernel regression from codes back to inputs
    preimage_gamma: float | None = None  # RBF width on codes; None: 1 / median squared code distance

    def validate(self) -> None:
        require(self.n_components >= 1, f"n_components must be >= 1, got {self.n_components}")
        require(self.kernel == "rbf",
                f"kernel must be rbf (the only one with a pre-image map here), got {self.kernel!r}")
        require(self.fit_subset >= self.n_components, "fit_subset must be >= n_components")
        require(self.preimage_alpha > 0, "preimage_alpha must be > 0")


def _rbf(a: torch.Tensor, b: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    return torch.exp(-gamma * torch.cdist(a, b).pow(2))


@register("kernel-pca")
class KernelPCA(FittedModel):
    """Kernel PCA (scikit-learn's KernelPCA) with a learned pre-image map (scikit-learn's KernelRidge)."""

    Config = KernelPCAConfig

    def __init__(self, config: KernelPCAConfig) -> None:
        super().__init__(config)
        d, k, m = math.prod(config.input_shape), config.n_components, config.fit_subset
        for name, shape in [("x_fit", (m, d)), ("k_fit_rows", (m,)), ("k_fit_all", ()), ("scaled_alphas", (m, k)),
                            ("codes_fit", (m, k)), ("dual_coef", (m, d)), ("gamma", ()), ("preimage_gamma", ())]:
            self.register_buffer(name, torch.zeros(shape, dtype=torch.float64))

    def fit(self, x: torch.Tensor) -> FittedModel:
        from sklearn.decomposition import KernelPCA as SkKernelPCA
        from sklearn.kernel_ridge import KernelRidge

        data = self.flat(x).double().numpy()
        m = self.config.fit_subset
        require(len(data) >= m, f"kernel-pca: fit_subset={m} but only {len(data)} training examples; "
                f"pass -m fit_subset={len(data)}")
        data = data[:m]
        gamma = self.config.gamma or 1.0 / data.shape[1]
        kpca = SkKernelPCA(self.config.n_components, kernel="rbf", gamma=gamma, eigen_solver="arpack",
                           random_state=0).fit(data)
        codes = kpca.transform(data)
        sq = torch.cdist(torch.from_numpy(codes), torch.from_numpy(codes)).pow(2)
        pre_gamma = self.config.preimage_gamma or 1.0 / float(sq[sq > 0].median())
        ridge = KernelRidge(alpha=self.config.preimage_alpha, kernel="rbf", gamma=pre_gamma).fit(codes, data)
        # KernelPCA centres a new kernel row with the training kernel's column means and grand mean.
        k_fit_rows = _rbf(torch.from_numpy(data), torch.from_numpy(data), torch.tensor(gamma)).mean(0)
        positive = kpca.eigenvalues_ > 0
        alphas = np.where(positive, kpca.eigenvectors_ / np.sqrt(np.where(positive, kpca.eigenvalues_, 1)), 0)
        for name, value in [("x_fit", data), ("k_fit_rows", k_fit_rows), ("k_fit_all", k_fit_rows.mean()),
                            ("scaled_alphas", alphas), ("codes_fit", codes), ("dual_coef", ridge.dual_coef_),
                            ("gamma", gamma), ("preimage_gamma", pre_gamma)]:
            getattr(self, name).copy_(torch.as_tensor(value, dtype=torch.float64))
        return self

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        k = _rbf(self.flat(x).double(), self.x_fit, self.gamma)
        k_centred = k - self.k_fit_rows - k.mean(1, keepdim=True) + self.k_fit_all
        return (k_centred @ self.scaled_alphas).to(x.dtype)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = _rbf(z.double(), self.codes_fit, self.preimage_gamma) @ self.dual_coef
        return self.unflat(out.float())
