"""Reproductions of published results, each a function and an `aeflow reproduce` command."""

from aeflow.reproduce.hinton import reproduce_hinton

EXPERIMENTS = {"hinton": reproduce_hinton}

__all__ = ["EXPERIMENTS", "reproduce_hinton"]
