"""Time-conditioned networks for diffusion and flow matching: a small UNet and an MLP.

Both take (x, t) with t a float in [0, 1] per example (the noise process maps its own time to it) and
return a tensor shaped like x. They know nothing about noise schedules or samplers.

The UNet follows Ho et al. (2020) at a size for 28x28 and 8x8 single-channel images: a sinusoidal
time embedding, residual blocks with GroupNorm and the time added after the first convolution,
stride-2 convolutions down, nearest-neighbour resize then convolution up (no checkerboard), skip
connections by concatenation, optional self-attention at the lowest resolution, a zero-initialised
output layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """Transformer-style features of t * scale (so t in [0, 1] spans the frequencies as DDPM's 0..999)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = (t.float() * scale)[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def _groups(channels: int) -> int:
    return math.gcd(8, channels)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, time_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(c_in), c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(time_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(_groups(c_out), c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.time(temb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Single-head self-attention over the pixels of a feature map, residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).unbind(1)
        y = F.scaled_dot_product_attention(q, k, v).transpose(-1, -2).reshape(b, c, h, w)
        return x + self.out(y)


class UNet(nn.Module):
    def __init__(self, input_shape: Sequence[int], channels: Sequence[int] = (32, 64), blocks_per_level: int = 1,
                 attention: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        c_img, height, width = input_shape
        self.time_dim = 4 * channels[0]
        self.time_mlp = nn.Sequential(nn.Linear(channels[0], self.time_dim), nn.SiLU(),
                                      nn.Linear(self.time_dim, self.time_dim))
        self.conv_in = nn.Conv2d(c_img, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        skip_channels, c = [channels[0]], channels[0]
        self.sizes = [(height, width)]
        for level, c_level in enumerate(channels):
            for _ in range(blocks_per_level):
                self.down.append(ResBlock(c, c_level, self.time_dim, dropout))
                c = c_level
                skip_channels.append(c)
            if level < len(channels) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skip_channels.append(c)
                h, w = self.sizes[-1]
                self.sizes.append(((h + 1) // 2, (w + 1) // 2))
        self.mid = nn.ModuleList([ResBlock(c, c, self.time_dim, dropout),
                                  Attention(c) if attention else nn.Identity(),
                                  ResBlock(c, c, self.time_dim, dropout)])
        self.up = nn.ModuleList()
        for level in reversed(range(len(channels))):
            for _ in range(blocks_per_level + 1):
                self.up.append(ResBlock(c + skip_channels.pop(), channels[level], self.time_dim, dropout))
                c = channels[level]
            if level > 0:
                self.up.append(_Upsample(c, self.sizes[level - 1]))
        self.norm_out = nn.GroupNorm(_groups(c), c)
        self.conv_out = nn.Conv2d(c, c_img, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(sinusoidal_embedding(t, self.conv_in.out_channels))
        h = self.conv_in(x)
        skips = [h]
        for layer in self.down:
            h = layer(h, temb) if isinstance(layer, ResBlock) else layer(h)
            skips.append(h)
        for layer in self.mid:
            h = layer(h, temb) if isinstance(layer, ResBlock) else layer(h)
        for layer in self.up:
            h = layer(torch.cat([h, skips.pop()], 1), temb) if isinstance(layer, ResBlock) else layer(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class _Upsample(nn.Module):
    """Nearest-neighbour resize to the skip's size, then a 3x3 convolution."""

    def __init__(self, channels: int, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = size
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=self.size, mode="nearest"))


class TimeMLP(nn.Module):
    """The MLP alternative: flattened x, a projection of the time embedding added to every hidden layer,
    plus a time-dependent per-pixel scale of the input added to the output. Without that skip a plain
    MLP must squeeze the input through its hidden layers to give it back (epsilon at high noise is
    nearly x_t itself), and on 28x28 images it leaves the samples full of noise."""

    def __init__(self, input_shape: Sequence[int], hidden: Sequence[int] = (512, 512), dropout: float = 0.0) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        d = math.prod(input_shape)
        self.embed_dim = hidden[0]
        self.time_mlp = nn.Sequential(nn.Linear(hidden[0], hidden[0]), nn.SiLU())
        widths = [d, *hidden]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.times = nn.ModuleList(nn.Linear(hidden[0], b) for b in hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden[-1], d)
        self.skip = nn.Linear(hidden[0], d)
        for layer in (self.out, self.skip):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(sinusoidal_embedding(t, self.embed_dim))
        x_flat = x.reshape(x.shape[0], -1)
        h = x_flat
        for layer, time in zip(self.layers, self.times):
            h = self.dropout(F.silu(layer(h) + time(temb)))
        return (self.out(h) + self.skip(temb) * x_flat).reshape(x.shape)
