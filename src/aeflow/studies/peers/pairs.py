"""The comparisons: a peer library's model trained with its documented recipe beside aeflow's model of the same
job and shape, each sampled by the rows below (the same request on both sides: aeflow's samplers and priors
run on the peer through its adapter, so a row differs only in how the model was trained)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aeflow.data import Dataset
from aeflow.peers.clock import Clock
from aeflow.runs.sampling import SampleRequest
from aeflow.studies.peers.budgets import PeerBudget

GMM = {"n_components": 10}


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    source: str = "model"
    sampler: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    prior_options: dict[str, Any] = field(default_factory=dict)
    nfe: int = 1   # network evaluations per sample: what the budget's samples per row depend on

    def request(self, n: int, seed: int) -> SampleRequest:
        return SampleRequest(source=self.source, sampler=self.sampler, options=dict(self.options), n=n, seed=seed,
                             prior_options=dict(self.prior_options))


class Pair:
    """Subclasses say which library, which rows, how the peer is built, trained and adapted, and aeflow's run."""

    key: str
    title: str
    library: str
    recipe: str          # the peer's recipe in words, with every deviation from its documentation
    rows: tuple[Row, ...]
    aeflow_model: str

    def build_peer(self, budget: PeerBudget, data: Dataset) -> torch.nn.Module:
        raise NotImplementedError

    def train_peer(self, model: torch.nn.Module, data: Dataset, clock: Clock, seed: int, workdir: Path) -> None:
        raise NotImplementedError

    def adapt(self, model: torch.nn.Module, data: Dataset) -> torch.nn.Module:
        raise NotImplementedError

    def aeflow_options(self, budget: PeerBudget, data: Dataset) -> tuple[dict[str, Any], dict[str, Any]]:
        """(model options, training options but epochs) of aeflow's side."""
        raise NotImplementedError


class _Pythae(Pair):
    library = "pythae"
    kind: str

    def build_peer(self, budget, data):
        from aeflow.peers.pythae_models import build

        return build(self.kind, data.shape, budget.latent_dim)

    def train_peer(self, model, data, clock, seed, workdir):
        from aeflow.peers.pythae_models import train_pythae

        train_pythae(model, data.train_x, clock, seed, workdir)

    def adapt(self, model, data):
        from aeflow.peers.pythae_models import adapt

        return adapt(model, data.shape)


class VAEPair(_Pythae):
    key, title, kind, aeflow_model = "vae", "VAE (MLP: 512 hidden, 16-d code)", "vae", "vae"
    recipe = ("pythae's VAE with its default MLP encoder and decoder (one hidden layer of 512), MSE "
              "reconstruction, TrainingPipeline with BaseTrainerConfig's defaults (Adam, lr 1e-4, batch 64); "
              "no evaluation set (only training time is compared)")
    rows = (Row("prior", "N(0, I) prior"), Row("gmm", "GMM, 10 components", source="gmm", prior_options=GMM))

    def aeflow_options(self, budget, data):
        return ({"hidden": [512], "latent_dim": budget.latent_dim},
                {"batch_size": 128, "lr": 1e-3})


class AEPair(_Pythae):
    key, title, kind, aeflow_model = "ae", "Autoencoder + GMM (MLP: 512 hidden, 16-d code)", "ae", "autoencoder"
    recipe = ("pythae's AE with its default MLP encoder and decoder, MSE reconstruction, TrainingPipeline with "
              "BaseTrainerConfig's defaults (Adam, lr 1e-4, batch 64); the GMM is aeflow's 10-component prior "
              "on both sides (pythae's GaussianMixtureSampler fits the same full-covariance mixture)")
    rows = (Row("gmm", "GMM, 10 components", source="gmm", prior_options=GMM),)

    def aeflow_options(self, budget, data):
        return ({"hidden": [512], "code_dim": budget.latent_dim}, {"batch_size": 128, "lr": 1e-3})


class FlowPair(Pair):
    key, title, library, aeflow_model = "cfm", "Conditional flow matching (UNet)", "torchcfm", "flow"
    recipe = ("torchcfm's MNIST example (examples/images/conditional_mnist.ipynb): UNetModel with 32 channels and "
              "one residual block per level, ConditionalFlowMatcher(sigma=0), Adam at lr 1e-3, batch 128; "
              "unconditional here (no class labels)")
    rows = (Row("euler-20", "Euler, 20 steps", sampler="euler", options={"steps": 20}, nfe=20),
            Row("euler-100", "Euler, 100 steps", sampler="euler", options={"steps": 100}, nfe=100))

    def build_peer(self, budget, data):
        from aeflow.peers.torchcfm_models import build

        return build(data.shape)

    def train_peer(self, model, data, clock, seed, workdir):
        from aeflow.peers.torchcfm_models import train_torchcfm

        train_torchcfm(model, data.train_x, clock, seed)

    def adapt(self, model, data):
        from aeflow.peers.torchcfm_models import TorchCFMVelocity

        return TorchCFMVelocity(model, data.shape)

    def aeflow_options(self, budget, data):
        from aeflow.peers.torchcfm_models import level_channels

        return ({"channels": level_channels(data.shape)}, {"batch_size": 128, "lr": 2e-3, "ema_decay": 0.999})


class DDPMPair(Pair):
    key, title, library, aeflow_model = "ddpm", "DDPM (UNet, 1,000 linear-beta steps)", "diffusers", "ddpm"
    recipe = ("diffusers' examples/unconditional_image_generation/train_unconditional.py: DDPMScheduler (1,000 "
              "linear betas), AdamW lr 1e-4 betas (0.95, 0.999) weight decay 1e-6, cosine after 500 warm-up "
              "steps, batch 16, gradient clipping at 1, EMA with warm-up; UNet2DModel with two resnet blocks per "
              "level sized to the image (the budget's channels, attention at the lowest level; the example's is "
              "for 64x64 RGB)")
    rows = (Row("ddim-50", "DDIM, 50 steps", sampler="ddim", options={"steps": 50}, nfe=50),
            Row("ancestral-1000", "ancestral, 1,000 steps", sampler="ddpm", nfe=1000))

    def build_peer(self, budget, data):
        from aeflow.peers.diffusers_models import build

        return build(data.shape, budget.unet)

    def train_peer(self, model, data, clock, seed, workdir):
        from aeflow.peers.diffusers_models import scheduler, train_diffusers

        train_diffusers(model, scheduler(), data.train_x, clock, seed)

    def adapt(self, model, data):
        from aeflow.peers.diffusers_models import DiffusersNoisePredictor, scheduler

        return DiffusersNoisePredictor(model, scheduler(), data.shape)

    def aeflow_options(self, budget, data):
        return ({"channels": list(budget.unet), "timesteps": 1000, "schedule": "linear"},
                {"batch_size": 128, "lr": 2e-3, "ema_decay": 0.999})


PAIRS: dict[str, Pair] = {p.key: p for p in (VAEPair(), AEPair(), FlowPair(), DDPMPair())}
