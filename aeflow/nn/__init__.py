"""Building blocks shared by model families."""

from aeflow.nn.mlp import ACTIVATIONS, NORMS, mlp

__all__ = ["ACTIVATIONS", "NORMS", "mlp"]
