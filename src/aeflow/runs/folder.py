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
from aeflow.errors import AeflowError, ConfigError, DataError
from aeflow.files import MARKER, TEMP_SUFFIX, read_json, read_tensors, write_json
from aeflow.models import Model
from aeflow.models.registry import MODELS, build_model
from aeflow.training.checkpoint import CHECKPOINT_NAME, load_weights

CONFIG, WEIGHTS, SUMMARY = "config.yaml", "model.safetensors", "summary.json"
LOCK = ".aeflow.lock"


@contextmanager
def locked(folder: str | Path, kind: str = "run", option: str = "--out"):
    """Hold an aeflow folder's lock: one writer at a time (a second `aeflow train` into the same folder is
    refused, not interleaved; so are eval, sample, latent, sweeps and a second lineage while another holds it).
    The lock is the operating system's (released even on kill -9). The folder must be aeflow's (`own_folder`);
    one this call created is removed again if the command fails before writing anything into it."""
    folder = Path(folder)
    created = own_folder(folder, kind, option)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{folder} is read-only here, and this command writes its results there; copy the run "
                          "folder somewhere writable")
    lock = FileLock(str(folder / LOCK))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConfigError(f"another aeflow process is writing {folder}; wait for it to finish, or choose "
                          "another --out") from None
    failed = True
    try:
        if not (folder / MARKER).exists():   # made or adopted now (written under the lock: one writer)
            write_json(folder / MARKER, {"made_by": "aeflow", "kind": kind})
        clean_temporary_files(folder)   # the lock is ours: no write is under way, leftovers are a kill's
        yield folder
        failed = False
    finally:
        lock.release()
        if failed and created:
            _remove_if_unused(folder, created)


@contextmanager
def writing_run(run_dir: str | Path):
    """The lock of an existing run folder, for the commands that add results to it (eval, sample, latent,
    sweeps): a folder that is not a run is refused, not created."""
    load_config(run_dir)
    with locked(run_dir, option="RUN_DIR") as held:
        yield held


def own_folder(folder: Path, kind: str, option: str = "--out") -> Path | None:
    """Make sure `folder` is aeflow's to write: create it (returning the first folder created), adopt an empty
    one, or accept one aeflow made (its marker; a lock or a trained run from an earlier version). Anything else
    is the user's: refused."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{option} {folder} is a file; aeflow writes into a folder: give a folder's name")
    if not folder.exists():
        first = next(p for p in [*reversed(folder.absolute().parents), folder.absolute()] if not p.exists())
        folder.mkdir(parents=True)
        return first
    marker = folder / MARKER
    if marker.exists():
        made = read_json(marker)
        made_kind = made.get("kind") if isinstance(made, dict) else None
        if made_kind != kind:
            raise ConfigError(f"{option} {folder} is an aeflow {made_kind or 'folder of unknown kind'} folder, not a "
                              f"{kind} folder; choose another {option}")
        return None
    if (folder / LOCK).exists() or _holds_trained_run(folder) or not any(folder.iterdir()):
        return None
    if (folder / "chapters").is_dir() and (folder / "report.json").is_file():
        raise ConfigError(f"{option} {folder} holds a lineage made by an earlier aeflow version, whose chapters this "
                          f"version cannot check against its own; choose another {option} (or move that folder away)")
    entries = sorted(p.name for p in folder.iterdir())
    raise ConfigError(f"{option} {folder} is a folder aeflow did not make (it holds {len(entries)} "
                      f"entr{'y' if len(entries) == 1 else 'ies'}, e.g. {entries[0]!r}); aeflow writes only into new, "
                      f"empty or its own folders: choose another {option}")


def check_new_file(path: str | Path, option: str) -> Path:
    """An output file named by the user: refused if it exists outside aeflow's folders (aeflow replaces only
    what it made, and a file outside its folders may be anyone's)."""
    path = Path(path)
    if path.exists() and not any((p / MARKER).exists() or (p / LOCK).exists() for p in path.absolute().parents):
        raise ConfigError(f"{option} {path} exists, and aeflow replaces only files in its own folders; choose "
                          "another name, or move that file away first")
    return path


def _holds_trained_run(folder: Path) -> bool:
    """A run folder copied without its lock file (or from an earlier aeflow): a config.yaml that is a run config
    of a known family beside a safetensors file of weights. A user's files of the same names are not."""
    weights = [p for p in (folder / WEIGHTS, folder / CHECKPOINT_NAME) if p.is_file()]
    try:
        config = load_config(folder)
        read_tensors(weights[0])
    except (AeflowError, IndexError, OSError):
        return False
    return config.model in MODELS


def _remove_if_unused(folder: Path, first_created: Path) -> None:
    """Folders this command created and then wrote nothing into (it failed first): no trace is left."""
    leftovers = {p.name for p in folder.iterdir()} if folder.is_dir() else {"?"}
    if not leftovers <= {MARKER, LOCK}:
        return
    for name in leftovers:
        (folder / name).unlink(missing_ok=True)
    for made in [folder.absolute(), *folder.absolute().parents]:
        if made == first_created.parent or any(made.iterdir()):
            return
        made.rmdir()


def clean_temporary_files(folder: Path) -> None:
    """aeflow's temp files (TEMP_SUFFIX) of writes that a kill interrupted, in this folder and its subfolders,
    but not in a subfolder that is another aeflow folder (its own lock, perhaps held by another process)."""
    for path in Path(folder).iterdir():
        if path.is_file() and path.name.endswith(TEMP_SUFFIX):
            path.unlink(missing_ok=True)
        elif path.is_dir() and not path.is_symlink() and not (path / MARKER).exists() and not (path / LOCK).exists():
            clean_temporary_files(path)


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
