"""Named datasets. Each yields train and test splits as float32 tensors in [0, 1], labels where they exist.

Images are (N, C, H, W); the Swiss roll is (N, 3) points with the roll's intrinsic coordinate as
its (continuous) label.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aeflow.config import checked
from aeflow.data.download import cache_dir, download, md5sum
from aeflow.data.idx import read_idx
from aeflow.errors import DataError

DATA_DIR_ENV = "AEFLOW_DATA_DIR"


@dataclass
class Dataset:
    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor | None
    test_x: torch.Tensor
    test_y: torch.Tensor | None
    source: str                      # where the data was found, for the user
    classes: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. (1, 28, 28)."""
        return tuple(self.train_x.shape[1:])

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    def subset_train(self, n: int | None) -> Dataset:
        if n is None or n >= len(self.train_x):
            return self
        y = None if self.train_y is None else self.train_y[:n]
        return Dataset(self.name, self.train_x[:n], y, self.test_x, self.test_y,
                       f"{self.source} (first {n} training examples)", self.classes)


@dataclass(frozen=True)
class IdxSpec:
    """An MNIST-style dataset: four IDX files with their md5s and the mirrors that serve them."""

    name: str
    folder_names: tuple[str, ...]     # sub-folders to look in, e.g. torchvision's MNIST/raw
    mirrors: tuple[str, ...]
    md5: dict[str, str]
    classes: tuple[str, ...]

    FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


MNIST = IdxSpec(
    name="mnist",
    folder_names=("", "mnist", "MNIST/raw", "MNIST"),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    md5={"train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
         "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
         "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c"},
    classes=tuple(str(i) for i in range(10)),
)

FASHION_MNIST = IdxSpec(
    name="fashion-mnist",
    folder_names=("", "fashion-mnist", "FashionMNIST/raw", "FashionMNIST", "fashion"),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    md5={"train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
         "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
         "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310"},
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"),
)


IDX_SPECS = (MNIST, FASHION_MNIST)


