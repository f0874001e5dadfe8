"""Training: the one loop, learning-rate schedules and checkpoints."""

from aeflow.training.trainer import Interrupted, evaluate, read_metrics, resolve_device, train

__all__ = ["Interrupted", "evaluate", "read_metrics", "resolve_device", "train"]
