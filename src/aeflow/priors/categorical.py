"""The VQ-VAE's prior: an independent categorical distribution over the codebook at each position of the
token grid, fitted to the training set's tokens (add-one-half smoothing). It ignores dependencies between
positions, so samples are rough; an autoregressive prior over the grid is the known better choice."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from aeflow.config import require
from aeflow.priors.base import CodePrior, register_prior
from aeflow.protocols import Tokenizes


@dataclass
class CategoricalConfig:
    smoothing: float = 0.5   # pseudo-count added to every (position, code) count

    def validate(self) -> None:
        require(self.smoothing > 0, f"smoothing must be > 0, got {self.smoothing}")


@register_prior
class CategoricalPrior(CodePrior):
    name = "categorical"
    Config = CategoricalConfig
    requirement = "it needs a model with a discrete code (a VQ-VAE)"

    @classmethod
    def accepts(cls, model) -> bool:
        return isinstance(model, Tokenizes)

    @torch.no_grad()
    def fit(self, model, train_x: torch.Tensor) -> CategoricalPrior:
        self.check(model)
        model.eval()
        counts = sum(F.one_hot(model.tokens(train_x[i:i + 2000]), model.codebook_size).sum(0).float()
                     for i in range(0, len(train_x), 2000))
        self.state = {"logits": (counts + self.config.smoothing).log()}   # (positions, codebook size)
        return self

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """Token grids (n, positions), position by position."""
        logits = self.state["logits"]
        probs = (logits / temperature).softmax(-1)
        return torch.multinomial(probs.repeat(n, 1), 1, generator=generator).reshape(n, len(logits))

    def decode(self, model, codes: torch.Tensor) -> torch.Tensor:
        return model.decode_tokens(codes)
