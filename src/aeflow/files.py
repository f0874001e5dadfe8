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
MARKER = ".aeflow.json"   # "this folder is aeflow's": written when aeflow creates or adopts a folder
# The files aeflow wrote under an aeflow folder (paths relative to it, a line each), kept by the nearest folder
# holding a MARKER: a rerun or clean-up removes only what is listed, never a user's file of a similar name.
MADE = ".aeflow-made"


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
        write(tmp)
        os.chmod(tmp, file_mode())   # after the write: a writer may replace the temp file with its own, 0600
        os.replace(tmp, path)
        _note_made(path)
    except OSError as e:
        if e.filename is None:   # a failed write (a full disk) names no file: the one it was writing is `path`
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _owner(path: Path) -> Path | None:
    """The nearest aeflow folder above `path` (one holding a MARKER)."""
    return next((folder for folder in path.absolute().parents if (folder / MARKER).is_file()), None)


def _note_made(path: Path) -> None:
    if path.name in (MARKER, MADE):
        return
    owner = _owner(path)
    if owner is None:
        return
    name = path.absolute().relative_to(owner).as_posix()
    if name not in made_files(owner):
        append_line(owner / MADE, name)


def made_files(folder: Path) -> set[str]:
    """The paths (relative to `folder`) of the files aeflow wrote under it."""
    try:
        return {line for line in (Path(folder) / MADE).read_text().splitlines() if line}
    except OSError:
        return set()


def remove_made(paths, also: tuple[str, ...] = ()) -> list[Path]:
    """Of `paths`, remove the files aeflow made (listed in the MADE of the aeflow folder holding them, or named
    in `also` directly in that folder: names only aeflow gives, for folders from before the list), then the
    folders among them left empty. A user's file is kept, and so is the folder holding it (and the files of
    another aeflow folder inside, unless its own list names them). Returns what was removed."""
    lists: dict[Path, set[str]] = {}
    removed = []
    for path in sorted({Path(p).absolute() for p in paths}, key=lambda p: -len(p.parts)):
        inside = path.is_dir() and not path.is_symlink()
        for file in [*sorted(path.rglob("*"), key=lambda p: -len(p.parts)), path] if inside else [path]:
            if file.is_dir() and not file.is_symlink():
                if not any(file.iterdir()):
                    file.rmdir()
                    removed.append(file)
                continue
            owner = _owner(file)
            if owner is None or not file.is_file():
                continue
            made = lists.setdefault(owner, made_files(owner))
            if file.relative_to(owner).as_posix() in made or file.parent == owner and file.name in also:
                file.unlink()
                removed.append(file)
    return removed


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


def append_line(path: Path, line: str) -> None:
    """One line added to the end of a log (a short append is whole even beside another process appending);
    the file and its folder made on the first."""
    path = Path(path)
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(line + "\n")
    if new:
        _note_made(path)


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
