"""One request shape samples anything: the model itself through a sampler (DDPM, flow, GAN, latent flow,
one-step), its own prior (a VAE), or a named code prior fitted to its codes (normal, gmm, categorical),
kept in the run folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aeflow.config import check_fields, checked, from_dict, require, to_dict
from aeflow.data import Dataset, load_dataset
from aeflow.errors import ConfigError, DataError
from aeflow.models.registry import model_config
from aeflow.priors import PRIORS, CodePrior, decoded_samples
from aeflow.priors.base import prior_class, prior_path
from aeflow.protocols import Encodes, NoiseToData, Samples, Tokenizes
from aeflow.runs.folder import load_config
from aeflow.samplers import choose_sampler, generate, samplers_for

MAX_SAMPLES = 1_000_000


# Beyond this the codes are far outside anything the decoder saw (and overflow floats long before 1e300).
MAX_TEMPERATURE = 100.0


@dataclass
class SampleRequest:
    """source: "model" (its sampler, or its own prior), a code prior's name, or None for the model's default
    (`default_source`); sampler and its options (steps, eta, shift, churn...) for sources that a sampler
    draws; temperature for code priors."""

    source: str | None = None
    sampler: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    n: int = 64
    seed: int = 0
    temperature: float = 1.0
    prior_options: dict[str, Any] = field(default_factory=dict)   # a prior's fit settings (e.g. n_components)

    def validate(self) -> None:
        check_fields(self, "request")
        require(self.source in (None, "model") or self.source in PRIORS,
                f"source must be model or one of {', '.join(PRIORS)}; got {self.source!r}")
        require(1 <= self.n <= MAX_SAMPLES, f"n must be in 1..{MAX_SAMPLES:,}, got {self.n}")
        require(0 <= self.seed < 2 ** 63, f"seed must be in 0..2^63-1, got {self.seed}")
        require(math.isfinite(self.temperature) and 0 <= self.temperature <= MAX_TEMPERATURE,
                f"temperature must be a number in 0..{MAX_TEMPERATURE:g} (it scales the codes' spread), got "
                f"{self.temperature:g}")

    def resolve(self, model) -> str:
        """What "sample this run" means, decided here alone (the CLI, the explorer and the studies ask this): the
        source asked for; else the model's sampler when sampler options are given; else the model's own way
        (its sampler or prior, a discrete code's categorical prior); else, for a plain autoencoder, its decoded
        N(0, I) codes."""
        return self.source or ("model" if self.sampler or self.options else default_source(model)) or "normal"


def default_source(model) -> str | None:
    """What sampling a model means when nothing is said: its sampler or own prior; the categorical prior for
    a discrete code; None for a plain autoencoder, whose N(0, I) codes are an experiment, not its samples."""
    if isinstance(model, NoiseToData) and samplers_for(model) or isinstance(model, Samples):
        return "model"
    if isinstance(model, Tokenizes):
        return "categorical"
    return None


def sources(model) -> list[str]:
    """Every source that applies to `model`."""
    found = ["model"] if default_source(model) == "model" else []
    return found + [name for name, cls in PRIORS.items() if cls.accepts(model)]


def fitted_prior(model, run_dir: str | Path | None, name: str, options: dict[str, Any] | None = None,
                 data: Dataset | None = None, refit: bool = False, save: bool = True) -> CodePrior:
    """The run's `name` prior: loaded when it is saved with the same settings, else fitted to the training
    codes (and saved into the run unless `save=False`). Settings that differ from the saved ones are refused
    unless `refit`. Without a run folder it is fitted to `data` and kept in memory."""
    cls = prior_class(name)
    wanted = from_dict(cls.Config, options or {}, f"prior {name}")
    if run_dir is None:   # a model without a folder (another library's): fitted in memory, to `data`
        if data is None:
            raise ConfigError("a code prior is fitted to training codes: give the run folder, or the dataset")
        prior = cls(wanted)
        prior.check(model)
        return prior.fit(model, data.train_x)
    _, settings = prior_path(run_dir, name)
    if settings.exists() and not refit:
        prior = cls.load(run_dir)
        given = {k for k in (options or {})}
        differ = {k: getattr(prior.config, k) for k in given if getattr(prior.config, k) != getattr(wanted, k)}
        if differ:
            raise ConfigError(f"the run's {name} prior was fitted with {differ}, not "
                              f"{ {k: getattr(wanted, k) for k in differ} }; pass --refit to fit a new one over it")
        _check_decodes(model, prior, settings)
        return prior
    prior = cls(wanted)
    prior.check(model)
    if data is None:
        config = load_config(run_dir)
        data = load_dataset(config.data.name, config.data.data_dir, config.data.download)
    prior.fit(model, data.train_x)
    if save:
        prior.save(Path(run_dir))
    return prior


def _check_decodes(model, prior: CodePrior, settings: Path) -> None:
    """A saved prior whose codes this model cannot decode (fitted to another model, or copied between runs)."""
    prior.check(model)
    try:
        with torch.no_grad():
            image = prior.decode(model, prior.sample(1, torch.Generator().manual_seed(0)))
        fits = tuple(image.shape[1:]) == tuple(model.input_shape)
    except RuntimeError:   # a code of the wrong size meets the decoder's first layer
        fits = False
    if not fits:
        raise DataError(f"{settings}: this model cannot decode the saved {prior.name} prior's codes (it was fitted "
                        "to another model); fit it again with --refit")


def check_request(model, request: SampleRequest) -> str:
    """The source `request` draws from, once every option in it is known to be taken by that source (the
    CLI, the API and the explorer all sample through here): an option that would change nothing is refused."""
    request.validate()
    source = request.resolve(model)
    by_sampler = source == "model" and isinstance(model, NoiseToData) and bool(samplers_for(model))
    if not by_sampler and (request.sampler or request.options):
        given = ", ".join([*([f"the sampler {request.sampler}"] if request.sampler else []),
                           *(f"{k} {v}" for k, v in request.options.items())])
        what = f"the {source} prior decodes codes" if source != "model" else \
            f"{model.registry_name} draws from its own N(0, I) prior, through its decoder"
        raise ConfigError(f"{what}: no sampler runs, so {given} would do nothing; drop it")
    if source == "model":
        if request.prior_options:
            raise ConfigError(f"{', '.join(request.prior_options)}: a code prior's settings, and {model.registry_name} "
                              "is sampled by itself; drop them, or choose a prior with --prior")
        if request.temperature != 1:
            how = "--prior normal --temperature T scales its codes" if isinstance(model, Encodes) else \
                "a temperature applies to code priors (normal, gmm, categorical) only"
            raise ConfigError(f"temperature {request.temperature:g}: {model.registry_name} is sampled by itself, "
                              f"which takes no temperature; {how}")
        if by_sampler:
            choose_sampler(model, request.sampler, request.options)   # the sampler's options, against the model
        elif not isinstance(model, Samples):
            raise ConfigError(f"{model.registry_name} does not sample by itself; choose a code prior: "
                              f"{', '.join(sources(model)) or 'none applies'}")
        return source
    prior_class(source)(from_dict(prior_class(source).Config, request.prior_options, f"the {source} prior's settings")
                        ).check(model)
    if source == "categorical" and request.temperature == 0:
        raise ConfigError("temperature 0: the categorical prior divides its logits by the temperature; give T > 0")
    return source


def check_run_matches(model, run_dir: str | Path) -> None:
    """A model handed in beside a run folder must be that run's model (a prior saved there was fitted to it)."""
    config = load_config(run_dir)
    if model.registry_name != config.model or to_dict(model.config) != to_dict(
            model_config(config.model, config.model_config, tuple(model.input_shape))):
        raise ConfigError(f"the model given is a {model.registry_name} that is not the model of {run_dir} (a "
                          f"{config.model}); pass that run's own model (aeflow.load), or the run folder of this one")


@checked
def draw(model: torch.nn.Module, run_dir: str | Path | None, request: SampleRequest, data: Dataset | None = None,
         batch_size: int | None = None, priors: dict[str, CodePrior] | None = None
         ) -> tuple[torch.Tensor, dict[str, Any]]:
    """n images in [0, 1] as `request` says, and what made them (source, sampler label, NFE). Nothing is
    written: a code prior is read from the run folder when saved there (`fitted_prior` saves one), else fitted
    in memory (to `data` for a model without a folder); `priors`, where given, keeps the priors fitted so far
    (by name, with default settings) for the next call."""
    source = check_request(model, request)
    if batch_size is not None and not 1 <= batch_size <= MAX_SAMPLES:
        raise ConfigError(f"draw(): batch_size must be in 1..{MAX_SAMPLES:,}, got {batch_size}")
    if run_dir is not None:
        check_run_matches(model, run_dir)
    generator = torch.Generator().manual_seed(request.seed)
    if source == "model" and isinstance(model, NoiseToData) and samplers_for(model):
        choice = choose_sampler(model, request.sampler, request.options)
        images, nfe = generate(model, request.n, choice, generator, batch_size)
        return images, {"source": "model", "sampler": choice.name, "label": choice.label(), "nfe": nfe,
                        "options": vars(choice.options)}
    if source == "model":
        with torch.no_grad():
            return model.sample(request.n, generator).clamp(0, 1), {"source": "model", "label": "model"}
    if priors is not None and not request.prior_options:
        if source not in priors:
            priors[source] = fitted_prior(model, run_dir, source, None, data, save=False)
        prior = priors[source]
    else:
        prior = fitted_prior(model, run_dir, source, request.prior_options, data, save=False)
    images = decoded_samples(model, prior, request.n, generator, request.temperature)
    if not torch.isfinite(images).all():
        raise ConfigError(f"temperature {request.temperature:g}: the {source} prior's codes decode to images that are "
                          "not finite numbers (the codes overflow); give a lower temperature")
    return images, {"source": source, "label": source, "temperature": request.temperature}
