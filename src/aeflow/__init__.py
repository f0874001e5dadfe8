"""aeflow: the autoencoder family of generative models, from Hinton's 2006 autoencoder onwards.

    import aeflow
    run = aeflow.train(aeflow.make_config("hinton", dataset="digits"), "runs/hinton-digits")
    model = aeflow.load(run)

The public names are imported on first use, so that `import aeflow` (and `aeflow --help`) does not load
torch.
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "DataConfig": "aeflow.config", "RunConfig": "aeflow.config", "TrainConfig": "aeflow.config",
    "AeflowError": "aeflow.errors", "ConfigError": "aeflow.errors", "DataError": "aeflow.errors",
    "TrainingError": "aeflow.errors", "ConformanceError": "aeflow.errors",
    "check_model": "aeflow.conformance",
    "load_dataset": "aeflow.data",
    "build_model": "aeflow.models.registry", "model_names": "aeflow.models.registry",
    "SampleRequest": "aeflow.runs", "draw": "aeflow.runs", "ensure": "aeflow.runs", "extend": "aeflow.runs",
    "load": "aeflow.runs", "make_config": "aeflow.runs", "train": "aeflow.runs",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'aeflow' has no attribute {name!r}")
