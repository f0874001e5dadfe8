"""The shape every code prior shares, and its registry."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
import yaml

from aeflow.config import from_dict, read_yaml, to_dict
from aeflow.errors import ConfigError, DataError
from aeflow.files import atomic_save, atomic_write_text, read_tensors
from aeflow.protocols import Encodes

PRIORS: dict[str, type[CodePrior]] = {}


def register_prior(cls: type[CodePrior]) -> type[CodePrior]:
    PRIORS[cls.name] = cls
    return cls


class CodePrior:
    """A distribution over a model's codes. Subclasses set `name`, `Config` (a dataclass), `fit` the state
    tensors in `self.state` from the training images, and `sample` codes from them."""

    name: ClassVar[str]
    Config: ClassVar[type]

    def __init__(self, config=None, state: dict[str, torch.Tensor] | None = None, extra: dict | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self.state = state or {}
        self.extra = extra or {}   # what the fit reported (saved beside the settings)

    @classmethod
    def accepts(cls, model) -> bool:
        return isinstance(model, Encodes)

    def check(self, model) -> None:
        if not self.accepts(model):
            raise ConfigError(f"the {self.name} prior does not apply to {model.registry_name}: "
                              f"{self.requirement}")

    requirement: ClassVar[str] = "it needs a model that encodes and decodes"

    def fit(self, model, train_x: torch.Tensor) -> CodePrior:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, model, codes: torch.Tensor) -> torch.Tensor:
        return model.decode(codes)

    def save(self, run_dir: Path) -> None:
        weights, settings = prior_path(run_dir, self.name)
        if self.state:
            atomic_save(self.state, weights)
        atomic_write_text(settings, yaml.safe_dump({**to_dict(self.config), **self.extra}, sort_keys=False))

    @classmethod
    def load(cls, run_dir: Path) -> CodePrior:
        weights, settings = prior_path(run_dir, cls.name)
        if not settings.exists():
            raise ConfigError(f"{run_dir} has no fitted {cls.name} prior; fit one with "
                              f"`aeflow sample {run_dir} --prior {cls.name}`")
        values = read_yaml(settings, "fit the prior again with --refit") or {}
        if not isinstance(values, dict):
            raise DataError(f"{settings} is not a mapping; fit the prior again with --refit")
        fields = cls.Config.__dataclass_fields__
        missing = sorted(set(fields) - set(values))
        if missing:
            raise DataError(f"{settings} lacks {', '.join(missing)}: it was not written by aeflow or is damaged; fit "
                            "the prior again with --refit")
        config = from_dict(cls.Config, {k: v for k, v in values.items() if k in fields}, settings.name)
        state = read_tensors(weights)[0] if weights.exists() else {}
        prior = cls(config, state, {k: v for k, v in values.items() if k not in fields})
        problem = prior.state_problem() or next((f"{k} holds NaN or infinite values" for k, v in state.items()
                                                 if v.is_floating_point() and not torch.isfinite(v).all()), None)
        if problem:
            raise DataError(f"{weights}: {problem}; the file is damaged: fit the prior again with --refit")
        return prior

    def state_problem(self) -> str | None:
        """What is wrong with the fitted state read back from a run folder (None: nothing)."""
        return None


def prior_path(run_dir: Path, name: str) -> tuple[Path, Path]:
    """(tensors, settings) of the `name` prior in a run folder."""
    return Path(run_dir) / f"prior-{name}.safetensors", Path(run_dir) / f"prior-{name}.yaml"


def load_prior(run_dir: Path, name: str) -> CodePrior:
    return prior_class(name).load(run_dir)


def prior_class(name: str) -> type[CodePrior]:
    if name not in PRIORS:
        raise ConfigError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")
    return PRIORS[name]


@torch.no_grad()
def decoded_samples(model, prior: CodePrior, n: int, generator: torch.Generator | None = None,
                    temperature: float = 1.0, batch_size: int = 2000) -> torch.Tensor:
    """n images decoded from codes drawn from `prior`, clamped to [0, 1]."""
    prior.check(model)
    model.eval()
    codes = prior.sample(n, generator, temperature)
    return torch.cat([prior.decode(model, codes[i:i + batch_size]) for i in range(0, n, batch_size)]).clamp(0, 1)


def encode_batched(model, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model.encode(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)])

