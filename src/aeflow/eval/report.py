"""Every metric that applies to a model, chosen by what the model can do (its `supports`)."""

from __future__ import annotations

import torch

from aeflow.data import Dataset
from aeflow.eval.likelihood import likelihood_bounds
from aeflow.eval.reconstruction import reconstruction_error
from aeflow.eval.samples import DEFAULT_N, format_scores, score_samples


def evaluate_model(model, data: Dataset, samples: bool = True, likelihood: bool = True, n: int | None = None,
                   k: int = 5000, seed: int = 0, progress: bool = True) -> dict:
    """Reconstruction error for encoders; FD and friends for samplers (on image data); likelihood bounds
    for models that define one. `samples=False` / `likelihood=False` skip the slower parts."""
    results: dict = {}
    if model.supports("reconstruct"):
        results["test_recon_error"] = round(reconstruction_error(model, data.test_x), 4)
    if samples and data.is_image and model.supports("sample"):
        n_samples = min(n or DEFAULT_N, len(data.test_x))
        with torch.no_grad():
            generated = model.sample(n_samples, torch.Generator().manual_seed(seed)).clamp(0, 1)
        results["samples"] = score_samples(generated, data, n_samples, seed=seed, progress=progress)
    if likelihood and hasattr(model, "log_importance_weights"):
        x = data.test_x[:n] if n else data.test_x
        bounds = likelihood_bounds(model, x, k=k, binarize=getattr(model, "bernoulli_likelihood", False), seed=seed)
        if hasattr(model, "log_likelihood"):
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
