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
AVERAGE_DECAY = 0.999   # aeflow's UNets' EMA, and the peer's in the search where its recipe keeps none


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
    """Subclasses say which library, which rows, how the peer is built, trained and adapted, and aeflow's run;
    the UNet pairs also how each side's network is called by the other side's loop (`crossed`: the 2x2)."""

    key: str
    title: str
    library: str
    recipe: str          # the peer's published recipe in words
    sources: str         # where it is published: the files its values are read from (tests/test_peers.py checks)
    deviations: str      # every way this comparison runs it otherwise, with the reason
    peer_batch_size: int
    peer_lr: float       # the published learning rate, which the tuning search scales
    rows: tuple[Row, ...]
    aeflow_model: str
    searches_averaging = False   # the tuning search tries EMA on and off (the UNets); the MLPs keep none
    peer_averaged = False        # what the peer's recipe samples: its weights' moving average, or the weights
    aeflow_averaged = False
    crossed = False              # the 2x2: each network under the other side's recipe
    aeflow_kl_warmup = 0.0       # the VAEs: aeflow's KL weight rises linearly from 0 over this share of its epochs

    @property
    def selection_row(self) -> Row:
        """The row the tuning search chooses by: the cheapest to draw."""
        return min(self.rows, key=lambda row: row.nfe)

    def build_peer(self, budget: PeerBudget, data: Dataset) -> torch.nn.Module:
        raise NotImplementedError

    def train_peer(self, model: torch.nn.Module, train_x: torch.Tensor, clock: Clock, seed: int, workdir: Path,
                   lr: float) -> tuple[dict[str, Any] | None, dict[str, torch.Tensor] | None]:
        """Train in place at learning rate `lr` until `clock` is spent; (any schedule planned on the way, the
        moving average of the weights where one is kept); the trained weights stay in `model`."""
        raise NotImplementedError

    def for_peer_loop(self, network: torch.nn.Module) -> torch.nn.Module:
        """aeflow's network as the peer's loop and adapter call theirs (`crossed` pairs)."""
        raise NotImplementedError

    def for_aeflow_loop(self, network: torch.nn.Module) -> torch.nn.Module:
        """The peer's network as aeflow's model calls its own (`crossed` pairs)."""
        raise NotImplementedError

    def adapt(self, model: torch.nn.Module, data: Dataset) -> torch.nn.Module:
        raise NotImplementedError

    def aeflow_options(self, budget: PeerBudget, data: Dataset) -> tuple[dict[str, Any], dict[str, Any]]:
        """(model options, training options but epochs) of aeflow's side."""
        raise NotImplementedError


class _Pythae(Pair):
    library = "pythae"
    kind: str
    reconstruction_loss = "mse"

    @property
    def sources(self) -> str:
        from aeflow.peers.pythae_models import SOURCES

        return SOURCES

    @property
    def peer_batch_size(self) -> int:
        from aeflow.peers.pythae_models import RECIPE

        return RECIPE["per_device_train_batch_size"]

    @property
    def peer_lr(self) -> float:
        from aeflow.peers.pythae_models import RECIPE

        return RECIPE["learning_rate"]

    aeflow_network = "the same MLP (one hidden layer of 512, ReLU), so that the row compares training alone"
    same_network = {"hidden": [512], "activation": "relu"}   # pythae's default MLP encoder and decoder

    @property
    def deviations(self) -> str:
        return ("its MNIST script's convolutional encoder and decoder (128-1024 channels) only at the gpu budget; "
                "pythae's default MLP (784-512-16, ReLU) at the cpu and tiny budgets, where the convolutional ones "
                "would see a fraction of an epoch, and always on 8x8 digits, which four stride-2 convolutions do "
                f"not fit; aeflow's side builds {self.aeflow_network}; no evaluation set (the training seconds "
                "alone are compared); trained for the budget's seconds, not 100 epochs")

    def build_peer(self, budget, data):
        from aeflow.peers.pythae_models import build

        return build(self.kind, data.shape, budget.latent_dim, conv=budget.name == "gpu",
                     reconstruction_loss=self.reconstruction_loss)

    def train_peer(self, model, train_x, clock, seed, workdir, lr):
        from aeflow.peers.pythae_models import train_pythae

        train_pythae(model, train_x, clock, seed, workdir, lr)
        return None, None

    def adapt(self, model, data):
        from aeflow.peers.pythae_models import adapt

        return adapt(model, data.shape)


