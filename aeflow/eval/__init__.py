"""Metrics computed from a trained model and a dataset split."""

from aeflow.eval.reconstruction import reconstruction_error

__all__ = ["reconstruction_error"]
