import gzip
import struct

import numpy as np
import pytest

from aeflow.data import read_idx
from aeflow.errors import DataError
from tests.conftest import shared_dir


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)


def test_reads_raw_and_gzip(tmp_path, images):
    raw, gz = tmp_path / "a-idx3-ubyte", tmp_path / "a-idx3-ubyte.gz"
    raw.write_bytes(idx_bytes(images))
    gz.write_bytes(gzip.compress(idx_bytes(images)))
    np.testing.assert_array_equal(read_idx(raw, expect_ndim=3), images)
    np.testing.assert_array_equal(read_idx(gz, expect_ndim=3), images)


def test_truncated_file_names_file_and_sizes(tmp_path, images):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(idx_bytes(images)[:-100]))
    with pytest.raises(DataError, match=r"t\.gz is truncated.*3920 bytes of data.*3820"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path, images):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(images))[:-20])
    with pytest.raises(DataError, match="cut.gz is a corrupt or truncated gzip"):
        read_idx(path)


def test_wrong_magic(tmp_path, images):
    path = tmp_path / "bad"
    path.write_bytes(b"\x12\x34" + idx_bytes(images)[2:])
    with pytest.raises(DataError, match="bad is not an IDX file: wrong magic"):
        read_idx(path)


def test_trailing_bytes_and_wrong_ndim(tmp_path, images):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(images) + b"\0\0")
    with pytest.raises(DataError, match="holds more bytes than the data its header describes"):
        read_idx(path)
    path.write_bytes(idx_bytes(images))
    with pytest.raises(DataError, match="has 3 dimensions, expected 1"):
        read_idx(path, expect_ndim=1)


def test_real_mnist_test_files():
    root = shared_dir("mnist")
    x = read_idx(root / "t10k-images-idx3-ubyte.gz", expect_ndim=3)
    y = read_idx(root / "t10k-labels-idx1-ubyte.gz", expect_ndim=1)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
