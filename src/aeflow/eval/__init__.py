"""Metrics computed from a trained model and a dataset split, or from a file of samples."""

from aeflow.eval.frechet import frechet_distance, frechet_distance_between
from aeflow.eval.likelihood import likelihood_bounds
from aeflow.eval.reconstruction import reconstruction_error
from aeflow.eval.report import evaluate_model, format_results
from aeflow.eval.samples import check_samples, load_samples, score_samples

__all__ = ["check_samples", "evaluate_model", "format_results", "frechet_distance", "frechet_distance_between",
           "likelihood_bounds", "load_samples", "reconstruction_error", "score_samples"]
