"""Priors over codes: N(0, I), and a Gaussian mixture fitted after training ("ex-post density
estimation", Ghosh et al. 2020) to any model that can encode and decode.

The mixture is fitted by scikit-learn's GaussianMixture on the training-set codes and saved with the run
(`prior-gmm.safetensors`: weights, means, Cholesky factors of the covariances; `prior-gmm.yaml`: its
settings), and sampled in torch from those arrays, so a seed gives the same samples after a reload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from aeflow.config import choice, from_dict, require, to_dict
from aeflow.errors import ConfigError
from aeflow.train.checkpoint import atomic_save, read_tensors

GMM_WEIGHTS, GMM_CONFIG = "prior-gmm.safetensors", "prior-gmm.yaml"


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


@dataclass
class GMMPrior:
    config: GMMConfig
    weights: torch.Tensor      # (K,)
    means: torch.Tensor        # (K, d)
    cholesky: torch.Tensor     # (K, d, d): covariance = L L^T
    extra: dict = field(default_factory=dict)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.means.shape[1], generator=generator, dtype=self.means.dtype)
        return self.means[component] + torch.einsum("nij,nj->ni", self.cholesky[component], eps)

    def save(self, run_dir: Path) -> None:
        atomic_save({"weights": self.weights, "means": self.means, "cholesky": self.cholesky}, run_dir / GMM_WEIGHTS)
        (run_dir / GMM_CONFIG).write_text(yaml.safe_dump({**to_dict(self.config), **self.extra}, sort_keys=False))


def fit_gmm_prior(model, train_x: torch.Tensor, config: GMMConfig, batch_size: int = 2000) -> GMMPrior:
    from sklearn.mixture import GaussianMixture

    if not model.supports("encode") or not model.supports("decode"):
        raise ConfigError(f"{model.registry_name} cannot encode and decode: a code prior needs both")
    x = train_x[:config.fit_subset] if config.fit_subset else train_x
    with torch.no_grad():
        codes = torch.cat([model.encode(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)])
    gmm = GaussianMixture(config.n_components, covariance_type=config.covariance_type, random_state=config.seed,
                          max_iter=config.max_iter).fit(codes.double().numpy())
    k, d = config.n_components, codes.shape[1]
    cov = torch.as_tensor(gmm.covariances_, dtype=torch.float64)
    if config.covariance_type == "diag":
        cov = torch.diag_embed(cov)
    elif config.covariance_type == "spherical":
        cov = cov[:, None, None] * torch.eye(d, dtype=torch.float64)
    elif config.covariance_type == "tied":
        cov = cov.expand(k, d, d)
    return GMMPrior(config, torch.as_tensor(gmm.weights_), torch.as_tensor(gmm.means_), torch.linalg.cholesky(cov),
                    {"n_codes": len(codes), "train_avg_log_likelihood": float(gmm.score(codes.double().numpy()))})


def load_prior(run_dir: str | Path) -> GMMPrior:
    run_dir = Path(run_dir)
    if not (run_dir / GMM_WEIGHTS).exists():
        raise ConfigError(f"{run_dir} has no fitted GMM prior; fit one with `aeflow sample {run_dir} --prior gmm`")
    tensors, _ = read_tensors(run_dir / GMM_WEIGHTS)
    settings = yaml.safe_load((run_dir / GMM_CONFIG).read_text()) or {}
    config = from_dict(GMMConfig, {k: v for k, v in settings.items() if k in GMMConfig.__dataclass_fields__},
                       "prior-gmm.yaml")
    extra = {k: v for k, v in settings.items() if k not in GMMConfig.__dataclass_fields__}
    return GMMPrior(config, tensors["weights"], tensors["means"], tensors["cholesky"], extra)


def sample_images(model, n: int, prior: str = "normal", gmm: GMMPrior | None = None, seed: int = 0,
                  temperature: float = 1.0, batch_size: int = 2000) -> torch.Tensor:
    """n images decoded from codes drawn from `prior` ("normal": N(0, temperature^2 I); "gmm"), clamped to [0, 1]."""
    choice("prior", prior, ["normal", "gmm"])
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    if prior == "gmm":
        if gmm is None:
            raise ConfigError("prior=gmm needs a fitted GMMPrior")
        codes = gmm.sample(n, generator).float()
    else:
        codes = _normal_codes(model, n, generator) * temperature
    with torch.no_grad():
        return torch.cat([model.decode(codes[i:i + batch_size]) for i in range(0, n, batch_size)]).clamp(0, 1)


def _normal_codes(model, n: int, generator: torch.Generator) -> torch.Tensor:
    with torch.no_grad():  # the code size, read off the encoder
        code_shape = model.encode(torch.zeros(2, *model.input_shape)).shape[1:]
    return torch.randn(n, *code_shape, generator=generator)
