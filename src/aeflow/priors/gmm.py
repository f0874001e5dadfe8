"""A Gaussian mixture fitted to the training codes after training ("ex-post density estimation", Ghosh et
al. 2020): scikit-learn's GaussianMixture fits it; it is kept as weights, means and Cholesky factors of the
covariances and sampled in torch, so a seed gives the same samples after a reload."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aeflow.config import choice, require
from aeflow.priors.base import CodePrior, encode_batched, register_prior


@dataclass
class GMMConfig:
    n_components: int = 10
    covariance_type: str = "full"   # full | diag | spherical | tied (scikit-learn's names)
    seed: int = 0
    max_iter: int = 200
    fit_subset: int | None = None   # fit on the first N training codes (None: all)

    def validate(self) -> None:
        require(self.n_components >= 1, f"n_components must be >= 1, got {self.n_components}")
        choice("covariance_type", self.covariance_type, ["full", "diag", "spherical", "tied"])
        require(self.max_iter >= 1, "max_iter must be >= 1")


@register_prior
class GMMPrior(CodePrior):
    name = "gmm"
    Config = GMMConfig

    def fit(self, model, train_x: torch.Tensor) -> GMMPrior:
        from sklearn.mixture import GaussianMixture

        self.check(model)
        cfg = self.config
        codes = encode_batched(model, train_x[:cfg.fit_subset] if cfg.fit_subset else train_x).double().numpy()
        require(len(codes) >= cfg.n_components,
                f"a {cfg.n_components}-component mixture needs at least as many codes, and the run has "
                f"{len(codes)} training codes; choose fewer --components")
        gmm = GaussianMixture(cfg.n_components, covariance_type=cfg.covariance_type, random_state=cfg.seed,
                              max_iter=cfg.max_iter).fit(codes)
        k, d = cfg.n_components, codes.shape[1]
        cov = torch.as_tensor(gmm.covariances_, dtype=torch.float64)
        if cfg.covariance_type == "diag":
            cov = torch.diag_embed(cov)
        elif cfg.covariance_type == "spherical":
            cov = cov[:, None, None] * torch.eye(d, dtype=torch.float64)
        elif cfg.covariance_type == "tied":
            cov = cov.expand(k, d, d)
        self.state = {"weights": torch.as_tensor(gmm.weights_), "means": torch.as_tensor(gmm.means_),
                      "cholesky": torch.linalg.cholesky(cov).contiguous()}
        self.extra = {"n_codes": len(codes), "train_avg_log_likelihood": float(gmm.score(codes))}
        return self

    def state_problem(self) -> str | None:
        k = self.config.n_components
        weights, means, cholesky = (self.state.get(key) for key in ("weights", "means", "cholesky"))
        if weights is None or means is None or cholesky is None:
            return "it lacks the mixture's weights, means or Cholesky factors"
        d = means.shape[-1]
        if weights.shape != (k,) or means.shape != (k, d) or cholesky.shape != (k, d, d):
            return (f"shapes {tuple(weights.shape)}, {tuple(means.shape)}, {tuple(cholesky.shape)} do not make a "
                    f"{k}-component mixture")
        if (weights < 0).any() or abs(float(weights.sum()) - 1) > 1e-6:
            return "its mixture weights are not a distribution"
        return None

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """Codes from the mixture; `temperature` scales each component's standard deviations."""
        weights, means, cholesky = self.state["weights"], self.state["means"], self.state["cholesky"]
        component = torch.multinomial(weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, means.shape[1], generator=generator, dtype=means.dtype) * temperature
        return (means[component] + torch.einsum("nij,nj->ni", cholesky[component], eps)).float()
