"""The dataclass configs of a run: which model (name + its own config fields), which data, and how to train.
`config.yaml` in every run folder is a `RunConfig` written out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aeflow.config.validation import choice, from_dict, require, to_dict
from aeflow.config.yaml_io import read_yaml
from aeflow.errors import ConfigError
from aeflow.files import atomic_write_text

# Scoring needs this many images: precision/recall take each image's 3rd nearest neighbour among the others.
MIN_SCORED_IMAGES = 4

# The named datasets (aeflow.data loads them; a test checks the two lists agree).
DATASET_NAMES = ("digits", "mnist", "fashion-mnist", "swissroll")


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
