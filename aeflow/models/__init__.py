"""Model families. Importing this package registers every family and preset by name."""

from aeflow.models.autoencoder import Autoencoder, AutoencoderConfig
from aeflow.models.base import FittedModel, Model
from aeflow.models.baselines import PCA, KernelPCA, LogisticPCA
from aeflow.models.classifier import Classifier
from aeflow.models.ddpm import DDPM
from aeflow.models.flow import FlowMatching
from aeflow.models.gan import GAN
from aeflow.models.generator import Generator
from aeflow.models.latent_generator import LatentGenerator
from aeflow.models.onestep import OneStep
from aeflow.models.ppca import PPCA
from aeflow.models.vae import VAE

__all__ = ["DDPM", "GAN", "PCA", "PPCA", "VAE", "Autoencoder", "AutoencoderConfig", "Classifier", "FittedModel",
           "FlowMatching", "Generator", "KernelPCA", "LatentGenerator", "LogisticPCA", "Model", "OneStep"]
