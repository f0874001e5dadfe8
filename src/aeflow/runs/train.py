"""Training a run folder, in named stages: build the model, prepare its data, fit it (its own solver) or
train it (the one loop), post-fit (the code prior a family samples with), save, measure, draw.
"""

from __future__ import annotations

import os
import platform
import time
from contextlib import nullcontext
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from aeflow.config import RunConfig, TrainConfig, checked, to_dict
from aeflow.data import SHAPES, Dataset, load_dataset
from aeflow.errors import ConfigError
from aeflow.eval import evaluate_model
from aeflow.files import atomic_save
from aeflow.models import FittedModel, Model
from aeflow.models.registry import build_model, resolve, sized_config
from aeflow.priors import CategoricalPrior
from aeflow.protocols import Reconstructs, Tokenizes
from aeflow.runs.folder import CONFIG, WEIGHTS, load_config, locked, write_summary
from aeflow.runs.parents import derived_batches, embed_parents
from aeflow.runs.sampling import SampleRequest, default_source, draw
from aeflow.threads import sharing
from aeflow.training import read_metrics, resolve_device
from aeflow.training import train as train_loop
from aeflow.training.callbacks import Callback, GiveWay
from aeflow.training.checkpoint import CHECKPOINT_NAME, save_weights
from aeflow.training.trainer import METRICS
from aeflow.training.world import World, current, lost_process_said
from aeflow.viz import save_figures, save_image_grid, save_loss_curve

SNAPSHOTS = "snapshots"


@checked
def make_config(model: str, dataset: str = "digits", model_options: dict[str, Any] | None = None,
                train_options: dict[str, Any] | None = None, data_dir: str | None = None,
                download: bool = True, train_subset: int | None = None) -> RunConfig:
    """A RunConfig from a model or preset name plus overrides (what the CLI builds from its flags)."""
    family, preset_model, preset_train = resolve(model)
    data = {"name": dataset, "data_dir": data_dir, "download": download, "train_subset": train_subset}
    config = RunConfig.from_dict({"model": family, "model_config": {**preset_model, **(model_options or {})},
                                  "data": data, "train": {**preset_train, **(train_options or {})}})
    if family != "latent-flow":   # a latent generator is checked once its parent's spec is embedded
        sized_config(family, config.model_config, SHAPES[dataset])   # every field and the size, before any work
    return config


def machine() -> dict[str, Any]:
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


@checked
def train(config: RunConfig | None, out: str | Path, resume: bool = False, dataset: Dataset | None = None) -> Path:
    """Train (or fit) the model that `config` describes into the run folder `out`; return the folder.

    With `resume=True`, `out` must hold a run: its config.yaml is used (`config` may be None) and training
    continues from the last checkpoint. `dataset` skips loading when the caller already has the data in
    memory. The folder is locked while it is written: a second writer is refused."""
    out = Path(out)
    world = current()
    with lost_process_said(world), locked(out) if world.main else nullcontext():   # the main process writes
        return _train(config, out, resume, dataset, world)


