"""The IDX file format of MNIST and Fashion-MNIST (gzip-compressed or raw).

Header, big-endian: two zero bytes, a type byte, the number of dimensions, then one uint32 per
dimension; then the data, C order. Nothing is reshaped silently: every mismatch is a DataError.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from aeflow.config import available_memory
from aeflow.errors import DataError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
           0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | Path, expect_ndim: int | None = None) -> np.ndarray:
    """Read one IDX file; `expect_ndim` (3 for images, 1 for labels) is checked when given. A gzip file is
    decompressed as a stream and never past what its header promises (plus one byte, to catch trailing data),
    so a file that decompresses to gigabytes, or a header that claims them, is refused without reading them."""
    path = Path(path)
    try:
        raw = open(path, "rb")
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    with raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if compressed else raw
        try:
            return _parse(path, stream, expect_ndim)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path} is a corrupt or truncated gzip file ({e}); delete it and download it "
                            "again") from None


def _parse(path: Path, stream: BinaryIO, expect_ndim: int | None) -> np.ndarray:
    magic = stream.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _DTYPES:
        raise DataError(f"{path} is not an IDX file: wrong magic number {magic.hex() or '(empty)'} "
                        "(expected 0000 08 0N for unsigned bytes)")
    dtype, ndim = np.dtype(_DTYPES[magic[2]]), magic[3]
    if expect_ndim is not None and ndim != expect_ndim:
        raise DataError(f"{path} has {ndim} dimensions, expected {expect_ndim} "
                        f"({'images' if expect_ndim == 3 else 'labels'}); is it the right file?")
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f"{path} is truncated inside its header")
    shape = tuple(int(d) for d in np.frombuffer(dims, ">u4"))
    expected = math.prod(shape) * dtype.itemsize   # Python integers: no overflow
    # the extents count even beside a zero: numpy cannot shape (0, 2^32, 2^32) either
    if math.prod(max(d, 1) for d in shape) * dtype.itemsize > available_memory():
        raise DataError(f"{path}: its header claims shape {shape}, more than this machine's free memory can hold; "
                        "the file is corrupt or not an IDX file")
    data = stream.read(expected + 1)
    if len(data) < expected:
        raise DataError(f"{path} is truncated: its header promises shape {shape} ({expected} bytes of data), "
                        f"the file holds {len(data)}; download it again")
    if len(data) > expected:
        raise DataError(f"{path} holds more bytes than the data its header describes (shape {shape}); the file "
                        "is corrupt")
    return np.frombuffer(data, dtype).reshape(shape).astype(dtype.newbyteorder("="))