class VAEPair(_Pythae):
    key, title, kind, aeflow_model = "vae", "VAE (16-d code, Gaussian likelihood with sigma 1)", "vae", "vae"
    recipe = ("pythae's VAE as its MNIST script trains it: latent_dim 16, \"mse\" reconstruction (a Gaussian "
              "likelihood with sigma 1), TrainingPipeline with Adam at lr 1e-3, batch 100")
    rows = (Row("prior", "N(0, I) prior"), Row("gmm", "GMM, 10 components", source="gmm", prior_options=GMM))
    aeflow_network = ("aeflow's VAE with one hidden layer of 1024, ReLU, which the search's rule chose over aeflow's "
                      "network as it ships, pythae's MLP and two others on held-out training images under this "
                      "likelihood (benchmarks/peers_vae_diagnosis.py --choose --likelihood gaussian): the row "
                      "compares each library's network and training; its KL weight warmed up linearly from 0 to 1 "
                      "over the first half of its epochs, which the same rule chose over none and a quarter for "
                      "this likelihood, on aeflow's network as it ships (--choose-kl)")
    aeflow_kl_warmup = 0.5

    def aeflow_options(self, budget, data):
        # the peer's objective: the same likelihood on both sides, so that the row compares training, not losses
        return ({"latent_dim": budget.latent_dim, "likelihood": "gaussian", "gaussian_std": 1.0, "hidden": [1024],
                 "activation": "relu"}, {"batch_size": 128, "lr": 1e-3})


class BernoulliVAEPair(VAEPair):
    key, title, reconstruction_loss = "vae-bce", "VAE (16-d code, Bernoulli likelihood)", "bce"
    recipe = ("pythae's VAE as its MNIST script trains it but for the likelihood: its \"bce\" reconstruction "
              "(Bernoulli), TrainingPipeline with Adam at lr 1e-3, batch 100")
    aeflow_network = ("aeflow's VAE network as it ships (two hidden layers, 256 and 128, SiLU), which the search's "
                      "rule chose over pythae's MLP and three others on held-out training images "
                      "(benchmarks/peers_vae_diagnosis.py --choose): the row compares each library's network and "
                      "training; its KL weight 1 throughout (a warm-up over a quarter or a half of its epochs was "
                      "within the spread on held-out images, --choose-kl)")
    aeflow_kl_warmup = 0.0

    @property
    def deviations(self) -> str:
        return ("pythae's \"bce\" loss in place of its MNIST config's \"mse\", on both sides: a Gaussian of sigma "
                "1 on [0, 1] pixels weighs the pixels lightly against the KL term, and both sides' samples under it "
                "come out about as recognisable as the mean image, where FD cannot tell two trainers apart; "
                "otherwise as the VAE row: " + super().deviations)

    def aeflow_options(self, budget, data):
        return ({"latent_dim": budget.latent_dim, "likelihood": "bernoulli"}, {"batch_size": 128, "lr": 1e-3})


class AEPair(_Pythae):
    key, title, kind, aeflow_model = "ae", "Autoencoder + GMM (16-d code, squared error)", "ae", "autoencoder"
    recipe = ("pythae's AE as its MNIST script trains it: latent_dim 16, \"mse\" reconstruction, "
              "TrainingPipeline with Adam at lr 1e-3, batch 100; the GMM is aeflow's 10-component prior on both "
              "sides (pythae's GaussianMixtureSampler fits the same full-covariance mixture)")
    rows = (Row("gmm", "GMM, 10 components", source="gmm", prior_options=GMM),)

    aeflow_network = ("pythae's MLP as it is (one hidden layer of 512, ReLU, no normalisation), which the search's "
                      "rule chose over aeflow's default autoencoder and two others on held-out training images "
                      "(benchmarks/peers_vae_diagnosis.py --choose-ae): the row compares training alone")

    def aeflow_options(self, budget, data):
        return ({**self.same_network, "norm": "none", "code_dim": budget.latent_dim, "recon_loss": "mse"},
                {"batch_size": 128, "lr": 1e-3})


class _TorchCFM(Pair):
    library, aeflow_model, peer_batch_size, peer_lr = "torchcfm", "flow", 128, 1e-3
    searches_averaging, aeflow_averaged, crossed = True, True, True
    coupling: str
    rows = (Row("adaptive", "dopri5, atol = rtol = 1e-4", sampler="adaptive", options={"rtol": 1e-4, "atol": 1e-4},
                nfe=100),
            Row("euler-20", "Euler, 20 steps", sampler="euler", options={"steps": 20}, nfe=20))
    aeflow_time_sampling: str   # how aeflow's flow draws its training times, chosen per row
    aeflow_times: str           # that choice in words

    @property
    def deviations(self) -> str:
        return ("unconditional MNIST as in the example; trained for the budget's seconds, not its 3 epochs; its "
                "dopri5 run by aeflow's `adaptive` sampler (scipy's RK45 at the same tolerances) on both sides; "
                "aeflow's side trains with the same coupling (OT by an exact mini-batch assignment) and "
                + self.aeflow_times)

    @property
    def sources(self) -> str:
        from aeflow.peers.torchcfm_models import SOURCES

        return SOURCES

    def build_peer(self, budget, data):
        from aeflow.peers.torchcfm_models import build

        return build(data.shape)

    def train_peer(self, model, train_x, clock, seed, workdir, lr):
        from aeflow.peers.torchcfm_models import train_torchcfm

        # "EMA on" in the search: the same average as aeflow's side keeps (its decay and warm-up)
        return None, train_torchcfm(model, train_x, clock, seed, self.coupling, lr, AVERAGE_DECAY)

    def for_peer_loop(self, network):
        from aeflow.peers.torchcfm_models import TimeFirst

        return TimeFirst(network)

    def for_aeflow_loop(self, network):
        from aeflow.peers.torchcfm_models import TimeLast

        return TimeLast(network)

    def adapt(self, model, data):
        from aeflow.peers.torchcfm_models import TorchCFMVelocity

        return TorchCFMVelocity(model, data.shape)

    def aeflow_options(self, budget, data):
        from aeflow.peers.torchcfm_models import level_channels

        # the peer's coupling on both sides (for OT-CFM, aeflow's exact mini-batch assignment): the row compares
        # training, not objectives
        return ({"channels": level_channels(data.shape), "ot_coupling": self.coupling == "ot",
                 "time_sampling": self.aeflow_time_sampling},
                {"batch_size": 128, "lr": 2e-3, "ema_decay": AVERAGE_DECAY})


