import shutil

import pytest
import torch

from aeflow.data import load_dataset
from aeflow.data.download import download, md5sum
from aeflow.errors import DataError
from tests.conftest import shared_dir


def test_digits_shapes_ranges_and_split():
    ds = load_dataset("digits")
    assert ds.shape == (1, 8, 8)
    assert len(ds.train_x) + len(ds.test_x) == 1797
    assert ds.train_x.dtype == torch.float32
    assert 0 <= float(ds.train_x.min()) and float(ds.train_x.max()) == 1.0
    assert sorted(ds.test_y.unique().tolist()) == list(range(10))


def test_swissroll_points_in_unit_cube():
    ds = load_dataset("swissroll")
    assert ds.shape == (3,) and not ds.is_image
    assert float(ds.train_x.min()) >= 0 and float(ds.train_x.max()) <= 1
    assert ds.train_y.shape == (len(ds.train_x),)


@pytest.mark.parametrize("name,folder", [("mnist", "mnist"), ("fashion-mnist", "fashion-mnist")])
def test_idx_datasets_from_data_dir(name, folder):
    ds = load_dataset(name, data_dir=str(shared_dir(folder)), download=False)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert float(ds.train_x.min()) == 0.0 and float(ds.train_x.max()) == 1.0
    assert ds.train_y.bincount().min() > 5000


def test_torchvision_layout_and_env_variable(tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in shared_dir("mnist").iterdir():
        (raw / f.name).symlink_to(f)
    monkeypatch.setenv("AEFLOW_DATA_DIR", str(tmp_path))
    assert len(load_dataset("mnist", download=False).test_x) == 10000


def test_missing_files_are_named_with_the_fix(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(DataError) as e:
        load_dataset("mnist", data_dir=str(tmp_path), download=False)
    msg = str(e.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "--data-dir" in msg
    assert "lacks train-images" not in msg  # that one is present


def test_mnist_files_are_not_taken_for_fashion():
    with pytest.raises(DataError, match="holds mnist, not fashion-mnist"):
        load_dataset("fashion-mnist", data_dir=str(shared_dir("mnist")), download=False)


def test_images_and_labels_must_belong_together(tmp_path):
    src = shared_dir("mnist")
    for f in src.iterdir():
        (tmp_path / f.name).symlink_to(f)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    shutil.copy(src / "train-labels-idx1-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="10000 images but 60000 labels"):
        load_dataset("mnist", data_dir=str(tmp_path), download=False)


def test_unknown_dataset():
    with pytest.raises(DataError, match="choose one of digits, mnist"):
        load_dataset("cifar")


def test_download_checks_md5(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "f.gz").write_bytes(b"payload")
    good = md5sum(mirror / "f.gz")
    dest = tmp_path / "cache"
    with pytest.raises(DataError, match="md5"):
        download("f.gz", "0" * 32, [mirror.as_uri() + "/"], dest)
    assert not any(dest.iterdir())  # nothing half-written left behind
    mirrors = [(tmp_path / "nowhere").as_uri() + "/", mirror.as_uri() + "/"]  # the first one fails
    assert download("f.gz", good, mirrors, dest).read_bytes() == b"payload"


def test_the_dataset_names_and_shapes_known_up_front_match_the_data():
    from aeflow.config import DATASET_NAMES
    from aeflow.data import DATASETS, SHAPES

    assert set(DATASET_NAMES) == set(DATASETS) == set(SHAPES)
    for name in ("digits", "swissroll"):
        assert tuple(load_dataset(name).shape) == SHAPES[name]
