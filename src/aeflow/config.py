"""Plain dataclass configs, their YAML round trip and validation with clear errors.

A run is fully described by a `RunConfig`: which model (name + its own config fields), which data,
and how to train. `config.yaml` in every run folder is this object written out.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import os
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aeflow.errors import ConfigError
from aeflow.files import atomic_write_text


def _check_type(where: str, name: str, value: Any, annotation: Any) -> Any:
    """Coerce `value` to the field's annotated type, or raise a ConfigError that names the field."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_type(where, name, value, inner[0])
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}.{name} must be a mapping, got {value!r}")
        item_type = args[1] if len(args) == 2 else Any
        return {k: _check_type(where, f"{name}.{k}", v, item_type) for k, v in value.items()}
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, f"{where}.{name}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}.{name} must be a list, got {value!r}")
        item_type = args[0] if args else Any
        items = [_check_type(where, name, v, item_type) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}.{name} must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}.{name} must be an integer, got {value!r}")
        if abs(value) >= 2 ** 63:
            raise ConfigError(f"{where}.{name} must fit in 64 bits, got {value}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}.{name} must be a number, got {value!r}")
        if not math.isfinite(value):   # nan and inf pass every comparison check silently, or fail deep in torch
            raise ConfigError(f"{where}.{name} must be a finite number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}.{name} must be a string, got {value!r}")
        return value
    return value


def check_fields(obj: Any, where: str) -> None:
    """Every field of dataclass `obj` of its annotated type (for objects built directly, not `from_dict`)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        _check_type(where, f.name, getattr(obj, f.name), hints[f.name])


def checked(function: Callable) -> Callable:
    """A public function whose arguments are checked against its annotations on every call: a wrong type is a
    ConfigError naming the argument, not an AttributeError from deep inside (`aeflow.train(None, ...)`)."""
    signature = inspect.signature(function)
    hints: dict[str, Any] = {}

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if not hints:
            hints.update(_resolved_hints(function))
        for name, value in signature.bind(*args, **kwargs).arguments.items():
            if name in hints and not _matches(value, hints[name]):
                raise ConfigError(f"{function.__name__}(): {name} must be {_describe(hints[name])}, got "
                                  f"{type(value).__name__} {str(value)[:60]!r}")
        return function(*args, **kwargs)

    return wrapper


def _resolved_hints(function: Callable) -> dict[str, Any]:
    """The annotations that resolve at run time (names imported only for type checkers are skipped)."""
    hints = {}
    for name, text in function.__annotations__.items():
        try:
            hints[name] = eval(text, function.__globals__) if isinstance(text, str) else text   # noqa: S307
        except NameError:
            continue
    hints.pop("return", None)
    return hints


def _matches(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(annotation))
    if annotation is None or annotation is type(None):
        return value is None
    if origin is not None:   # dict[str, Any], tuple[int, ...]: the container's kind is checked, not its items
        return isinstance(value, origin)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return not isinstance(annotation, type) or isinstance(value, annotation)


def _describe(annotation: Any) -> str:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(annotation))
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def from_dict(cls: type, data: dict[str, Any] | None, where: str) -> Any:
    """Build dataclass `cls` from a dict, rejecting unknown keys and values of the wrong type."""
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping of {cls.__name__} fields, got {data!r}")
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {where}; valid keys: {', '.join(sorted(known))}")
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)}")
    kwargs = {k: _check_type(where, k, v, hints[k]) for k, v in data.items()}
    obj = cls(**kwargs)
    if hasattr(obj, "validate"):
        obj.validate()
    return obj


def to_dict(value: Any) -> Any:
    """Dataclasses, dicts and sequences as plain YAML/JSON-able values (tuples become lists)."""
    if dataclasses.is_dataclass(value):
        return {f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: to_dict(x) for k, x in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_dict(x) for x in value]
    return value


# Scoring needs this many images: precision/recall take each image's 3rd nearest neighbour among the others.
MIN_SCORED_IMAGES = 4

# The named datasets (aeflow.data loads them; a test checks the two lists agree).
DATASET_NAMES = ("digits", "mnist", "fashion-mnist", "swissroll")


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def available_memory() -> int:
    """Bytes of memory this machine can give now (MemAvailable on Linux, else the physical total)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def choice(where: str, value: str, choices: typing.Iterable[str]) -> None:
    choices = list(choices)
    require(value in choices, f"{where} must be one of {', '.join(choices)}; got {value!r}")


