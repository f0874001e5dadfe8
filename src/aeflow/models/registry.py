"""Name -> model family, and named presets. A new family is one file that calls `register`, imported in
`aeflow/models/__init__.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from aeflow.config import available_memory, checked, from_dict
from aeflow.errors import ConfigError

MODELS: dict[str, type] = {}


@dataclass(frozen=True)
class Preset:
    """A named recipe: a registered model with fixed config fields and recommended training settings."""

    model: str
    model_config: dict[str, Any]
    train: dict[str, Any] = field(default_factory=dict)
    description: str = ""


PRESETS: dict[str, Preset] = {}


def register(name: str):
    """Class decorator: make a model family buildable by name (CLI, trainer, saved runs)."""
    def add(cls: type) -> type:
        if name in MODELS:
            raise ValueError(f"model {name!r} registered twice")
        cls.registry_name = name
        MODELS[name] = cls
        return cls
    return add


def register_preset(name: str, preset: Preset) -> None:
    PRESETS[name] = preset


def model_names() -> list[str]:
    import aeflow.models  # noqa: F401  (registers the families)

    return sorted(MODELS) + sorted(PRESETS)


def resolve(name: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A model or preset name -> (family name, model config fields, recommended train fields)."""
    import aeflow.models  # noqa: F401

    if name in PRESETS:
        p = PRESETS[name]
        return p.model, dict(p.model_config), dict(p.train)
    if name in MODELS:
        return name, {}, {}
    raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(model_names())}")


def model_config(name: str, fields: dict[str, Any], input_shape: tuple[int, ...]):
    """The family's validated config dataclass (every field checked, nothing built)."""
    import aeflow.models  # noqa: F401

    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    given = fields.get("input_shape")
    if given is not None and given != list(input_shape):
        raise ConfigError(f"model ({name}).input_shape {given} is not the data's {list(input_shape)}: the shape comes "
                          "from the dataset; given with -m, drop it (or choose the dataset with -d); in a run's "
                          "config.yaml, its data.name or input_shape was edited: restore them")
    return from_dict(MODELS[name].Config, {**fields, "input_shape": list(input_shape)}, f"model ({name})")


@checked
def build_model(name: str, fields: dict[str, Any], input_shape: tuple[int, ...]):
    """Build a registered model from its config fields; `input_shape` comes from the dataset."""
    config = sized_config(name, fields, input_shape)   # first: it names an unknown family (MODELS[name] would not)
    return MODELS[name](config)


def sized_config(name: str, fields: dict[str, Any], input_shape: tuple[int, ...]):
    """The family's validated config (`model_config`), refused if the model it builds would not fit this
    machine's memory: built first on the meta device (shapes without storage) and its parameters counted;
    training keeps four float32 copies (weights, gradients, Adam's two moments)."""
    config = model_config(name, fields, input_shape)
    sizes = ", ".join(f"{k}={v}" for k, v in fields.items() if k != "input_shape" and _is_size(v)) or "defaults"
    try:
        with torch.device("meta"):
            model = MODELS[name](config)
        n = sum(p.numel() for p in model.parameters())
    except (RuntimeError, OverflowError):   # sizes past what a tensor can index
        raise ConfigError(f"{name} with {sizes}: sizes too large to build; choose smaller ones") from None
    need, have = 16 * n, available_memory()
    if need > have:
        raise ConfigError(f"{name} with {sizes} has {n:,} parameters: training needs about {need / 2**30:.1f} GiB "
                          f"and this machine has {have / 2**30:.1f} GiB available; choose smaller sizes")
    return config


def _is_size(value: Any) -> bool:
    ints = value if isinstance(value, list) else [value]
    return bool(ints) and all(isinstance(v, int) and not isinstance(v, bool) for v in ints)
