"""The one calling convention every model follows (scikit-learn style: same verbs for every family).

- `Model(config)`: an `nn.Module` built from its dataclass `Config` (which always has `input_shape`).
- `loss(batch) -> dict` (every family the trainer trains; see `HasLoss`): `batch` maps names to tensors of
  the same rows ("x": the images, "y": labels,
  "noise": coupled noise...), the same shape for every family; "loss" is the total that is minimised,
  every other key a named term or metric, summed over pixels/latent dimensions, averaged over the batch.
- What else a family can do is declared by the capabilities in `aeflow.protocols` (encodes,
  samples, has a likelihood, exposes a velocity field or a noise predictor...), checked with isinstance.
- `measure(data)` returns the family's own numbers after training and `figures(data, measured)` the
  pictures of them as arrays; a model never writes a file and never knows how it is trained or sampled.
"""

from __future__ import annotations

import torch
from torch import nn

from aeflow.figures import Figure


class Model(nn.Module):
    Config: type
    registry_name: str = ""
    uses_labels: bool = False  # True: the training batch carries "y"
    bernoulli_likelihood: bool = False  # True: likelihood bounds are computed on binarised test images
    # True: the loss also changes state that no gradient carries (a k-means start, a codebook average, dead-unit
    # counts), which processes training one model together would each change apart (the trainer refuses them)
    state_outside_gradients: bool = False

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.config.input_shape)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """decode(encode(x)), for the families that encode."""
        return self.decode(self.encode(x))

    def measure(self, data) -> dict:
        """The family's own numbers on a trained model (merged into summary.json)."""
        return {}

    def figures(self, data, measured: dict) -> dict[str, Figure]:
        """Pictures of a trained model and of what `measure` returned: file name -> figure."""
        return {}

    def flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)

    def unflat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.input_shape)


class FittedModel(Model):
    """A model fitted in closed form or by its own solver (PCA and friends), not by the trainer."""

    def fit(self, x: torch.Tensor) -> FittedModel:
        raise NotImplementedError
