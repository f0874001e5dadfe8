"""Backpropagation by hand: the 64-32-2-32-64 autoencoder and VAE written in NumPy, every gradient derived
and coded explicitly, trained by SGD with momentum; and their torch twins, trained by autograd on the same
data, initial weights, batches and noise, so that the two can be compared number for number (the lineage's
"by hand" chapter; gradient checks against finite differences and autograd are in the tests).
"""

from aeflow.byhand.numpy_models import VAE, Autoencoder, Layer, sgd_train
from aeflow.byhand.twin import torch_twin_train

__all__ = ["VAE", "Autoencoder", "Layer", "sgd_train", "torch_twin_train"]
