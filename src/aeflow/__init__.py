"""aeflow: the autoencoder family of generative models, from Hinton's 2006 autoencoder onwards.

    import aeflow
    run = aeflow.train(aeflow.make_config("hinton", dataset="digits"), "runs/hinton-digits")
    model = aeflow.load(run)
"""

from aeflow.config import DataConfig, RunConfig, TrainConfig
from aeflow.data import load_dataset
from aeflow.errors import AeflowError, ConfigError, DataError, TrainingError
from aeflow.registry import build_model, model_names
from aeflow.runs import extend, load, make_config, train

__version__ = "0.1.0"
__all__ = ["AeflowError", "ConfigError", "DataConfig", "DataError", "RunConfig", "TrainConfig", "TrainingError",
           "build_model", "extend", "load", "load_dataset", "make_config", "model_names", "train"]