class FlowPair(_TorchCFM):
    key, title, coupling = "cfm", "Flow matching, OT-CFM (UNet)", "ot"
    recipe = ("torchcfm's unconditional MNIST example: UNetModel with 32 channels and one residual block per "
              "level, ExactOptimalTransportConditionalFlowMatcher(sigma=0), Adam at lr 1e-3, batch 128, sampled "
              "with dopri5 at atol = rtol = 1e-4")
    aeflow_time_sampling = "logit_normal"
    aeflow_times = ("draws its training times logit-normal (Esser et al. 2024), which the search's rule chose over "
                    "uniform on held-out training images (benchmarks/peers_flow_choice.py)")


class IndependentFlowPair(_TorchCFM):
    key, title, coupling = "icfm", "Flow matching, I-CFM (UNet)", "independent"
    recipe = ("torchcfm's unconditional MNIST example with its other matcher (commented out there): "
              "ConditionalFlowMatcher(sigma=0), the independent coupling; otherwise the same")
    aeflow_time_sampling = "uniform"
    aeflow_times = ("draws its training times uniformly (logit-normal was within the spread on held-out training "
                    "images, benchmarks/peers_flow_choice.py)")


class DDPMPair(Pair):
    key, title, library, aeflow_model = "ddpm", "DDPM (UNet, 1,000 linear-beta steps)", "diffusers", "ddpm"
    recipe = ("diffusers' examples/unconditional_image_generation/train_unconditional.py: DDPMScheduler (1,000 "
              "linear betas), AdamW lr 1e-4 betas (0.95, 0.999) weight decay 1e-6, cosine after 500 warm-up "
              "steps, batch 16, gradient clipping at 1, EMA with warm-up")
    sources = "huggingface/diffusers: examples/unconditional_image_generation/train_unconditional.py"
    deviations = ("UNet2DModel with two resnet blocks per level sized to the image (the budget's channels, attention "
                  "at the lowest level; the example's is for 64x64 RGB); the cosine's length is the steps the "
                  "budget holds at the pace of the first 20, and its warm-up the example's share of its run (500 of "
                  "the 51,200 steps its README's flowers run schedules; at least those 20): both recorded as the "
                  "peer's schedule")
    peer_batch_size, peer_lr = 16, 1e-4
    searches_averaging, peer_averaged, aeflow_averaged, crossed = True, True, True, True
    rows = (Row("ddim-50", "DDIM, 50 steps", sampler="ddim", options={"steps": 50}, nfe=50),
            Row("ancestral-1000", "ancestral, 1,000 steps", sampler="ddpm", nfe=1000))

    def build_peer(self, budget, data):
        from aeflow.peers.diffusers_models import build

        return build(data.shape, budget.unet)

    def train_peer(self, model, train_x, clock, seed, workdir, lr):
        from aeflow.peers.diffusers_models import scheduler, train_diffusers

        return train_diffusers(model, scheduler(), train_x, clock, seed, lr)

    def for_peer_loop(self, network):
        from aeflow.peers.diffusers_models import AsUNet2D

        return AsUNet2D(network)

    def for_aeflow_loop(self, network):
        from aeflow.peers.diffusers_models import ScaledTime

        return ScaledTime(network)

    def adapt(self, model, data):
        from aeflow.peers.diffusers_models import DiffusersNoisePredictor, scheduler

        return DiffusersNoisePredictor(model, scheduler(), data.shape)

    def aeflow_options(self, budget, data):
        return ({"channels": list(budget.unet), "timesteps": 1000, "schedule": "linear"},
                {"batch_size": 128, "lr": 2e-3, "ema_decay": AVERAGE_DECAY})


PAIRS: dict[str, Pair] = {p.key: p for p in (VAEPair(), BernoulliVAEPair(), AEPair(), FlowPair(),
                                              IndependentFlowPair(), DDPMPair())}
