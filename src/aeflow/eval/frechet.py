"""Fréchet distance between two sets of features, each summarised by a Gaussian (Heusel et al. 2017):

    FD = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))

The matrix square root is scipy's `sqrtm` (a well-kept Schur-based implementation), in float64.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import torch


def gaussian_stats(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    product = sigma1 @ sigma2
    with warnings.catch_warnings():  # singular products (dead features, N < dim) are handled just below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(product)
        if not np.isfinite(covmean).all() or _relative_error(covmean, product) > 1e-3:
            eps = 1e-6 * np.eye(len(sigma1))  # regularise, as the reference FID code does
            covmean = scipy.linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    covmean = covmean.real  # round-off gives tiny imaginary parts
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _relative_error(root: np.ndarray, product: np.ndarray) -> float:
    return float(np.linalg.norm(root @ root - product) / max(np.linalg.norm(product), 1e-300))


def frechet_distance_between(features1, features2) -> float:
    return frechet_distance(*gaussian_stats(features1), *gaussian_stats(features2))
