"""A multilayer perceptron: Linear -> norm -> activation per hidden layer, a plain Linear at the end."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU,
               "elu": nn.ELU}
NORMS = {"none": None, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


def mlp(widths: Sequence[int], activation: str = "gelu", norm: str = "none") -> nn.Sequential:
    """widths = [in, hidden..., out]. The last layer is linear: callers add their output map."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            if NORMS[norm] is not None:
                layers.append(NORMS[norm](n_out))
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)
