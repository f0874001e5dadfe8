"""Downloading the IDX datasets from their canonical mirrors, with md5 checks, into a cache dir."""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from aeflow.errors import DataError
from aeflow.files import atomic_write


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


class _WrongChecksum(Exception):
    pass


def download(filename: str, md5: str, mirrors: list[str], dest_dir: Path, timeout: float = 30.0) -> Path:
    """Fetch `filename` from the first mirror that serves it with the right md5; atomic on disk (a wrong or
    broken download leaves nothing behind)."""
    dest = dest_dir / filename
    failures = []
    for mirror in mirrors:
        url = mirror + filename

        def fetch(tmp: str, url: str = url) -> None:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                shutil.copyfileobj(response, out)
            got = md5sum(Path(tmp))
            if got != md5:
                raise _WrongChecksum(f"md5 {got}, expected {md5}")

        try:
            atomic_write(dest, fetch)
            return dest
        except _WrongChecksum as e:
            failures.append(f"{url}: {e}")
        except (urllib.error.URLError, OSError) as e:
            failures.append(f"{url}: {getattr(e, 'reason', e)}")
    raise DataError(f"could not download {filename}: " + "; ".join(failures))
