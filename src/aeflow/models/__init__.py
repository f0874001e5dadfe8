"""Model families. Importing this package registers every family and preset by name."""

from aeflow.models.autoencoder import Autoencoder, AutoencoderConfig
from aeflow.models.base import FittedModel, Model
from aeflow.models.baselines import PCA, KernelPCA, LogisticPCA
from aeflow.models.classifier import Classifier
from aeflow.models.contractive import ContractiveAutoencoder
from aeflow.models.conv_ae import ConvAutoencoder
from aeflow.models.ddpm import DDPM
from aeflow.models.denoising import DenoisingAutoencoder
from aeflow.models.flow import FlowMatching
from aeflow.models.gan import GAN
from aeflow.models.generator import Generator
from aeflow.models.judge import Judge
from aeflow.models.latent_generator import LatentGenerator
from aeflow.models.mae import MaskedAutoencoder
from aeflow.models.onestep import OneStep
from aeflow.models.ordered import OrderedAutoencoder
from aeflow.models.ppca import PPCA
from aeflow.models.sparse import SparseAutoencoder
from aeflow.models.vae import VAE
from aeflow.models.vqvae import VQVAE

__all__ = ["DDPM", "GAN", "PCA", "PPCA", "VAE", "VQVAE", "Autoencoder", "AutoencoderConfig", "Classifier",
           "ContractiveAutoencoder", "ConvAutoencoder", "DenoisingAutoencoder", "FittedModel", "FlowMatching",
           "Generator", "Judge", "KernelPCA", "LatentGenerator", "LogisticPCA", "MaskedAutoencoder", "Model", "OneStep",
           "OrderedAutoencoder", "SparseAutoencoder"]
