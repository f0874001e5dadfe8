"""pythae's autoencoder and VAE (Chadebec et al. 2022) as aeflow models: `PythaeAutoencoder` wraps a trained
pythae AE or VAE as an encoder/decoder (the VAE also as a posterior and a sampler from its N(0, I) prior), so
that aeflow's code priors (GMM), metrics and conformance check run on it; `train_pythae` trains one with
pythae's own TrainingPipeline and its published MNIST recipe (RECIPE: the values of its
examples/scripts/configs/mnist/ files, which examples/scripts/training.py runs) for a wall-clock budget.

One deviation, by budget: the MNIST script builds its benchmark convolutional networks (Encoder_Conv_VAE_MNIST,
Decoder_Conv_AE_MNIST: 128-1024 channels, many times the MLP's compute per image); they run at `gpu` only
(`conv=True`), and the cpu and tiny budgets use pythae's default MLP encoder and decoder (784-512-d), where a
cpu budget of minutes would see a fraction of an epoch of the convolutional ones. 8x8 images (digits) always take
the MLP: four stride-2 convolutions do not fit them.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import torch
from pythae.models import AE, VAE, AEConfig, VAEConfig
from pythae.pipelines import TrainingPipeline
from pythae.trainers import BaseTrainerConfig
from pythae.trainers.training_callbacks import TrainingCallback

from aeflow.files import atomic_write_text
from aeflow.peers.clock import BudgetSpent, Clock

KINDS = {"ae": (AE, AEConfig), "vae": (VAE, VAEConfig)}
# examples/scripts/configs/mnist/base_training_config.json (batch_size 100, learning_rate 1e-3, 100 epochs) and
# vae_config.json / ae_config.json (latent_dim 16, reconstruction_loss "mse"); the optimiser is
# BaseTrainerConfig's default, Adam. SOURCES names the files the test checks these values against.
RECIPE = {"learning_rate": 1e-3, "per_device_train_batch_size": 100, "optimizer_cls": "Adam",
          "reconstruction_loss": "mse", "latent_dim": 16, "num_epochs": 100}
SOURCES = ("clementchadebec/benchmark_VAE: examples/scripts/configs/mnist/base_training_config.json, "
           "examples/scripts/configs/mnist/vae_config.json, examples/scripts/training.py")


def build(kind: str, input_shape: tuple[int, ...], latent_dim: int, conv: bool = False,
          reconstruction_loss: str = RECIPE["reconstruction_loss"]) -> torch.nn.Module:
    """A pythae AE or VAE: its MNIST script's convolutional networks where `conv` (28x28 only), else its default
    MLP encoder and decoder (one hidden layer of 512); "mse" (its MNIST configs') or "bce" reconstruction."""
    cls, config_cls = KINDS[kind]
    config = config_cls(input_dim=tuple(input_shape), latent_dim=latent_dim, reconstruction_loss=reconstruction_loss)
    if not conv or tuple(input_shape)[-1] != 28:
        return cls(config)
    from pythae.models.nn.benchmarks.mnist import Decoder_Conv_AE_MNIST, Encoder_Conv_AE_MNIST, Encoder_Conv_VAE_MNIST

    encoder = (Encoder_Conv_VAE_MNIST if kind == "vae" else Encoder_Conv_AE_MNIST)(config)
    return cls(config, encoder=encoder, decoder=Decoder_Conv_AE_MNIST(config))


class PythaeAutoencoder(torch.nn.Module):
    """A pythae AE or VAE behind aeflow's protocols: Encodes and Reconstructs (codes are the encoder's
    embedding, the VAE's posterior mean), and for a VAE HasPosterior and Samples (decoding N(0, I) codes,
    as pythae's NormalSampler does)."""

    def __init__(self, model: torch.nn.Module, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.model = model
        self.input_shape = tuple(input_shape)
        self.registry_name = f"pythae-{model.model_name.lower()}"
        self.code_dim = model.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.encoder(x).embedding

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decoder(z).reconstruction.reshape(len(z), *self.input_shape)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class PythaeVAE(PythaeAutoencoder):
    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model.encoder(x)
        return out.embedding, out.log_covariance

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n, self.code_dim, generator=generator).to(next(self.parameters()).device)
        return self.decode(z).clamp(0, 1)


def adapt(model: torch.nn.Module, input_shape: tuple[int, ...]) -> PythaeAutoencoder:
    return (PythaeVAE if isinstance(model, VAE) else PythaeAutoencoder)(model, input_shape)


class _OnBudget(TrainingCallback):
    """Stops pythae's trainer when the wall-clock budget is spent, taking the snapshots on the way."""

    def __init__(self, clock: Clock, model: torch.nn.Module) -> None:
        self.clock, self.model = clock, model

    def on_train_step_begin(self, training_config, **kwargs) -> None:
        self.clock.start()

    def on_train_step_end(self, training_config, **kwargs) -> None:
        if self.clock.tick(self.model.state_dict):
            raise BudgetSpent


def train_pythae(model: torch.nn.Module, train_x: torch.Tensor, clock: Clock, seed: int, workdir: Path,
                 lr: float = RECIPE["learning_rate"]) -> None:
    """Train `model` in place with pythae's TrainingPipeline at learning rate `lr` until `clock` says the budget
    is spent (pythae writes its own logs and checkpoints under `workdir`). No evaluation set: training time
    alone is compared."""
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("pythae")]:
        logging.getLogger(name).setLevel(logging.WARNING)   # its INFO lines and epoch tables would bury aeflow's
    config = BaseTrainerConfig(output_dir=str(workdir), num_epochs=1_000_000, seed=seed, no_cuda=True,
                               learning_rate=lr,
                               per_device_train_batch_size=RECIPE["per_device_train_batch_size"],
                               optimizer_cls=RECIPE["optimizer_cls"])
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            TrainingPipeline(model=model, training_config=config)(train_data=train_x,
                                                                  callbacks=[_OnBudget(clock, model)])
    except BudgetSpent:
        pass
    finally:
        atomic_write_text(workdir / "pythae.log", log.getvalue())
    model.eval()
