"""Fréchet distance between two sets of features, each summarised by a Gaussian (Heusel et al. 2017):

    FD = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))

The matrix square root is scipy's `sqrtm` (a well-kept Schur-based implementation), in float64.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch


def gaussian_stats(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():  # near-singular product: regularise, as the reference FID code does
        eps = 1e-6 * np.eye(len(sigma1))
        covmean = scipy.linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    covmean = covmean.real  # round-off gives tiny imaginary parts
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def frechet_distance_between(features1, features2) -> float:
    return frechet_distance(*gaussian_stats(features1), *gaussian_stats(features2))
