"""Code priors: distributions over a model's codes, fitted after training and decoded to images
(pythae's "samplers"): N(0, I), a Gaussian mixture fitted to the codes (Ghosh et al. 2020's ex-post density
estimation), and the VQ-VAE's categorical prior over its token grid. Each has `fit`, `sample`, `save` and
`load`, and lives in the run folder beside the model it belongs to.
"""

from aeflow.priors.base import PRIORS, CodePrior, decoded_samples, load_prior, prior_path, register_prior
from aeflow.priors.categorical import CategoricalPrior
from aeflow.priors.gmm import GMMPrior
from aeflow.priors.normal import NormalPrior

__all__ = ["PRIORS", "CategoricalPrior", "CodePrior", "GMMPrior", "NormalPrior", "decoded_samples", "load_prior",
           "prior_path", "register_prior"]
