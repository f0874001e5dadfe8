"""Domain features for sample metrics: a small classifier per image dataset (trained once by the run layer,
`aeflow.runs.features`), whose penultimate layer is the feature space of FD and precision/recall and whose
class probabilities give mode coverage. Metrics receive the extractor; they never train one.

Bump VERSION when the recipe changes: features (and so every Fréchet distance) are only comparable within
one version.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

VERSION = 1


@dataclass
class FeatureExtractor:
    model: torch.nn.Module   # a trained aeflow classifier: features(x), head(features)
    description: str         # e.g. "mnist classifier v1, test accuracy 0.9912"


@torch.no_grad()
def extract(model, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, class probabilities) of images `x`, batched."""
    feats, probs = [], []
    for i in range(0, len(x), batch_size):
        f = model.features(x[i:i + batch_size].float())
        feats.append(f)
        probs.append(model.head(f).softmax(-1))
    return torch.cat(feats), torch.cat(probs)