def _candidates(root: Path, spec: IdxSpec, stem: str) -> list[Path]:
    # Both the canonical names and the dotted variant some copies use (train-images.idx3-ubyte).
    names = [stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")]
    return [root / folder / name for folder in spec.folder_names for name in names]


def _find(root: Path, spec: IdxSpec) -> dict[str, Path] | None:
    found = {}
    for stem in IdxSpec.FILES:
        hit = next((p for p in _candidates(root, spec, stem) if p.is_file()), None)
        if hit is None:
            return None
        found[stem] = hit
    return found


def _locate_idx(spec: IdxSpec, data_dir: str | None, allow_download: bool) -> tuple[dict[str, Path], str]:
    """The user's directory if given (and only it), else $AEFLOW_DATA_DIR, else the cache, else download."""
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        found = _find(root, spec)
        if found is None:
            raise DataError(_missing_message(spec, root, "--data-dir"))
        return found, str(root)
    roots = [Path(os.environ[DATA_DIR_ENV]).expanduser()] if os.environ.get(DATA_DIR_ENV) else []
    cache = cache_dir() / spec.name
    for root in [*roots, cache]:
        found = _find(root, spec)
        if found is not None:
            return found, str(root)
    if not allow_download:
        raise DataError(_missing_message(spec, cache, "the cache"))
    try:
        found = {stem: download(stem + ".gz", spec.md5[stem], list(spec.mirrors), cache) for stem in IdxSpec.FILES}
    except DataError as e:
        raise DataError(f"{e}. {_missing_message(spec, cache, 'the cache')}") from None
    return found, f"{cache} (downloaded)"


def _missing_message(spec: IdxSpec, root: Path, what: str) -> str:
    missing = [stem + ".gz" for stem in IdxSpec.FILES if not any(p.is_file() for p in _candidates(root, spec, stem))]
    return (f"{spec.name}: {what} {root} lacks {', '.join(missing)}. Put the four IDX files "
            f"({', '.join(s + '.gz' for s in IdxSpec.FILES)}) in one directory and pass it with --data-dir "
            f"or ${DATA_DIR_ENV}, or run on a machine with internet to download them into {cache_dir() / spec.name}")


def _check_not_other_dataset(spec: IdxSpec, files: dict[str, Path]) -> None:
    """MNIST and Fashion-MNIST share file names: tell them apart by the (small) label file's md5."""
    labels = files["train-labels-idx1-ubyte"]
    if labels.suffix != ".gz":
        return
    digest = md5sum(labels)
    for other in IDX_SPECS:
        if other is not spec and digest == other.md5["train-labels-idx1-ubyte"]:
            raise DataError(f"{labels.parent} holds {other.name}, not {spec.name} (by the md5 of {labels.name}); "
                            f"point --data-dir at the {spec.name} files")


def load_idx_dataset(spec: IdxSpec, data_dir: str | None, allow_download: bool) -> Dataset:
    files, source = _locate_idx(spec, data_dir, allow_download)
    _check_not_other_dataset(spec, files)
    arrays = {stem: read_idx(path, expect_ndim=3 if "images" in stem else 1) for stem, path in files.items()}
    splits = []
    for split in ("train", "t10k"):
        images, labels = arrays[f"{split}-images-idx3-ubyte"], arrays[f"{split}-labels-idx1-ubyte"]
        if images.dtype != np.uint8 or images.shape[1:] != (28, 28):
            raise DataError(f"{files[f'{split}-images-idx3-ubyte']}: expected uint8 images of 28x28, "
                            f"got {images.dtype} {images.shape[1:]}")
        if len(images) != len(labels):
            raise DataError(f"{spec.name} {split}: {len(images)} images but {len(labels)} labels "
                            f"({files[f'{split}-labels-idx1-ubyte']}); the files do not belong together")
        if labels.size and labels.max() >= len(spec.classes):
            raise DataError(f"{files[f'{split}-labels-idx1-ubyte']}: label {labels.max()} out of range "
                            f"0..{len(spec.classes) - 1}")
        x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        splits.append((x, torch.from_numpy(labels.astype(np.int64))))
    (train_x, train_y), (test_x, test_y) = splits
    return Dataset(spec.name, train_x, train_y, test_x, test_y, source, spec.classes)


def load_digits_dataset(data_dir: str | None = None, allow_download: bool = False) -> Dataset:
    """sklearn's 8x8 digits (shipped with scikit-learn): a fixed, stratified 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]
    xtr, xte, ytr, yte = train_test_split(x, bunch.target, test_size=0.2, random_state=0, stratify=bunch.target)
    return Dataset("digits", torch.from_numpy(xtr), torch.from_numpy(ytr.astype(np.int64)),
                   torch.from_numpy(xte), torch.from_numpy(yte.astype(np.int64)),
                   "scikit-learn (bundled)", tuple(str(i) for i in range(10)))


def load_swissroll_dataset(data_dir: str | None = None, allow_download: bool = False,
                           n_train: int = 4000, n_test: int = 1000) -> Dataset:
    """sklearn's Swiss roll, 3-D points scaled jointly into [0, 1]; label = the roll's coordinate t."""
    from sklearn.datasets import make_swiss_roll

    points, t = make_swiss_roll(n_samples=n_train + n_test, noise=0.05, random_state=0)
    lo, hi = points.min(axis=0), points.max(axis=0)
    x = torch.from_numpy(((points - lo) / (hi - lo)).astype(np.float32))
    y = torch.from_numpy(t.astype(np.float32))
    return Dataset("swissroll", x[:n_train], y[:n_train], x[n_train:], y[n_train:], "scikit-learn (generated, seed 0)")


# Each dataset's image (or point) shape, known without loading it: configs are validated against it first.
SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "swissroll": (3,)}

DATASETS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits_dataset,
    "mnist": lambda data_dir=None, allow_download=True: load_idx_dataset(MNIST, data_dir, allow_download),
    "fashion-mnist": lambda data_dir=None, allow_download=True: load_idx_dataset(FASHION_MNIST, data_dir,
                                                                                 allow_download),
    "swissroll": load_swissroll_dataset,
}


@checked
def load_dataset(name: str, data_dir: str | None = None, download: bool = True,
                 train_subset: int | None = None) -> Dataset:
    """Load a named dataset: `digits`, `mnist`, `fashion-mnist` or `swissroll`."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if data_dir is not None and name in ("digits", "swissroll"):
        raise DataError(f"--data-dir {data_dir}: {name} comes with scikit-learn and reads no files; the option is for "
                        "mnist and fashion-mnist (drop it, or choose one of those with -d)")
    return DATASETS[name](data_dir=data_dir, allow_download=download).subset_train(train_subset)


def describe_datasets(data_dir: str | None = None) -> list[dict[str, str]]:
    """What is available and where it was found, without downloading anything."""
    rows = []
    for name in DATASETS:
        try:
            ds = load_dataset(name, data_dir=data_dir if name in ("mnist", "fashion-mnist") else None,
                              download=False)
            rows.append({"name": name, "status": "available", "shape": "x".join(map(str, ds.shape)),
                         "train": str(len(ds.train_x)), "test": str(len(ds.test_x)), "source": ds.source})
        except DataError as e:
            rows.append({"name": name, "status": "missing", "shape": "", "train": "", "test": "", "source": str(e)})
    return rows