@dataclass
class WeightSchedule:
    """A loss-term weight as a function of (fractional) epoch: KL warm-up, cyclical annealing, constants.

    linear:    start -> end over `epochs`, then end (Bowman et al. 2016's KL warm-up: start 0, end 1).
    cyclical:  cycles of `epochs`; rises linearly start -> end over the first `ramp` of each cycle, then holds
               (Fu et al. 2019).
    constant:  `end` throughout.
    """

    kind: str = "linear"
    start: float = 0.0
    end: float = 1.0
    epochs: float = 10.0
    ramp: float = 0.5

    @classmethod
    def parse(cls, spec: Any, where: str) -> WeightSchedule:
        """A schedule from its fields, or from one number: that constant weight (`{kl: 5}`)."""
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            return from_dict(cls, {"kind": "constant", "end": spec}, where)
        return from_dict(cls, spec, where)

    def validate(self) -> None:
        choice("schedule kind", self.kind, ["linear", "cyclical", "constant"])
        require(self.start >= 0 and self.end >= 0, f"a loss weight must be >= 0, got start {self.start}, "
                f"end {self.end}")
        require(self.epochs > 0, f"schedule epochs must be > 0, got {self.epochs}")
        require(0 < self.ramp <= 1, f"schedule ramp must be in (0, 1], got {self.ramp}")

    def value(self, epoch: float) -> float:
        if self.kind == "constant":
            return self.end
        if self.kind == "linear":
            progress = min(1.0, epoch / self.epochs)
        else:
            progress = min(1.0, (epoch % self.epochs) / (self.ramp * self.epochs))
        return self.start + (self.end - self.start) * progress


@dataclass
class TrainConfig:
    """How a model is optimised: AdamW, linear warm-up then cosine decay, gradient clipping, an optional
    average of the weights (EMA) for evaluation and sampling."""

    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # Adam's moment decays
    warmup_epochs: float = 1.0
    final_lr_fraction: float = 0.0   # the cosine decays to lr * this
    grad_clip: float = 1.0           # max global gradient norm; 0 turns clipping off
    bf16: bool = False               # bf16 autocast (CPU or CUDA)
    compile: bool = False            # torch.compile the loss (a GPU gains; a small CPU model spends its compile time)
    device: str = "auto"             # auto | cpu | cuda | cuda:N
    seed: int = 0
    eval_batch_size: int = 2000
    progress: bool = True
    ema_decay: float = 0.0           # > 0: keep an exponential moving average of the weights (0.999, 0.9999)
    sample_every: int = 0            # > 0: a fixed-noise sample grid every N epochs (models that sample)
    snapshot_epochs: list[int] = field(default_factory=list)   # keep the weights after these epochs (snapshots/)
    # > 0: training ends after the step at which its time (evaluations not counted) reaches this many seconds,
    # inside an epoch if need be, with the schedule planned for `epochs` cut there (an equal-time comparison)
    max_train_seconds: float = 0.0
    # Schedules for named loss-term weights, e.g. {"kl": {"kind": "linear", "start": 0, "end": 1, "epochs": 10}}
    loss_weights: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        require(self.epochs >= 1, f"train.epochs must be >= 1, got {self.epochs}")
        require(0 <= self.seed < 2 ** 63, f"train.seed must be in 0..2^63-1, got {self.seed}")
        require(self.batch_size >= 1, f"train.batch_size must be >= 1, got {self.batch_size}")
        require(self.lr > 0, f"train.lr must be > 0, got {self.lr}")
        require(self.weight_decay >= 0, f"train.weight_decay must be >= 0, got {self.weight_decay}")
        require(self.warmup_epochs >= 0, f"train.warmup_epochs must be >= 0, got {self.warmup_epochs}")
        require(0 <= self.final_lr_fraction <= 1, "train.final_lr_fraction must be in [0, 1]")
        require(self.grad_clip >= 0, f"train.grad_clip must be >= 0 (0 = off), got {self.grad_clip}")
        require(self.eval_batch_size >= 1, "train.eval_batch_size must be >= 1")
        require(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
                f"train.betas must be two numbers in [0, 1), got {self.betas}")
        require(0 <= self.ema_decay < 1, f"train.ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")
        require(self.max_train_seconds >= 0,
                f"train.max_train_seconds must be >= 0 (0 = no limit), got {self.max_train_seconds}")
        require(self.sample_every >= 0, f"train.sample_every must be >= 0 (0 = off), got {self.sample_every}")
        require(all(1 <= e <= self.epochs for e in self.snapshot_epochs),
                f"train.snapshot_epochs must be epochs in 1..{self.epochs}, got {self.snapshot_epochs}")
        require(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
                f"train.device must be auto, cpu, cuda or cuda:N; got {self.device!r}")
        for name, spec in self.loss_weights.items():
            WeightSchedule.parse(spec, f"train.loss_weights.{name}")


