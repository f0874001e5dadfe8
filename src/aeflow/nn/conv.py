"""Convolutional encoder and decoder stacks for small square images.

The encoder halves the resolution at each stage (stride-2 3x3 convs); the decoder mirrors it with
resize-then-convolve upsampling, which avoids the checkerboard artefacts of transposed convolutions
(Odena et al. 2016), or, for comparison, with stride-2 3x3 transposed convolutions (uneven overlap).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from aeflow.nn.mlp import ACTIVATIONS


def feature_shape(input_shape: Sequence[int], channels: Sequence[int]) -> tuple[int, int, int]:
    """(C, H, W) of the feature map after the stride-2 stages of `conv_features`."""
    _, h, w = input_shape
    for _ in channels:
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    return channels[-1], h, w


def conv_features(input_shape: Sequence[int], channels: Sequence[int], activation: str = "silu") -> nn.Sequential:
    """Image -> feature map, halving the resolution at each stage (stride-2 3x3 conv, GroupNorm, activation)."""
    c = input_shape[0]
    layers: list[nn.Module] = []
    for c_out in channels:
        layers += [nn.Conv2d(c, c_out, 3, stride=2, padding=1), nn.GroupNorm(min(8, c_out), c_out),
                   ACTIVATIONS[activation]()]
        c = c_out
    return nn.Sequential(*layers)


def conv_encoder(input_shape: Sequence[int], channels: Sequence[int], out_dim: int,
                 activation: str = "silu") -> nn.Sequential:
    return nn.Sequential(*conv_features(input_shape, channels, activation), nn.Flatten(),
                         nn.Linear(math.prod(feature_shape(input_shape, channels)), out_dim))


class Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


def conv_upsampler(output_shape: Sequence[int], channels: Sequence[int], activation: str = "silu",
                   upsampling: str = "resize") -> nn.Sequential:
    """Feature map of `feature_shape(output_shape, channels)` -> (C, H, W) pre-activations, doubling the
    resolution at each stage: "resize" (nearest, then a 3x3 convolution) or "transpose" (3x3, stride 2)."""
    c_out, h, w = output_shape
    sizes = [(h, w)]
    for _ in channels:
        sizes.append((math.ceil(sizes[-1][0] / 2), math.ceil(sizes[-1][1] / 2)))
    chans = list(channels)[::-1]
    layers: list[nn.Module] = []
    for i, c in enumerate(chans):
        nxt = chans[i + 1] if i + 1 < len(chans) else chans[-1]
        h_in, h_out = sizes[-1 - i][0], sizes[-2 - i][0]
        if upsampling == "transpose":
            up = [nn.ConvTranspose2d(c, nxt, 3, stride=2, padding=1, output_padding=h_out - (2 * h_in - 1))]
        else:
            up = [nn.Upsample(size=sizes[-2 - i], mode="nearest"), nn.Conv2d(c, nxt, 3, padding=1)]
        layers += [*up, nn.GroupNorm(min(8, nxt), nxt), ACTIVATIONS[activation]()]
    layers.append(nn.Conv2d(chans[-1], c_out, 3, padding=1))
    return nn.Sequential(*layers)


def conv_decoder(output_shape: Sequence[int], channels: Sequence[int], in_dim: int,
                 activation: str = "silu", upsampling: str = "resize") -> nn.Sequential:
    """Mirror of `conv_encoder`: `channels` as given to the encoder; outputs (C, H, W) pre-activations."""
    shape = feature_shape(output_shape, channels)
    return nn.Sequential(nn.Linear(in_dim, math.prod(shape)), Reshape(*shape), ACTIVATIONS[activation](),
                         *conv_upsampler(output_shape, channels, activation, upsampling))
