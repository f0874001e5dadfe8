"""Model families. Importing this package registers every family and preset by name."""

from aeflow.models.autoencoder import Autoencoder, AutoencoderConfig
from aeflow.models.base import FittedModel, Model
from aeflow.models.baselines import PCA, KernelPCA, LogisticPCA

__all__ = ["PCA", "Autoencoder", "AutoencoderConfig", "FittedModel", "KernelPCA", "LogisticPCA", "Model"]
