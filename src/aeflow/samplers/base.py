"""The sampler protocol and its registry."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from aeflow.config import from_dict
from aeflow.errors import ConfigError
from aeflow.progress import check_cancelled

# More steps than this change nothing a float32 solver can show (the step error is below the rounding) and
# would run for days: a typo, refused by name.
MAX_STEPS = 10_000

SAMPLERS: dict[str, type[Sampler]] = {}


@dataclass
class Step:
    """One step of a sampler, in the model's own space: the state x after the step, its time t (flow:
    0 noise .. 1 data; DDPM: the integer timestep reached, -1 at the end), the model's estimate x0 of the
    clean sample made during the step, and the network evaluations so far."""

    index: int
    t: float
    x: torch.Tensor
    x0: torch.Tensor
    nfe: int


@dataclass
class NoOptions:
    pass


class Sampler:
    """Subclasses set `name`, `accepts` (the capability protocol a model must satisfy), `Options`, a one-line
    `summary`, and implement `iterate`."""

    name: ClassVar[str]
    accepts: ClassVar[type]
    Options: ClassVar[type] = NoOptions
    summary: ClassVar[str] = ""

    # For a sampler without a step count: why it takes none, and what to use instead (said when one is given).
    no_steps: ClassVar[str] = ""

    @classmethod
    def options(cls, given: dict[str, Any] | None = None, model=None):
        """The validated options: `given` over the defaults, `steps` defaulting to the model's own; an option the
        sampler does not take is refused, never dropped; with `model`, options that do not fit it are refused."""
        given = {k: v for k, v in (given or {}).items() if v is not None}
        fields = {f.name for f in dataclasses.fields(cls.Options)}
        if "steps" in fields and "steps" not in given and model is not None and \
                getattr(model, "default_sampler", None) == cls.name:
            given["steps"] = model.default_steps
        unknown = sorted(set(given) - fields)
        if unknown:
            takes = f"its options: {', '.join(sorted(fields))}" if fields else "it takes no options"
            why = f"; it {cls.no_steps}" if "steps" in unknown and cls.no_steps else ""
            raise ConfigError(f"the {cls.name} sampler has no option {', '.join(unknown)} ({takes}{why}; "
                              "see `aeflow samplers`)")
        options = from_dict(cls.Options, given, f"sampler {cls.name}")
        if model is not None:
            cls.check_fits(options, model)
        return options

    @classmethod
    def takes(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls.Options)]

    @classmethod
    def check_fits(cls, options, model) -> None:
        """Options valid in themselves that this model cannot honour (DDIM's steps beyond its schedule)."""

    @classmethod
    def check_model(cls, model) -> None:
        if not isinstance(model, cls.accepts):
            usable = ", ".join(samplers_for(model)) or "none"
            raise ConfigError(f"{model.registry_name} cannot be sampled with {cls.name}; its samplers: {usable}")

    def iterate(self, model, x: torch.Tensor, options, generator: torch.Generator | None = None) -> Iterator[Step]:
        raise NotImplementedError

    def run(self, model, x: torch.Tensor, options, generator: torch.Generator | None = None
            ) -> tuple[torch.Tensor, int]:
        """The last step's state and the network evaluations it took (stopped between steps when cancelled)."""
        *_, last = (step for step in self.iterate(model, x, options, generator) if _still_wanted())
        return last.x, last.nfe


def _still_wanted() -> bool:
    check_cancelled()
    return True


def register_sampler(cls: type[Sampler]) -> type[Sampler]:
    if cls.name in SAMPLERS:
        raise ValueError(f"sampler {cls.name!r} registered twice")
    SAMPLERS[cls.name] = cls
    return cls


def get_sampler(name: str) -> type[Sampler]:
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def samplers_for(model) -> list[str]:
    """The registered samplers that accept `model`, in registration order."""
    return [name for name, cls in SAMPLERS.items() if isinstance(model, cls.accepts)]
