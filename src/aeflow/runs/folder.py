"""The files of a run folder and reading them back."""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from aeflow.config import RunConfig, checked
from aeflow.data import SHAPES
from aeflow.errors import ConfigError, DataError
from aeflow.files import read_json, write_json
from aeflow.models import Model
from aeflow.models.registry import build_model
from aeflow.training.checkpoint import CHECKPOINT_NAME, load_weights

CONFIG, WEIGHTS, SUMMARY = "config.yaml", "model.safetensors", "summary.json"
LOCK = ".aeflow.lock"


@contextmanager
def locked(run_dir: str | Path):
    """Hold the run folder's lock: one writer at a time (a second `aeflow train` into the same folder is
    refused, not interleaved; so are eval, sample, latent and sweeps while another holds it). The lock is the
    operating system's (released even on kill -9)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"{run_dir} is read-only here, and this command writes its results there; copy the run "
                          "folder somewhere writable")
    lock = FileLock(str(run_dir / LOCK))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConfigError(f"another aeflow process is writing {run_dir}; wait for it to finish, or choose "
                          "another --out") from None
    try:
        clean_temporary_files(run_dir)   # the lock is ours: no write is under way, leftovers are a kill's
        yield run_dir
    finally:
        lock.release()


@contextmanager
def writing_run(run_dir: str | Path):
    """The lock of an existing run folder, for the commands that add results to it (eval, sample, latent,
    sweeps): a folder that is not a run is refused, not created."""
    load_config(run_dir)
    with locked(run_dir) as held:
        yield held


def clean_temporary_files(run_dir: Path) -> None:
    """Temp files of writes that a kill interrupted (the files they were replacing are whole)."""
    for tmp in Path(run_dir).rglob("*.tmp"):
        tmp.unlink(missing_ok=True)


def load_config(run_dir: str | Path) -> RunConfig:
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists():
        raise ConfigError(f"{run_dir} is not a run folder: it has no {CONFIG}")
    return RunConfig.load(run_dir / CONFIG)


@checked
def load(run_dir: str | Path, checkpoint: bool = False) -> Model:
    """The model of a run folder, in eval mode on the CPU, built from that folder alone. `checkpoint=True`
    takes the last checkpoint (for a run that was interrupted before it wrote model.safetensors)."""
    run_dir = Path(run_dir)
    config = load_config(run_dir)
    model = build_model(config.model, config.model_config, SHAPES[config.data.name])
    path = run_dir / (CHECKPOINT_NAME if checkpoint else WEIGHTS)
    if not path.exists():
        hint = " (the run may have been interrupted: pass checkpoint=True or resume it)" if not checkpoint else ""
        raise ConfigError(f"{run_dir} has no {path.name}{hint}")
    load_weights(model, path, prefix="model." if checkpoint else "")
    return model.eval().requires_grad_(False)


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / SUMMARY
    summary = read_json(path)
    if not isinstance(summary, dict):
        raise DataError(f"{path} is not a JSON object; run `aeflow eval {run_dir}` to write it again")
    return summary


def write_summary(run_dir: str | Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Merge `updates` into summary.json (written atomically)."""
    path = Path(run_dir) / SUMMARY
    summary = read_summary(run_dir) if path.exists() else {}
    summary.update(updates)
    write_json(path, summary)
    return summary


def weights_digest(run_dir: str | Path) -> str:
    """A short hash of the run's model.safetensors: results computed from its weights carry it, so that
    they are known to be stale once the run trains further."""
    return hashlib.sha256((Path(run_dir) / WEIGHTS).read_bytes()).hexdigest()[:16]