def _train(config: RunConfig | None, out: Path, resume: bool, dataset: Dataset | None, world: World) -> Path:
    if config is None and not resume:
        raise ConfigError("train() needs a RunConfig (aeflow.make_config) unless it resumes a run")
    if resume:
        if not (out / CONFIG).exists():
            raise ConfigError(f"--resume: {out} holds no run (no {CONFIG}); start one without --resume")
        config = load_config(out)
    elif started(out) and world.main:
        raise ConfigError(f"{out} already holds a run; continue it with --resume or choose another --out")
    if dataset is not None:
        check_dataset(dataset, config)
    data = dataset or world.main_first(lambda: load_dataset(config.data.name, config.data.data_dir,
                                                            config.data.download, config.data.train_subset))
    model = build(config, data)
    check_train_options(model, config)
    if isinstance(model, FittedModel) and world.distributed:
        raise ConfigError(f"{config.model} is fitted by its own solver in one process; run it without torchrun")
    if world.main:
        config.save(out / CONFIG)

    start = time.perf_counter()
    if isinstance(model, FittedModel):
        model.fit(data.train_x)
        last: dict[str, Any] = {}
        train_time = time.perf_counter() - start
        images_per_s = len(data.train_x) / max(train_time, 1e-9)
    else:
        train_batch, test_batch = world.main_first(
            lambda: prepare_batches(model, data, out, config.train.progress and world.main))
        last, images_per_s = loop(model, train_batch, test_batch, config, out, resume)
        train_time = last["train_time"]
        world.leave()   # the others' work is done: none is left waiting on a connection while the main one measures
        if not world.main:   # the main process saves, measures and draws
            return out
    model.cpu().eval()
    post_fit(model, data, out)
    save_weights(model, out / WEIGHTS)
    summary = {"model": config.model, "dataset": data.name, "data_source": data.source,
               "n_train": len(data.train_x), "n_test": len(data.test_x),
               "n_parameters": sum(p.numel() for p in model.parameters()),
               "train_time_s": round(train_time, 2), "images_per_s": round(images_per_s, 1),
               "wall_time_s": round(time.perf_counter() - start, 2), "machine": machine(), "processes": world.size,
               "device": str(resolve_device(config.train.device)) if not isinstance(model, FittedModel) else "cpu",
               "final": {k: v for k, v in last.items() if k.startswith(("train/", "test/"))}}
    measured = measure(model, data)
    write_summary(out, {**summary, **measured})
    draw_pictures(out, model, data, measured)
    return out


def check_dataset(dataset: Dataset, config: RunConfig) -> None:
    """Data handed in must be the data the config names (config.yaml would otherwise say another dataset)."""
    subset = config.data.train_subset
    if dataset.name != config.data.name or subset is not None and len(dataset.train_x) > subset:
        raise ConfigError(f"the dataset given is {dataset.name} with {len(dataset.train_x):,} training images, and "
                          f"the config asks for {config.data.name}"
                          f"{f' (its first {subset:,} training images)' if subset is not None else ''}; give the "
                          "dataset the config names, or make the config for this dataset")


FITTED_TAKES = ("seed", "progress", "eval_batch_size")   # the training options a fitted model uses


def check_train_options(model: Model, config: RunConfig) -> None:
    """Every training option is taken or refused: a fitted model takes none but its seed; sample grids need a
    model that samples by itself."""
    if isinstance(model, FittedModel):
        defaults = TrainConfig()
        given = [f.name for f in fields(TrainConfig) if f.name not in FITTED_TAKES
                 and getattr(config.train, f.name) != getattr(defaults, f.name)]
        if given:
            raise ConfigError(f"{config.model} is fitted by its own solver, not trained by gradient steps, so the "
                              f"training option(s) {', '.join(given)} would do nothing; drop them")
    if config.train.sample_every and default_source(model) != "model":
        raise ConfigError(f"train.sample_every: {config.model} does not sample by itself, so there are no sample "
                          "grids to draw during training; drop sample_every")


def started(out: Path) -> bool:
    """Whether `out` holds a run that trained: a folder whose start failed before its first checkpoint (a bad
    batch size, a full disk) holds nothing to lose, and a new command into it starts again."""
    return (out / CONFIG).exists() and ((out / CHECKPOINT_NAME).exists() or (out / WEIGHTS).exists())


def build(config: RunConfig, data: Dataset) -> Model:
    """The model, seeded; its parents' specs embedded and its full config (defaults filled in) kept."""
    embed_parents(config)
    torch.manual_seed(config.train.seed)
    model = build_model(config.model, config.model_config, data.shape)
    config.model_config = to_dict(model.config)
    return model


def prepare_batches(model: Model, data: Dataset, out: Path, progress: bool = True) -> tuple[dict, dict]:
    """What the loop trains and tests on: the dataset's images (and labels), or derived data."""
    derived = derived_batches(model, data, out, progress)
    if derived:
        return derived
    if model.uses_labels and data.train_y is None:
        raise ConfigError(f"{model.registry_name} needs labels and {data.name} has none")
    if model.uses_labels:
        return {"x": data.train_x, "y": data.train_y}, {"x": data.test_x, "y": data.test_y}
    return {"x": data.train_x}, {"x": data.test_x}


