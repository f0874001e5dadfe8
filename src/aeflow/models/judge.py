"""A classifier trained to say when an image is not a digit (or garment): the judge of "recognisable".

A classifier trained only on the data is confident on anything: a plain CNN reads the blurred mean image, or
uniform noise, as a digit with probability near 1, so its confidence cannot tell a generator that learned the
average image from one that learned digits. This one is trained with outlier exposure (Hendrycks et al. 2019):
besides cross-entropy on the images, it is pushed towards the uniform distribution on images that are not of
any class: blends of two images of different classes, uniform noise and images with their pixels shuffled.
Its training images are blurred at random (Gaussian, up to `blur_sigmas`), so blur alone does not make an image
unrecognisable: a VAE's soft samples are still read for the digits they are. Its temperature is fitted on
held-out images by the run layer (`aeflow.runs.features`), so its confidence is calibrated.

It is a different network from the feature classifier's (5x5 convolutions with average pooling and dropout; an
MLP for 8x8 images), trained on a different seed and order, so its penultimate layer is a second, independent
feature space for Fréchet distance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from aeflow.config import choice, require
from aeflow.models.base import Model
from aeflow.models.registry import register


@dataclass
class JudgeConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 28, 28])
    network: str = "conv"                                   # conv | mlp
    widths: list[int] = field(default_factory=lambda: [16, 32])   # conv channels (5x5, avg-pool 2x2 after each)
    #                                                               or the MLP's hidden widths
    feature_dim: int = 128
    n_classes: int = 10
    dropout: float = 0.2
    outlier_weight: float = 0.5                             # weight of the outlier-exposure term
    blur_sigmas: list[float] = field(default_factory=lambda: [0.7, 1.4])   # pixels; each picked for 1/3 of a batch

    def validate(self) -> None:
        require(len(self.input_shape) == 3, f"the judge takes images (C, H, W), got shape {self.input_shape}")
        choice("network", self.network, ["conv", "mlp"])
        require(len(self.widths) >= 1 and all(w >= 1 for w in self.widths), "widths must be positive")
        require(self.feature_dim >= 1 and self.n_classes >= 2, "feature_dim >= 1 and n_classes >= 2")
        require(0 <= self.dropout < 1, f"dropout={self.dropout}: give a probability in [0, 1)")
        require(self.outlier_weight >= 0, f"outlier_weight={self.outlier_weight}: give 0 or more")
        require(all(s > 0 for s in self.blur_sigmas), "blur_sigmas must be positive (pixels)")
        if self.network == "conv":
            size = self.input_shape[-1] // 2 ** len(self.widths)
            require(size >= 1, f"{len(self.widths)} poolings are too many for {self.input_shape[-1]}-pixel images")


@register("judge")
class Judge(Model):
    """A classifier that is unsure of what is not of its classes (outlier exposure; blur-robust)."""

    Config = JudgeConfig
    uses_labels = True

    def __init__(self, config: JudgeConfig) -> None:
        super().__init__(config)
        c, h, w = config.input_shape
        layers: list[nn.Module] = []
        if config.network == "conv":
            for width in config.widths:
                layers += [nn.Conv2d(c, width, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2)]
                c, h, w = width, h // 2, w // 2
            layers.append(nn.Flatten())
            width = c * h * w
        else:
            layers.append(nn.Flatten())
            width = c * h * w
            for hidden in config.widths:
                layers += [nn.Linear(width, hidden), nn.ReLU()]
                width = hidden
        self.body = nn.Sequential(*layers)
        self.embed = nn.Sequential(nn.Linear(width, config.feature_dim), nn.ReLU(), nn.Dropout(config.dropout))
        self.head = nn.Linear(config.feature_dim, config.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return self(x).softmax(-1)

    def loss(self, batch) -> dict[str, torch.Tensor]:
        x, y = blurred_at_random(batch["x"], self.config.blur_sigmas), batch["y"]
        logits = self(x)
        ce = F.cross_entropy(logits, y)
        outliers = outlier_images(batch["x"], y)
        # cross-entropy to the uniform distribution: as unsure as it can be on what is no class
        unsure = -self(outliers).log_softmax(-1).mean(-1).mean()
        return {"loss": ce + self.config.outlier_weight * unsure, "cross_entropy": ce.detach(),
                "outlier_cross_entropy": unsure.detach(), "accuracy": (logits.argmax(-1) == y).float().mean()}


def outlier_images(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Images of no class made from a batch: blends (30-70%) of two images of different classes, and an eighth
    of a batch each of uniform noise and of images with their pixels shuffled."""
    other = torch.randperm(len(x))
    weight = 0.3 + 0.4 * torch.rand(len(x), *[1] * (x.ndim - 1))
    blends = (weight * x + (1 - weight) * x[other])[y != y[other]]
    eighth = max(1, len(x) // 8)
    noise = torch.rand(eighth, *x.shape[1:])
    shuffled = x[:eighth].flatten(1)[:, torch.randperm(x[0].numel())].view(eighth, *x.shape[1:])
    return torch.cat([blends, noise, shuffled])


def blurred_at_random(x: torch.Tensor, sigmas: list[float]) -> torch.Tensor:
    """Each image sharp or blurred by one of `sigmas`, each choice equally likely."""
    pick = torch.randint(0, len(sigmas) + 1, (len(x),))
    out = x
    for i, sigma in enumerate(sigmas, 1):
        out = torch.where((pick == i).view(-1, *[1] * (x.ndim - 1)), gaussian_blur(x, sigma), out)
    return out


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of N x C x H x W images, edges replicated."""
    radius = max(1, round(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-t ** 2 / (2 * sigma ** 2))
    kernel = (kernel / kernel.sum()).repeat(x.shape[1], 1, 1, 1)
    rows = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(x.shape[1], 1, 1, -1),
                    groups=x.shape[1])
    return F.conv2d(F.pad(rows, (0, 0, radius, radius), mode="replicate"), kernel.view(x.shape[1], 1, -1, 1),
                    groups=x.shape[1])
