"""Samplers: priors over a model's codes (Gaussian, Gaussian mixture), decoded to images."""

from aeflow.sampling.priors import GMMPrior, fit_gmm_prior, load_prior, sample_images

__all__ = ["GMMPrior", "fit_gmm_prior", "load_prior", "sample_images"]
