"""How well a low-dimensional code keeps a dataset's structure: its neighbourhoods (trustworthiness, Venna &
Kaski 2001, as scikit-learn computes it) and its order along a known coordinate (Spearman's rank correlation)."""

from __future__ import annotations

import numpy as np


def trustworthiness(x: np.ndarray, embedding: np.ndarray, neighbours: int = 10) -> float:
    """1 when every point's nearest neighbours in the code were its neighbours in the data; lower when the
    code brings far points together."""
    from sklearn.manifold import trustworthiness as sklearn_trustworthiness

    return float(sklearn_trustworthiness(x, embedding, n_neighbors=neighbours))


def rank_correlation(t: np.ndarray, embedding: np.ndarray) -> float:
    """The largest absolute Spearman correlation between the coordinate t and an axis of the code (each axis,
    and the code's principal direction)."""
    from scipy.stats import spearmanr

    centred = embedding - embedding.mean(0)
    principal = centred @ np.linalg.svd(centred, full_matrices=False)[2][0]
    return float(max(abs(spearmanr(t, axis).statistic) for axis in (*embedding.T, principal)))