@dataclass
class DataConfig:
    """Which dataset, and where its files are (None: the environment variable, then the cache)."""

    name: str = "digits"
    data_dir: str | None = None
    download: bool = True
    train_subset: int | None = None  # use only the first N training examples (None: all)

    def validate(self) -> None:
        choice("data.name", self.name, DATASET_NAMES)
        require(self.train_subset is None or self.train_subset >= 1, "data.train_subset must be >= 1")


@dataclass
class RunConfig:
    """Everything needed to rebuild and re-run: config.yaml of a run folder."""

    model: str = "autoencoder"
    model_config: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "model_config": to_dict(self.model_config),
                "data": to_dict(self.data), "train": to_dict(self.train)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        if not isinstance(d, dict):
            raise ConfigError("a run config must be a mapping with keys model, model_config, data, train")
        unknown = sorted(set(d) - {"model", "model_config", "data", "train"})
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(unknown)} in run config; "
                              "valid keys: data, model, model_config, train")
        model, fields = d.get("model", "autoencoder"), d.get("model_config") or {}
        if not isinstance(model, str):
            raise ConfigError(f"model must be a model family's name, got {model!r}")
        if not isinstance(fields, dict):
            raise ConfigError(f"model_config must be a mapping of the model's fields, got {fields!r}")
        return cls(model=model, model_config=dict(fields),
                   data=from_dict(DataConfig, d.get("data"), "data"),
                   train=from_dict(TrainConfig, d.get("train"), "train"))

    def save(self, path: str | Path) -> None:
        atomic_write_text(Path(path), yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"{path} is a folder, not a run's config file; restore the file from a copy of the run")
        if not path.is_file():
            raise ConfigError(f"no config file at {path}")
        return cls.from_dict(read_yaml(path, "restore it, or start a new run"))


def read_yaml(path: Path, fix: str) -> Any:
    """A YAML file's content, or a ConfigError in one line that says where it is broken and `fix`."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not text (it holds binary bytes); {fix}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise ConfigError(f"{path} is not valid YAML ({problem}{where}); {fix}") from None


def parse_assignments(pairs: typing.Iterable[str], where: str) -> dict[str, Any]:
    """Parse KEY=VALUE strings from the command line; values are read as YAML scalars/lists."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{where} option {pair!r} must look like KEY=VALUE (e.g. code_dim=30)")
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"{where} option {pair!r}: cannot read the value {raw!r}") from None
    return out
