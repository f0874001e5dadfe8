"""A run is a folder: config.yaml, model.safetensors, metrics.jsonl, summary.json and pictures.

`train(config, out)` makes one; `load(run_dir)` gives the model back, ready to use.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from aeflow.config import RunConfig, to_dict
from aeflow.data import Dataset, load_dataset
from aeflow.errors import ConfigError
from aeflow.eval import evaluate_model
from aeflow.models import FittedModel, Model
from aeflow.registry import build_model, resolve
from aeflow.train import read_metrics, resolve_device
from aeflow.train import train as train_loop
from aeflow.train.checkpoint import CHECKPOINT_NAME, atomic_save, load_weights, read_tensors, save_weights, with_prefix
from aeflow.train.trainer import METRICS
from aeflow.viz import save_image_grid, save_loss_curve

CONFIG, WEIGHTS, SUMMARY = "config.yaml", "model.safetensors", "summary.json"


def make_config(model: str, dataset: str = "digits", model_options: dict[str, Any] | None = None,
                train_options: dict[str, Any] | None = None, data_dir: str | None = None,
                download: bool = True, train_subset: int | None = None) -> RunConfig:
    """A RunConfig from a model or preset name plus overrides (what the CLI builds from its flags)."""
    family, preset_model, preset_train = resolve(model)
    data = {"name": dataset, "data_dir": data_dir, "download": download, "train_subset": train_subset}
    return RunConfig.from_dict({"model": family, "model_config": {**preset_model, **(model_options or {})},
                                "data": data, "train": {**preset_train, **(train_options or {})}})


def machine() -> dict[str, Any]:
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def train(config: RunConfig, out: str | Path, resume: bool = False, dataset: Dataset | None = None) -> Path:
    """Train (or fit) the model that `config` describes into the run folder `out`; return the folder.

    With `resume=True`, `out` must hold a run: its config.yaml is used and training continues from the
    last checkpoint. `dataset` skips loading when the caller already has the data in memory."""
    out = Path(out)
    if resume:
        if not (out / CONFIG).exists():
            raise ConfigError(f"--resume: {out} holds no run (no {CONFIG}); start one without --resume")
        config = RunConfig.load(out / CONFIG)
    elif (out / CONFIG).exists():
        raise ConfigError(f"{out} already holds a run; continue it with --resume or choose another --out")
    data = dataset or load_dataset(config.data.name, config.data.data_dir, config.data.download,
                                   config.data.train_subset)
    torch.manual_seed(config.train.seed)
    model = build_model(config.model, config.model_config, data.shape)
    config.model_config = to_dict(model.config)
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / CONFIG)

    start = time.perf_counter()
    if isinstance(model, FittedModel):
        model.fit(data.train_x)
        last: dict[str, Any] = {}
        train_time = time.perf_counter() - start
        images_per_s = len(data.train_x) / max(train_time, 1e-9)
    else:
        if model.uses_labels and data.train_y is None:
            raise ConfigError(f"{config.model} needs labels and {data.name} has none")
        train_data = (data.train_x, data.train_y) if model.uses_labels else (data.train_x,)
        test_data = (data.test_x, data.test_y) if model.uses_labels else (data.test_x,)
        derived = derived_training_data(model, data, out)
        if derived:
            train_data, test_data = derived
        sample_grids = SampleGrids(out, config.train.sample_every) if config.train.sample_every else None
        last, ema = train_loop(model, train_data, test_data, config.train, out, resume=resume,
                               on_epoch_end=sample_grids)
        if ema:  # the averaged weights are the model (the trained ones stay in the checkpoint)
            model.load_state_dict(ema.shadow)
        train_time = last["train_time"]
        images_per_s = (last["epoch"] * (len(train_data[0]) // config.train.batch_size) * config.train.batch_size
                        / max(train_time, 1e-9))
    model.cpu().eval()
    report = model.report(data, out)
    save_weights(model, out / WEIGHTS)
    summary = {"model": config.model, "dataset": data.name, "data_source": data.source,
               "n_train": len(data.train_x), "n_test": len(data.test_x),
               "n_parameters": sum(p.numel() for p in model.parameters()),
               "train_time_s": round(train_time, 2), "images_per_s": round(images_per_s, 1),
               "wall_time_s": round(time.perf_counter() - start, 2), "machine": machine(),
               "device": str(resolve_device(config.train.device)) if not isinstance(model, FittedModel) else "cpu",
               "final": {k: v for k, v in last.items() if k.startswith(("train/", "test/"))}}
    summary.update(evaluate_model(model, data, samples=False, likelihood=False))
    summary.update(report)
    write_summary(out, summary)
    draw_pictures(out, model, data)
    return out


def weights_digest(run_dir: str | Path) -> str:
    """A short hash of the run's model.safetensors: results computed from its weights carry it, so that
    they are known to be stale once the run trains further."""
    return hashlib.sha256((Path(run_dir) / WEIGHTS).read_bytes()).hexdigest()[:16]


def extend(out: str | Path, epochs: int) -> Path:
    """Continue the run in `out` (finished or interrupted) to `epochs` epochs in all. Allowed only when the
    learning rate is constant after warm-up, so that the result is the run `epochs` would have given from the
    start; a decaying schedule would have been another one over more epochs."""
    out = Path(out)
    if not (out / CONFIG).exists():
        raise ConfigError(f"{out} holds no run (no {CONFIG}); start one without --resume")
    config = RunConfig.load(out / CONFIG)
    if epochs <= config.train.epochs:
        raise ConfigError(f"--epochs {epochs}: the run in {out} already has {config.train.epochs}; "
                          "give more epochs to extend it, or --resume without --epochs to finish it")
    if config.train.final_lr_fraction != 1.0:
        raise ConfigError(f"the run in {out} decays its learning rate to final_lr_fraction="
                          f"{config.train.final_lr_fraction} over its {config.train.epochs} epochs, so more epochs "
                          "would change the ones already trained; start a new run with --epochs")
    config.train.epochs = epochs
    config.save(out / CONFIG)
    return train(config, out, resume=True)


DERIVED_DATA = "training-data.safetensors"


def derived_training_data(model: Model, data: Dataset, out: Path):
    """The model's own training data made from the dataset (codes of a frozen encoder, reflow pairs), or
    None. Made once and kept in the run folder with the model's buffers, so that a resumed run reuses it."""
    if not hasattr(model, "derive_training_data"):
        return None
    path = out / DERIVED_DATA
    if path.exists():
        tensors, _ = read_tensors(path)
        if not tensors:
            return None
        model.load_state_dict(with_prefix(tensors, "model."), strict=False)
        return tuple(tuple(tensors[f"{split}.{i}"] for i in range(sum(k.startswith(f"{split}.") for k in tensors)))
                     for split in ("train", "test"))
    derived = model.derive_training_data(data.train_x, data.test_x)
    tensors = {}
    if derived:
        tensors = {**{f"train.{i}": t for i, t in enumerate(derived[0])},
                   **{f"test.{i}": t for i, t in enumerate(derived[1])},
                   **{f"model.{k}": v for k, v in model.state_dict().items()}}
    atomic_save(tensors, path)
    return derived


