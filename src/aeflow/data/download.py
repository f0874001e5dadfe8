"""Downloading the IDX datasets from their canonical mirrors, with md5 checks, into a cache dir."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from aeflow.errors import DataError


def cache_dir() -> Path:
    """Where downloads go: $AEFLOW_CACHE, else $XDG_CACHE_HOME/aeflow, else ~/.cache/aeflow."""
    if os.environ.get("AEFLOW_CACHE"):
        return Path(os.environ["AEFLOW_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aeflow"


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(filename: str, md5: str, mirrors: list[str], dest_dir: Path, timeout: float = 30.0) -> Path:
    """Fetch `filename` from the first mirror that serves it with the right md5; atomic on disk."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / filename
    failures = []
    for mirror in mirrors:
        url = mirror + filename
        fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=filename, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                shutil.copyfileobj(response, out)
            got = md5sum(Path(tmp))
            if got != md5:
                failures.append(f"{url}: md5 {got}, expected {md5}")
                continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, OSError) as e:
            failures.append(f"{url}: {getattr(e, 'reason', e)}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DataError(f"could not download {filename}: " + "; ".join(failures))
