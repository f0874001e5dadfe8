"""`aeflow.check_model`: whether a model behaves as the capabilities it declares say (`aeflow.protocols`), on a
few images: the public conformance check (scikit-learn's check_estimator, for generative models). The tests run
it over every registered family; a model from another library that declares the protocols is checked the same
way before aeflow's samplers, priors and metrics are trusted on it."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from aeflow.errors import ConformanceError
from aeflow.protocols import (
    Discriminates,
    Encodes,
    HasLikelihood,
    HasLoss,
    HasPosterior,
    MapsNoise,
    NoisePredictor,
    NoiseSchedule,
    NoiseToData,
    Phased,
    Reconstructs,
    Samples,
    Tokenizes,
    VelocityField,
    WeightedTerms,
)
from aeflow.samplers import SAMPLERS, choose_sampler, generate, samplers_for


def _require(condition: bool, capability: str, what: str) -> None:
    if not condition:
        raise ConformanceError(f"{capability}: {what}")


def check_model(model: torch.nn.Module, x: torch.Tensor, batch: Mapping[str, torch.Tensor] | None = None
                ) -> list[str]:
    """Check every capability `model` declares on the images `x` (N >= 2, values in [0, 1]); `batch` is what its
    loss trains on when that is not `{"x": x}` (labels, derived data). Returns the capabilities checked; raises
    ConformanceError naming the first one that misbehaves."""
    _require(x.ndim >= 2 and len(x) >= 2, "input", f"give at least 2 images, got shape {tuple(x.shape)}")
    n, shape, checked = len(x), tuple(x.shape[1:]), []
    with torch.no_grad():
        for capability, check in CHECKS:
            if isinstance(model, capability):
                check(model, x, n, shape, batch)
                checked.append(capability.__name__)
    return checked


def _seeded() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _in_unit_range(images: torch.Tensor) -> bool:
    return bool(torch.isfinite(images).all()) and 0 <= float(images.min()) <= float(images.max()) <= 1


def _loss(model, x, n, shape, batch) -> None:
    with torch.enable_grad():
        terms = model.loss(dict(batch) if batch is not None else {"x": x})
    _require(isinstance(terms, dict) and "loss" in terms, "HasLoss", "loss(batch) must return a dict with 'loss'")
    _require(all(v.ndim == 0 and bool(torch.isfinite(v)) for v in terms.values()), "HasLoss",
             "every loss term must be a finite scalar")


def _encodes(model, x, n, shape, batch) -> None:
    z = model.encode(x)
    _require(z.ndim == 2 and len(z) == n, "Encodes", f"encode(x) must be (N, d), got {tuple(z.shape)}")
    _require(model.decode(z).shape == x.shape, "Encodes", "decode(encode(x)) must have x's shape")


def _reconstructs(model, x, n, shape, batch) -> None:
    _require(model.reconstruct(x).shape == x.shape, "Reconstructs", "reconstruct(x) must have x's shape")


def _posterior(model, x, n, shape, batch) -> None:
    mu, logvar = model.posterior(x)
    _require(mu.shape == logvar.shape == model.encode(x).shape, "HasPosterior",
             "posterior(x) must be (mu, logvar) of the code's shape, mu the code")


def _samples(model, x, n, shape, batch) -> None:
    a, b = model.sample(4, _seeded()), model.sample(4, _seeded())
    _require(a.shape == (4, *shape) and _in_unit_range(a), "Samples", "sample(n) must be n images in [0, 1]")
    _require(torch.equal(a, b), "Samples", "sample(n, generator) must be reproducible with the same seed")


def _likelihood(model, x, n, shape, batch) -> None:
    log_w = model.log_importance_weights(x, 3, _seeded())
    _require(log_w.shape == (3, n) and bool(torch.isfinite(log_w).all()), "HasLikelihood",
             "log_importance_weights(x, k) must be (k, N) and finite")


def _tokens(model, x, n, shape, batch) -> None:
    tokens = model.tokens(x)
    _require(tokens.shape == (n, model.token_grid[0] * model.token_grid[1]), "Tokenizes",
             "tokens(x) must be (N, grid height * width)")
    _require(0 <= int(tokens.min()) and int(tokens.max()) < model.codebook_size, "Tokenizes",
             "tokens must index the codebook")
    _require(model.decode_tokens(tokens).shape == x.shape, "Tokenizes", "decode_tokens must give x's shape")


def _phased(model, x, n, shape, batch) -> None:
    owned = [p for phase in model.phases for p in model.phase_parameters(phase)]
    _require(len(owned) == len({id(p) for p in owned}) == len(list(model.parameters())), "Phased",
             "the phases' parameters must partition the model's")


def _weighted(model, x, n, shape, batch) -> None:
    _require(isinstance(model.loss_weights, dict) and isinstance(model.weighted_terms, tuple), "WeightedTerms",
             "loss_weights must be a dict and weighted_terms a tuple of names")


def _discriminates(model, x, n, shape, batch) -> None:
    scores = model.discriminate(x)
    _require(scores.shape == (n,) and bool(((scores >= 0) & (scores <= 1)).all()), "Discriminates",
             "discriminate must give one probability in [0, 1] per image")


def _noise_to_data(model, x, n, shape, batch) -> None:
    accepted = samplers_for(model)
    _require(isinstance(model, (VelocityField, NoisePredictor, MapsNoise)), "NoiseToData",
             "a generator must expose its process: a velocity field, a noise predictor or a one-pass map")
    _require(model.default_sampler in accepted, "NoiseToData",
             f"default_sampler {model.default_sampler!r} is not among the samplers that take it: {accepted}")
    if isinstance(model, NoisePredictor):
        _require(isinstance(model.schedule, NoiseSchedule), "NoisePredictor", "schedule must be a NoiseSchedule")
    for name in accepted:
        steps = {"steps": 2} if "steps" in SAMPLERS[name].takes() else {}   # others refuse a step count
        images, nfe = generate(model, 3, choose_sampler(model, name, steps), _seeded())
        _require(images.shape == (3, *shape) and _in_unit_range(images) and nfe >= 1, "NoiseToData",
                 f"the {name} sampler must give 3 images in [0, 1] of the data's shape")


CHECKS = [(HasLoss, _loss), (Encodes, _encodes), (Reconstructs, _reconstructs), (HasPosterior, _posterior),
          (Samples, _samples), (HasLikelihood, _likelihood), (Tokenizes, _tokens), (Phased, _phased),
          (WeightedTerms, _weighted), (Discriminates, _discriminates), (NoiseToData, _noise_to_data)]
