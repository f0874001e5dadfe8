"""A small convolutional classifier: the domain feature extractor behind Fréchet distance and friends.

Its penultimate layer (`features`) defines the feature space in which generated images are compared
with real ones; `predict_proba` gives the class distribution of samples (mode coverage).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from aeflow.config import require
from aeflow.models.base import Model
from aeflow.models.registry import register


@dataclass
class ClassifierConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    channels: list[int] = field(default_factory=lambda: [32, 64, 64])  # 3x3 convs; 2x2 max-pool after all but the last
    feature_dim: int = 128
    n_classes: int = 10

    def validate(self) -> None:
        require(len(self.input_shape) == 3, f"the classifier takes images (C, H, W), got shape {self.input_shape}")
        require(len(self.channels) >= 1 and all(c >= 1 for c in self.channels), "channels must be positive")
        require(self.feature_dim >= 1 and self.n_classes >= 2, "feature_dim >= 1 and n_classes >= 2")
        size = self.input_shape[-1] // 2 ** (len(self.channels) - 1)
        require(size >= 1, f"{len(self.channels) - 1} poolings are too many for {self.input_shape[-1]}-pixel images")


@register("classifier")
class Classifier(Model):
    """A small CNN classifier; its penultimate layer is the feature space for sample metrics."""

    Config = ClassifierConfig
    uses_labels = True

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__(config)
        c_in, h, w = config.input_shape
        layers: list[nn.Module] = []
        for i, c in enumerate(config.channels):
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.GELU()]
            if i < len(config.channels) - 1:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c_in = c
        self.conv = nn.Sequential(*layers)
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(c_in * h * w, config.feature_dim), nn.GELU())
        self.head = nn.Linear(config.feature_dim, config.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return self(x).softmax(-1)

    def loss(self, batch) -> dict[str, torch.Tensor]:
        x, y = batch["x"], batch["y"]
        logits = self(x)
        ce = F.cross_entropy(logits, y)
        return {"loss": ce, "cross_entropy": ce.detach(), "accuracy": (logits.argmax(-1) == y).float().mean()}
