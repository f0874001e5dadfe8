"""The IDX file format of MNIST and Fashion-MNIST (gzip-compressed or raw).

Header, big-endian: two zero bytes, a type byte, the number of dimensions, then one uint32 per
dimension; then the data, C order. Nothing is reshaped silently: every mismatch is a DataError.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from aeflow.errors import DataError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
           0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is a corrupt or truncated gzip file ({e}); delete it and download it again") from None


def read_idx(path: str | Path, expect_ndim: int | None = None) -> np.ndarray:
    """Read one IDX file; `expect_ndim` (3 for images, 1 for labels) is checked when given."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataError(f"{path} is not an IDX file: wrong magic number {data[:4].hex() or '(empty)'} "
                        "(expected 0000 08 0N for unsigned bytes)")
    dtype = np.dtype(_DTYPES[data[2]])
    ndim = data[3]
    if expect_ndim is not None and ndim != expect_ndim:
        raise DataError(f"{path} has {ndim} dimensions, expected {expect_ndim} "
                        f"({'images' if expect_ndim == 3 else 'labels'}); is it the right file?")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated inside its header")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    found = len(data) - header
    if found < expected:
        raise DataError(f"{path} is truncated: its header promises shape {shape} ({expected} bytes of data), "
                        f"the file holds {found}; download it again")
    if found > expected:
        raise DataError(f"{path} has {found - expected} bytes after the data its header describes "
                        f"(shape {shape}); the file is corrupt")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
