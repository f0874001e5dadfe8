"""Reproductions of published results, each a function and an `aeflow reproduce` command."""

from aeflow.studies.reproduce.hinton import reproduce_hinton
from aeflow.studies.reproduce.swissroll import reproduce_swissroll

EXPERIMENTS = {"hinton": reproduce_hinton, "swissroll": reproduce_swissroll}

__all__ = ["EXPERIMENTS", "reproduce_hinton", "reproduce_swissroll"]
