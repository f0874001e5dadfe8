"""Every metric that applies to a model, chosen by what it declares it can do (its capabilities)."""

from __future__ import annotations

import torch

from aeflow.data import Dataset
from aeflow.eval.features import FeatureExtractor
from aeflow.eval.likelihood import likelihood_bounds
from aeflow.eval.reconstruction import reconstruction_error
from aeflow.eval.samples import format_scores, score_samples
from aeflow.protocols import ExactLikelihood, HasLikelihood, Reconstructs


def evaluate_model(model, data: Dataset, samples: torch.Tensor | None = None,
                   extractor: FeatureExtractor | None = None, likelihood: bool = True, n: int | None = None,
                   k: int = 5000, seed: int = 0) -> dict:
    """Reconstruction error for encoders; FD and friends of `samples` (drawn by the caller) against the test
    split with `extractor`; likelihood bounds for models that define one (`likelihood=False` skips them)."""
    results: dict = {}
    if isinstance(model, Reconstructs):
        results["test_recon_error"] = round(reconstruction_error(model, data.test_x), 4)
    if samples is not None and extractor is not None:
        results["samples"] = score_samples(samples, data, extractor, len(samples), seed=seed)
    if likelihood and isinstance(model, HasLikelihood):
        x = data.test_x[:n] if n else data.test_x
        bounds = likelihood_bounds(model, x, k=k, binarize=model.bernoulli_likelihood, seed=seed)
        if isinstance(model, ExactLikelihood):
            with torch.no_grad():
                bounds["exact_log_likelihood"] = float(model.log_likelihood(x).mean())
        results["likelihood"] = bounds
    return results


def format_results(results: dict) -> str:
    lines = []
    if "test_recon_error" in results:
        lines.append(f"test reconstruction error: {results['test_recon_error']:.4f} "
                     "(squared error summed over pixels, mean over test images)")
    if "samples" in results:
        lines += ["samples:", *("  " + line for line in format_scores(results["samples"]).splitlines())]
    if "likelihood" in results:
        b = results["likelihood"]
        iwae = b["iwae_" + str(b["k"])]
        line = (f"likelihood on {b['n']} test examples{' (binarised)' if b['binarized'] else ''}: "
                f"ELBO {b['elbo']:.3f}, IWAE-{b['k']} {iwae:.3f} nats")
        if "exact_log_likelihood" in b:
            line += f", exact log p(x) {b['exact_log_likelihood']:.3f}"
        if b["terms"]:
            line += "; terms: " + ", ".join(f"{k} {v:.3f}" for k, v in b["terms"].items() if k != "loss")
        lines.append(line)
    return "\n".join(lines) or "no metric applies to this model"
