"""The one calling convention every model follows (scikit-learn style: same verbs for every family).

- `Model(config)`: an `nn.Module` built from its dataclass `Config` (which always has `input_shape`).
- `loss(x) -> dict` (`loss(x, y)` where `uses_labels`): "loss" is the total that is minimised; every
  other key is a named term or metric, summed over pixels/latent dimensions and averaged over the batch.
- `encode`, `decode`, `reconstruct`, `sample`: where they make sense. `supports(op)` tells which.
- A model never knows how it is trained or sampled step by step.
"""

from __future__ import annotations

import torch
from torch import nn


class Model(nn.Module):
    Config: type
    registry_name: str = ""
    uses_labels: bool = False  # True: the trainer calls loss(x, y) instead of loss(x)
    bernoulli_likelihood: bool = False  # True: likelihood bounds are computed on binarised test images

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.config.input_shape)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"{self.registry_name} has no training loss")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.registry_name} cannot encode")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.registry_name} cannot decode")

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{self.registry_name} cannot sample")

    def report(self, data, out_dir) -> dict:
        """Family-specific numbers (returned, merged into summary.json) and pictures (into `out_dir`), after
        training. A family may fit a post-hoc part of itself here (the VQ-VAE's code prior): the run saves
        the model after this."""
        return {}

    @classmethod
    def supports(cls, op: str) -> bool:
        """True where the family implements `op` (reconstruct needs encode and decode)."""
        if op == "reconstruct":
            return cls.supports("encode") and cls.supports("decode")
        return getattr(cls, op, None) is not getattr(Model, op, None)

    def flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)

    def unflat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.input_shape)


class FittedModel(Model):
    """A model fitted in closed form or by its own solver (PCA and friends), not by the trainer."""

    def fit(self, x: torch.Tensor) -> None:
        raise NotImplementedError
