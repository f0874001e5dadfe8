"""Datasets: the IDX reader, named datasets and downloads."""

from aeflow.data.datasets import DATA_DIR_ENV, DATASETS, Dataset, describe_datasets, load_dataset
from aeflow.data.idx import read_idx

__all__ = ["DATASETS", "DATA_DIR_ENV", "Dataset", "describe_datasets", "load_dataset", "read_idx"]
