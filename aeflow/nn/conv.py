"""Convolutional encoder and decoder stacks for small square images.

The encoder halves the resolution at each stage (stride-2 3x3 convs); the decoder mirrors it with
resize-then-convolve upsampling, which avoids the checkerboard artefacts of transposed convolutions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from aeflow.nn.mlp import ACTIVATIONS


def conv_encoder(input_shape: Sequence[int], channels: Sequence[int], out_dim: int,
                 activation: str = "silu") -> nn.Sequential:
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for c_out in channels:
        layers += [nn.Conv2d(c, c_out, 3, stride=2, padding=1), nn.GroupNorm(min(8, c_out), c_out),
                   ACTIVATIONS[activation]()]
        c, h, w = c_out, math.ceil(h / 2), math.ceil(w / 2)
    layers += [nn.Flatten(), nn.Linear(c * h * w, out_dim)]
    return nn.Sequential(*layers)


class Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


def conv_decoder(output_shape: Sequence[int], channels: Sequence[int], in_dim: int,
                 activation: str = "silu") -> nn.Sequential:
    """Mirror of `conv_encoder`: `channels` as given to the encoder; outputs (C, H, W) pre-activations."""
    c_out, h, w = output_shape
    sizes = [(h, w)]
    for _ in channels:
        sizes.append((math.ceil(sizes[-1][0] / 2), math.ceil(sizes[-1][1] / 2)))
    chans = list(channels)[::-1]
    h0, w0 = sizes[-1]
    layers: list[nn.Module] = [nn.Linear(in_dim, chans[0] * h0 * w0), Reshape(chans[0], h0, w0),
                               ACTIVATIONS[activation]()]
    for i, c in enumerate(chans):
        nxt = chans[i + 1] if i + 1 < len(chans) else chans[-1]
        layers += [nn.Upsample(size=sizes[-2 - i], mode="nearest"), nn.Conv2d(c, nxt, 3, padding=1),
                   nn.GroupNorm(min(8, nxt), nxt), ACTIVATIONS[activation]()]
    layers.append(nn.Conv2d(chans[-1], c_out, 3, padding=1))
    return nn.Sequential(*layers)
