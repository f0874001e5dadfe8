"""Domain features for sample metrics: a small classifier per image dataset (trained once by the run layer,
`aeflow.runs.features`), whose penultimate layer is the feature space of FD and precision/recall and whose
class probabilities give mode coverage, beside a second, independent classifier, the judge (models/judge.py),
whose calibrated confidence says how recognisable images are and whose features are a second space for FD.
Metrics receive the extractor; they never train one.

Bump VERSION when the recipe changes: features (and so every Fréchet distance) are only comparable within
one version.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

VERSION = 1


@dataclass
class JudgeOfImages:
    model: torch.nn.Module   # a trained aeflow judge: features(x), head(features)
    temperature: float       # fitted on held-out images: softmax(logits / temperature) is calibrated
    description: str
    references: dict[str, float]   # its mean confidence on each reference set (eval/recognisability.py)
    problems: list[str]            # why it fails its validation; empty when it passes


@dataclass
class FeatureExtractor:
    model: torch.nn.Module   # a trained aeflow classifier: features(x), head(features)
    description: str         # e.g. "mnist classifier v1, test accuracy 0.9912"
    judge: JudgeOfImages | None = None   # None: confidence is the classifier's own (uncalibrated)


@torch.no_grad()
def extract(model, x: torch.Tensor, batch_size: int = 1000, temperature: float = 1.0
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, class probabilities at `temperature`) of images `x`, batched."""
    was_training = model.training
    model.eval()
    feats, probs = [], []
    for i in range(0, len(x), batch_size):
        f = model.features(x[i:i + batch_size].float())
        feats.append(f)
        probs.append((model.head(f) / temperature).softmax(-1))
    model.train(was_training)
    return torch.cat(feats), torch.cat(probs)