class SampleGrids:
    """Every `every` epochs: 64 samples from the same noise (seed 0) into RUN/samples/epoch_NNNN.png."""

    def __init__(self, out: Path, every: int) -> None:
        self.out, self.every = out / "samples", every

    def __call__(self, model: Model, epoch: int) -> None:
        if epoch % self.every or not model.supports("sample"):
            return
        was_training = model.training
        model.eval()
        with torch.no_grad():
            images = model.sample(64, torch.Generator().manual_seed(0)).cpu()
        model.train(was_training)
        save_image_grid([images[i:i + 16] for i in range(0, 64, 16)], [""] * 4, self.out / f"epoch_{epoch:04d}.png",
                        title=f"{model.registry_name}: fixed-noise samples after epoch {epoch}")


def draw_pictures(out: Path, model: Model, data: Dataset, n: int = 16) -> None:
    metrics = read_metrics(out / METRICS)
    if metrics:
        save_loss_curve(metrics, out / "loss_curve.png", title=f"{model.registry_name} on {data.name}")
    if data.is_image and model.supports("reconstruct"):
        x = data.test_x[:n]
        with torch.no_grad():
            x_hat = model.reconstruct(x)
        save_image_grid([x, x_hat], ["test", "recon."], out / "reconstructions.png",
                        title=f"{model.registry_name} on {data.name}: test images and their reconstructions")


def write_summary(out: Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Merge `updates` into summary.json (written atomically)."""
    path = Path(out) / SUMMARY
    summary = json.loads(path.read_text()) if path.exists() else {}
    summary.update(updates)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, path)
    return summary


def load_config(run_dir: str | Path) -> RunConfig:
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists():
        raise ConfigError(f"{run_dir} is not a run folder: it has no {CONFIG}")
    return RunConfig.load(run_dir / CONFIG)


def load(run_dir: str | Path, checkpoint: bool = False) -> Model:
    """The model of a run folder, in eval mode on the CPU. `checkpoint=True` takes the last checkpoint
    (for a run that was interrupted before it wrote model.safetensors)."""
    run_dir = Path(run_dir)
    config = load_config(run_dir)
    model = build_model(config.model, config.model_config, tuple(config.model_config["input_shape"]))
    path = run_dir / (CHECKPOINT_NAME if checkpoint else WEIGHTS)
    if not path.exists():
        hint = " (the run may have been interrupted: pass checkpoint=True or resume it)" if not checkpoint else ""
        raise ConfigError(f"{run_dir} has no {path.name}{hint}")
    load_weights(model, path, prefix="model." if checkpoint else "")
    return model.eval()
