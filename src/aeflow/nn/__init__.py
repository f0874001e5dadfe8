"""Building blocks shared by model families."""

from aeflow.nn.conv import conv_decoder, conv_encoder, conv_features, conv_upsampler, feature_shape
from aeflow.nn.made import ConditionalMADE
from aeflow.nn.mlp import ACTIVATIONS, NORMS, mlp

__all__ = ["ACTIVATIONS", "NORMS", "ConditionalMADE", "conv_decoder", "conv_encoder", "conv_features", "conv_upsampler",
           "feature_shape",
           "mlp"]
