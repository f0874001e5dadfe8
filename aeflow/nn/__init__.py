"""Building blocks shared by model families."""

from aeflow.nn.conv import conv_decoder, conv_encoder
from aeflow.nn.mlp import ACTIVATIONS, NORMS, mlp

__all__ = ["ACTIVATIONS", "NORMS", "conv_decoder", "conv_encoder", "mlp"]
