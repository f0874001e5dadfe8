"""Files written atomically and read back safely: safetensors for tensors (nothing is ever unpickled),
text and JSON through a temp file renamed over the target, so a crash mid-write leaves the old file whole.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aeflow.errors import ConfigError, DataError

if TYPE_CHECKING:
    import torch


# Every temp file aeflow writes ends so: cleaning after a kill removes these and nothing else.
TEMP_SUFFIX = ".aeflow-tmp"


def file_mode() -> int:
    """The mode a new file gets from the process's umask (what `open` would give): mkstemp's 0600 would make
    every report and run file private on a shared machine."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)   # elsewhere: read by setting it, then set back
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, write) -> None:
    """`write(tmp_path)` into a temp file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:100]}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        os.chmod(tmp, file_mode())
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:
        if e.filename is None:   # a failed write (a full disk) names no file: the one it was writing is `path`
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def check_writable(path: str | Path, option: str, folder: bool = False) -> Path:
    """Refuse, before any work, an output that cannot be written: a name too long for the file system, a file
    where a folder belongs (or the reverse), a parent that is missing or a file, a place without permission."""
    path = Path(path)
    if any(len(part.encode()) > 255 for part in path.parts) or len(str(path.absolute()).encode()) >= 4096:
        raise ConfigError(f"{option} {str(path)[:80]}...: the name is too long for the file system (255 bytes a "
                          "name, 4096 a path); choose a shorter one")
    if path.exists() and path.is_dir() != folder:
        raise ConfigError(f"{option} {path} is {'a file' if folder else 'a folder'}; give a "
                          f"{'folder' if folder else 'file name'}")
    parent = path if folder else path.parent
    existing = next(p for p in [parent, *parent.parents] if p.exists() or p == Path(p.anchor or "."))
    if not folder and existing != parent:
        raise ConfigError(f"{option} {path}: the folder {parent} does not exist; create it first")
    if not existing.is_dir():
        raise ConfigError(f"{option} {path}: {existing} is a file, so nothing can be written under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: no permission to write in {existing}; choose another place")
    return path


def atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import save_file  # here, not at the top: `aeflow --help` should not load torch

    def write(tmp: str) -> None:
        try:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
        except SafetensorError as e:   # the library reports a full disk as its own error: give it back as one
            code = re.search(r"os error (\d+)", str(e))
            if code:
                raise OSError(int(code.group(1)), os.strerror(int(code.group(1))), str(path)) from None
            raise

    atomic_write(path, write)


def atomic_save_array(path: Path, array) -> None:
    """A numpy array as a .npy file (no pickles: object arrays are refused by numpy)."""
    import numpy as np

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)

    atomic_write(path, write)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


def read_json(path: Path) -> Any:
    if Path(path).is_dir():
        raise DataError(f"{path} is a folder, not a JSON file; restore the file from a copy of the run")
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {path} as JSON ({e}); the file is missing or damaged") from None


def read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    if Path(path).is_dir():
        raise DataError(f"{path} is a folder, not a safetensors file; restore the file from a copy of the run")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as e:
        raise DataError(f"cannot read {path} as safetensors ({e}); the file is missing or corrupt") from None


def with_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors whose names start with `prefix`, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
