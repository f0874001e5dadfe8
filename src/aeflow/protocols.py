"""What a model can do, declared as protocols (checked with isinstance) rather than probed by hasattr:
the trainer, the metrics, the samplers, the CLI and the explorer ask these, and `aeflow.check_model` checks that
a model behaves as it declares (every registered family in the tests, and any model from outside).

A leaf: it imports torch and nothing of aeflow, so a model from another library can declare these without
loading a single family.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class HasLoss(Protocol):
    """A loss over a batch (a mapping of named tensors): what the trainer minimises."""

    def loss(self, batch) -> dict[str, torch.Tensor]: ...


@runtime_checkable
class Encodes(Protocol):
    """An encoder and a decoder: codes (N, d) <-> images in [0, 1]."""

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...
    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Reconstructs(Protocol):
    """Reconstructs an image through its code (every encoder; the masked autoencoder from visible patches)."""

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class HasPosterior(Protocol):
    """A Gaussian q(z | x): (mu, logvar)."""

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class Samples(Protocol):
    """Draws images in [0, 1] in one call (its own prior: a VAE's N(0, I), probabilistic PCA's Gaussian)."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor: ...


@runtime_checkable
class HasLikelihood(Protocol):
    """log p(x, z_i) - log q(z_i | x) for importance samples z_i: ELBO and IWAE bounds."""

    def log_importance_weights(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None
                               ) -> torch.Tensor: ...


@runtime_checkable
class ExactLikelihood(Protocol):
    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Phased(Protocol):
    """Trained in phases (a GAN: discriminator, generator), one optimiser per phase."""

    phases: tuple[str, ...]

    def phase_parameters(self, phase: str) -> list[torch.nn.Parameter]: ...


@runtime_checkable
class WeightedTerms(Protocol):
    """Loss terms whose weights the trainer schedules (KL warm-up): name -> weight, read by the loss;
    `weighted_terms` names the terms the loss reads, so that a misspelled schedule is refused, not ignored."""

    loss_weights: dict[str, float]
    weighted_terms: tuple[str, ...]


@runtime_checkable
class Tokenizes(Protocol):
    """A discrete code: a grid of codebook indices per image (VQ-VAE), decoded back to images."""

    codebook_size: int
    token_grid: tuple[int, int]

    def tokens(self, x: torch.Tensor) -> torch.Tensor: ...
    def decode_tokens(self, indices: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Discriminates(Protocol):
    """A learned judge of realness (a GAN's discriminator): the probability it gives images in [0, 1] of being
    training data, one number per image."""

    def discriminate(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class NoiseToData(Protocol):
    """A generator that starts from noise in its model space and ends in data space; the samplers read its
    default sampler (a registered sampler's name) and that sampler's default step count."""

    default_sampler: str
    default_steps: int

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor: ...
    def to_data_space(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class MapsNoise(NoiseToData, Protocol):
    """One network pass from noise to a sample (a GAN's generator, the one-step baseline)."""

    def map_noise(self, noise: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class VelocityField(NoiseToData, Protocol):
    """A learned velocity v(x, t), t = 0 noise to t = 1 data (flow matching): ODE samplers integrate it."""

    def velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class NoiseSchedule(Protocol):
    """A discrete diffusion schedule as the DDPM samplers read it: T steps (integer t = 0..T-1, 0 the least
    noisy), alpha_bar[t] (x_t = sqrt(alpha_bar[t]) x_0 + sqrt(1 - alpha_bar[t]) eps) and the Gaussian posterior
    q(x_{t-1} | x_t, x_0) as (mean, variance)."""

    steps: int
    alpha_bar: torch.Tensor

    def posterior(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class NoisePredictor(NoiseToData, Protocol):
    """A denoiser on a DDPM schedule: (x0_hat, eps_hat) at integer timesteps; `clip` bounds x0_hat."""

    schedule: NoiseSchedule
    clip: float | None

    def predict(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...



@runtime_checkable
class SparseDictionary(Protocol):
    """An overcomplete code of non-negative units over a dictionary: encode(x, k) keeps the k largest units;
    unit_dictionary() is (pixels, units) with unit-norm columns (the atoms)."""

    def encode(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor: ...
    def unit_dictionary(self) -> torch.Tensor: ...


@runtime_checkable
class FillsPatches(Protocol):
    """Fills hidden patches from the visible ones (a masked autoencoder): `hidden` is (N, n_patches), True =
    hidden; patchify / unpatchify convert images to (N, n_patches, patch pixels) and back."""

    n_patches: int

    def patchify(self, x: torch.Tensor) -> torch.Tensor: ...
    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor: ...
    def fill_in(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class LatentPipeline(NoiseToData, Protocol):
    """A generator in a frozen autoencoder's code space: it walks `code_dim` numbers, `compression` times fewer
    than the image's; `autoencoder_family` names the autoencoder whose decoder makes the image."""

    code_dim: int
    compression: float
    autoencoder_family: str
    input_shape: tuple[int, ...]
