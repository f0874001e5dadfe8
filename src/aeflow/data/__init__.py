"""Datasets: the IDX reader, named datasets and downloads."""

from aeflow.data.datasets import DATA_DIR_ENV, DATASETS, SHAPES, Dataset, describe_datasets, load_dataset
from aeflow.data.idx import read_idx

__all__ = ["DATASETS", "DATA_DIR_ENV", "SHAPES", "Dataset", "describe_datasets", "load_dataset", "read_idx"]
