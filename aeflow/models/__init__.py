"""Model families. Importing this package registers every family and preset by name."""

from aeflow.models.autoencoder import Autoencoder, AutoencoderConfig
from aeflow.models.base import FittedModel, Model
from aeflow.models.baselines import PCA, KernelPCA, LogisticPCA
from aeflow.models.classifier import Classifier
from aeflow.models.ppca import PPCA
from aeflow.models.vae import VAE

__all__ = ["PCA", "PPCA", "Autoencoder", "AutoencoderConfig", "Classifier", "FittedModel", "KernelPCA", "LogisticPCA",
           "Model", "VAE"]