def loop(model: Model, train_batch: dict, test_batch: dict, config: RunConfig, out: Path, resume: bool
         ) -> tuple[dict[str, Any], float]:
    """The one training loop; the weight average becomes the model. (last epoch's metrics, images/s)."""
    cores = sharing()
    callbacks = [*([SampleGrids(out, config.train.sample_every)] if config.train.sample_every else []),
                 *([Snapshots(out, config.train.snapshot_epochs)] if config.train.snapshot_epochs else []),
                 GiveWay(cores)]
    with cores.taking_turns() if not current().distributed else nullcontext():   # ranks wait for each other
        last, ema = train_loop(model, train_batch, test_batch, config.train, out, resume=resume, callbacks=callbacks,
                               sharing=cores)
    if ema:  # the averaged weights are the model (the trained ones stay in the checkpoint)
        model.load_state_dict(ema.shadow)
    return last, last["step"] * config.train.batch_size / max(last["train_time"], 1e-9)


def post_fit(model: Model, data: Dataset, out: Path) -> None:
    """Fitted state a family samples with: the VQ-VAE's categorical prior over its tokens."""
    if isinstance(model, Tokenizes):
        CategoricalPrior().fit(model, data.train_x).save(out)


def measure(model: Model, data: Dataset) -> dict[str, Any]:
    """The numbers every applicable metric gives cheaply (reconstruction), and the family's own."""
    return {**evaluate_model(model, data, likelihood=False), **model.measure(data)}


class SampleGrids(Callback):
    """Every `every` epochs: 64 samples from the same noise (seed 0) into RUN/samples/epoch_NNNN.png."""

    def __init__(self, out: Path, every: int) -> None:
        self.out, self.every = out / "samples", every

    def epoch_end(self, model: Model, metrics: dict[str, Any], epoch_time: float) -> None:
        epoch = metrics["epoch"]
        if epoch % self.every or default_source(model) != "model":
            return
        was_training = model.training
        images, _ = draw(model, None, SampleRequest(n=64, seed=0))
        model.train(was_training)
        save_image_grid([images[i:i + 16] for i in range(0, 64, 16)], [""] * 4, self.out / f"epoch_{epoch:04d}.png",
                        title=f"{model.registry_name}: fixed-noise samples after epoch {epoch}")


class Snapshots(Callback):
    """After each of `epochs`: the weights used for evaluation (the EMA where there is one) into
    RUN/snapshots/epoch-NNNN.safetensors: a model along the way (FD against training time)."""

    def __init__(self, out: Path, epochs: list[int]) -> None:
        self.out, self.epochs = out / SNAPSHOTS, set(epochs)

    def epoch_end(self, model: Model, metrics: dict[str, Any], epoch_time: float) -> None:
        if metrics["epoch"] in self.epochs:
            atomic_save(model.state_dict(), snapshot_path(self.out.parent, metrics["epoch"]))


def snapshot_path(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / SNAPSHOTS / f"epoch-{epoch:04d}.safetensors"


def draw_pictures(out: Path, model: Model, data: Dataset, measured: dict, n: int = 16) -> None:
    metrics = read_metrics(out / METRICS)
    if metrics:
        save_loss_curve(metrics, out / "loss_curve.png", title=f"{model.registry_name} on {data.name}")
    if data.is_image and isinstance(model, Reconstructs):
        x = data.test_x[:n]
        with torch.no_grad():
            x_hat = model.reconstruct(x)
        save_image_grid([x, x_hat], ["test", "recon."], out / "reconstructions.png",
                        title=f"{model.registry_name} on {data.name}: test images and their reconstructions")
    if data.is_image and default_source(model):
        images, made = draw(model, out, SampleRequest(n=64, seed=0), data)
        save_image_grid([images[i:i + 16] for i in range(0, 64, 16)], [""] * 4, out / "samples.png",
                        title=f"{model.registry_name}: 64 samples ({made['label']}, seed 0)")
    save_figures(model.figures(data, measured), out)


@checked
def extend(out: str | Path, epochs: int) -> Path:
    """Continue the run in `out` (finished or interrupted) to `epochs` epochs in all. Allowed only when the
    learning rate is constant after warm-up, so that the result is the run `epochs` would have given from the
    start; a decaying schedule would have been another one over more epochs."""
    out = Path(out)
    if not (out / CONFIG).exists():
        raise ConfigError(f"{out} holds no run (no {CONFIG}); start one without --resume")
    config = load_config(out)
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
