"""The variational autoencoder (Kingma & Welling 2014) and its usual variants, as configuration:

- encoder q(z | x) = N(mu(x), diag sigma(x)^2), MLP or convolutional; prior p(z) = N(0, I);
- decoder p(x | z): Bernoulli (binary cross-entropy) or Gaussian with a fixed or a learned variance, factorised
  over pixels, or (Bernoulli) autoregressive over them (a MADE given z: a decoder able to ignore z);
- the reparameterisation trick and the closed-form KL; beta-VAE (Higgins et al. 2017); free bits
  (Kingma et al. 2016, per latent dimension, on the batch average); the IWAE objective with k samples
  (Burda et al. 2016); dynamic binarisation of training batches.

The KL weight is `beta` times `self.loss_weight("kl")`, which the trainer sets from a schedule
(warm-up, cyclical) given in the training config. All terms are in nats, summed over pixels and latent
dimensions, averaged over the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from aeflow.config import choice, require
from aeflow.models.base import Model
from aeflow.models.registry import Preset, register, register_preset
from aeflow.nn import ACTIVATIONS, ConditionalMADE, conv_decoder, conv_encoder, mlp
from aeflow.nn.distributions import gaussian_kl

LOG_2PI = math.log(2 * math.pi)


@dataclass
class VAEConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 8, 8])
    architecture: str = "mlp"                                         # mlp | conv
    hidden: list[int] = field(default_factory=lambda: [256, 128])     # mlp widths (decoder mirrors)
    channels: list[int] = field(default_factory=lambda: [32, 64])     # conv channels (decoder mirrors)
    latent_dim: int = 8
    activation: str = "silu"
    likelihood: str = "bernoulli"      # bernoulli | gaussian
    decoder: str = "factorised"        # factorised | autoregressive (bernoulli: p(x_i | x_<i, z), a MADE)
    gaussian_std: float | None = None  # gaussian: a fixed std, or None to learn one per pixel
    beta: float = 1.0
    free_bits: float = 0.0             # nats per latent dimension (0 = off)
    iwae_k: int = 1                    # > 1: train the IWAE bound with k samples
    binarize: bool = False             # dynamic binarisation of each training batch

    def validate(self) -> None:
        choice("architecture", self.architecture, ["mlp", "conv"])
        choice("likelihood", self.likelihood, ["bernoulli", "gaussian"])
        choice("decoder", self.decoder, ["factorised", "autoregressive"])
        require(self.decoder == "factorised" or self.likelihood == "bernoulli",
                "decoder=autoregressive needs likelihood=bernoulli")
        choice("activation", self.activation, ACTIVATIONS)
        require(self.latent_dim >= 1, f"latent_dim must be >= 1, got {self.latent_dim}")
        require(self.beta >= 0, f"beta must be >= 0, got {self.beta}")
        require(self.free_bits >= 0, f"free_bits must be >= 0, got {self.free_bits}")
        require(self.iwae_k >= 1, f"iwae_k must be >= 1, got {self.iwae_k}")
        require(self.gaussian_std is None or self.gaussian_std > 0, "gaussian_std must be > 0 (or null: learned)")
        require(not (self.binarize and self.likelihood != "bernoulli"), "binarize needs likelihood=bernoulli")
        if self.architecture == "conv":
            require(len(self.input_shape) == 3, "architecture=conv needs image data (C, H, W)")


@register("vae")
class VAE(Model):
    """A variational autoencoder: Gaussian encoder, N(0, I) prior, Bernoulli or Gaussian decoder."""

    Config = VAEConfig
    weighted_terms = ("kl",)

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config)
        d = math.prod(config.input_shape)
        if config.architecture == "mlp":
            self.encoder = mlp([d, *config.hidden, 2 * config.latent_dim], config.activation)
        else:
            self.encoder = conv_encoder(config.input_shape, config.channels, 2 * config.latent_dim, config.activation)
        if config.decoder == "autoregressive":
            self.decoder = ConditionalMADE(d, config.hidden[::-1], config.latent_dim, config.activation)
        elif config.architecture == "mlp":
            self.decoder = mlp([config.latent_dim, *config.hidden[::-1], d], config.activation)
        else:
            self.decoder = conv_decoder(config.input_shape, config.channels, config.latent_dim, config.activation)
        if config.likelihood == "gaussian" and config.gaussian_std is None:
            self.log_std = nn.Parameter(torch.zeros(d))
        self.loss_weights: dict[str, float] = {}

    @property
    def bernoulli_likelihood(self) -> bool:
        return self.config.likelihood == "bernoulli"

    def loss_weight(self, name: str) -> float:
        return self.loss_weights.get(name, 1.0)

    # -- the pieces ------------------------------------------------------------------------------
    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z | x)."""
        h = self.encoder(self.flat(x) if self.config.architecture == "mlp" else x)
        mu, logvar = h.chunk(2, dim=-1)
        return mu, logvar.clamp(-12, 8)

    @property
    def autoregressive(self) -> bool:
        return self.config.decoder == "autoregressive"

    def decoder_output(self, z: torch.Tensor, x_flat: torch.Tensor) -> torch.Tensor:
        """Logits (Bernoulli) or means (Gaussian), flattened to (..., D); an autoregressive decoder's logit for
        pixel i is given the pixels before it in x."""
        lead, flat_z = z.shape[:-1], z.reshape(-1, z.shape[-1])
        if self.autoregressive:
            out = self.decoder(x_flat.expand(*lead, -1).reshape(len(flat_z), -1), flat_z)
        else:
            out = self.decoder(flat_z)
        return out.reshape(*lead, -1)

    def log_px_given_z(self, out: torch.Tensor, x_flat: torch.Tensor) -> torch.Tensor:
        """log p(x | z), summed over pixels."""
        if self.config.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x_flat.expand_as(out), reduction="none").sum(-1)
        log_std = (self.log_std if self.config.gaussian_std is None
                   else torch.full_like(out[..., :1], math.log(self.config.gaussian_std)))
        return (-0.5 * ((x_flat - out) / log_std.exp()).pow(2) - log_std - 0.5 * LOG_2PI).sum(-1)

    # -- the calling convention ------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder means; an autoregressive decoder's pixel probabilities, each given the ones before it."""
        if self.autoregressive:
            return self.unflat(self.decoder.generate(z))
        out = self.decoder(z)
        return self.unflat(torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means at z ~ N(0, I) (other temperatures: the "normal" code prior); an autoregressive
        decoder's pixels are drawn one by one."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(device)
        return self.unflat(self.decoder.generate(z, generator)) if self.autoregressive else self.decode(z)

    def loss(self, batch) -> dict[str, torch.Tensor]:
        x = batch["x"]
        if self.config.binarize and self.training:
            x = torch.bernoulli(x)
        x_flat = self.flat(x)
        mu, logvar = self.posterior(x)
        kl_dims = gaussian_kl(mu, logvar)                      # (B, latent)
        kl = kl_dims.sum(-1).mean()
        if self.config.iwae_k == 1:
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
            recon = -self.log_px_given_z(self.decoder_output(z, x_flat), x_flat).mean()
            kl_penalised = (kl_dims.mean(0).clamp_min(self.config.free_bits).sum() if self.config.free_bits > 0
                            else kl)
            loss = recon + self.config.beta * self.loss_weight("kl") * kl_penalised
            return {"loss": loss, "recon": recon.detach(), "kl": kl.detach(), "elbo": -(recon + kl).detach()}
        log_w = self._log_weights(x_flat, mu, logvar, self.config.iwae_k)
        iwae = (torch.logsumexp(log_w, 0) - math.log(self.config.iwae_k)).mean()
        return {"loss": -iwae, "iwae": iwae.detach(), "kl": kl.detach(), "elbo": log_w.mean().detach()}

    def _log_weights(self, x_flat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, k: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        std = (0.5 * logvar).exp()
        eps = torch.randn(k, *mu.shape, generator=generator).to(mu.device)
        z = mu + std * eps                                                     # (k, B, latent)
        log_q = (-0.5 * eps.pow(2) - std.log() - 0.5 * LOG_2PI).sum(-1)
        log_prior = (-0.5 * z.pow(2) - 0.5 * LOG_2PI).sum(-1)
        return self.log_px_given_z(self.decoder_output(z, x_flat), x_flat) + log_prior - log_q

    def log_importance_weights(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None
                               ) -> torch.Tensor:
        """log p(x, z_i) - log q(z_i | x), z_i ~ q(z | x): shape (k, B). For the ELBO / IWAE estimators."""
        mu, logvar = self.posterior(x)
        return self._log_weights(self.flat(x), mu, logvar, k, generator)


register_preset("vae-burda", Preset(
    model="vae",
    model_config={"architecture": "mlp", "hidden": [200, 200], "latent_dim": 50, "activation": "tanh",
                  "likelihood": "bernoulli", "binarize": True},
    train={"epochs": 100, "batch_size": 100, "lr": 1e-3, "warmup_epochs": 1.0, "grad_clip": 0.0},
    description="Burda et al. 2016's MNIST VAE: 784-200-200-50 (tanh), Bernoulli decoder, dynamic binarisation",
))
