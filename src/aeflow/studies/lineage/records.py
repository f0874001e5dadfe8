"""What each chapter measures, as typed records: a chapter returns one, the chapter file keeps it as JSON
(`to_dict`), and the claims read its fields after `read_numbers` has checked every field's type on the way back
in (a record of another shape is another chapter's, and is done again)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aeflow.config import from_dict, to_dict


@dataclass
class Compression:
    code_dim: int
    test_error: dict[str, float]              # method -> squared error per test image


@dataclass
class ByHand:
    models: dict[str, dict[str, float]]       # autoencoder | vae -> NumPy and torch losses, their differences
    lr: float
    momentum: float
    batch_size: int
    epochs: int


@dataclass
class Scored:
    """A set of decoded images scored against the test images."""
    fd: float
    confidence: float                         # the classifier's mean top-class probability


@dataclass
class Measure:
    """The judge of "recognisable" and its validation (eval/recognisability.py), before it judges any claim."""
    judge: str                                # which judge, its accuracy and temperature
    references: dict[str, float]              # reference set -> the judge's mean calibrated confidence
    problems: list[str]                       # why it fails its validation; empty: it passed


@dataclass
class CodeSpace:
    code_dim: int
    noise_scale: float
    code_std: float
    noise_change: float                       # squared error a 0.1 N(0, I) nudge of the codes makes
    image_spread: float                       # squared error between two test images' reconstructions
    relative_change: float
    zeroed: int
    reconstructions: Scored
    noisy_codes: Scored
    zeroed_half: Scored
    normal_codes: Scored
    test_confidence: float
    fd_floor: float
    n: int
    measure: Measure


@dataclass
class Density:
    fd: float
    fd_floor: float
    precision: float
    recall: float
    fraction_closer_than_test_p1: float
    components: int


@dataclass
class BetaRow:
    beta: float
    rate: float
    distortion: float
    active_units: int
    mutual_information: float
    marginal_kl: float
    log_n: float
    prior_confidence: float
    prior_fd: float


@dataclass
class Trained:
    """A VAE's code on the test set after training."""
    active_units: int
    rate: float
    distortion: float


@dataclass
class WarmUpPair:
    beta: float
    latent_dim: int
    decoder: str
    no_warm_up: Trained
    warm_up: Trained


@dataclass
class VAE:
    sweep: list[BetaRow]
    prior_fd: float
    prior_confidence: float
    test_confidence: float
    prior_precision: float
    prior_recall: float
    prior_sharpness: float
    test_sharpness: float
    collapse: WarmUpPair                      # beta = 1, autoregressive decoder: where warm-up is claimed to help
    contrast: WarmUpPair                      # a large beta, factorised decoder: collapse is the optimum


@dataclass
class TopK:
    k: int
    code_dim: int
    fraction_exactly_k: float
    mean_active: float
    dead_fraction: float                      # units that fire on no training image
    dead_after: int                           # training images of silence before the auxiliary loss revives one
    revived_dead_after: int                   # the follow-up's: one epoch
    revived_dead_fraction: float


@dataclass
class Codebook:
    size: int
    perplexity_train: float
    dead_fraction_train: float


@dataclass
class Regularised:
    noise: float
    restoration_error: dict[str, float]       # plain | denoising
    code_sensitivity_per_code_std: dict[str, float]   # plain | contractive
    top_k: TopK
    codebook: Codebook
    mask_ratio: float
    masked_error: float
    mean_fill_error: float
    prefix_error: list[float]
    test_error: dict[str, float]


@dataclass
class Embedding:
    trustworthiness: float
    rank_correlation_with_t: float
    test_error: float


@dataclass
class SwissRoll:
    methods: dict[str, Embedding]


@dataclass
class OneStep:
    fd: float
    diversity: float
    fd_floor: float


@dataclass
class DDPM:
    fd: float
    fd_floor: float
    nfe: int
    precision: float
    recall: float
    timesteps: int


@dataclass
class SamplerPoint:
    label: str
    nfe: int
    fd: float
    sampler: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Flow:
    best_fd: float                            # the best at <= 20 network evaluations (flow), <= 4 steps (reflow)
    best: SamplerPoint
    points: list[SamplerPoint]


@dataclass
class Reflow(Flow):
    pairs: int = 0


@dataclass
class GAN:
    fd: float
    precision: float
    recall: float
    coverage: float
    sharpness: float
    min_class_fraction: float
    d_fake_std_second_half: float
    d_real_last: float
    d_fake_last: float


@dataclass
class LatentRow:
    """One generator over the compression autoencoder's codes."""
    process: str                              # flow | ddpm
    label: str
    nfe: int
    fd: float
    confidence: float
    images_per_s: float


@dataclass
class Latent:
    rows: list[LatentRow]
    best: LatentRow                           # the lower FD of the two
    reconstruction_fd: float                  # the autoencoder's reconstructions of N training images
    gmm_fd: float                             # the density chapter's mixture on the same codes
    fd_floor: float
    pixels: int
    latent_dim: int
    compression: float
    images_per_s_pixel: float
    pixel_matched: SamplerPoint
    speedup: float                            # the best latent generator's images/s over the pixel flow's


RECORDS: dict[str, type] = {
    "compression": Compression, "byhand": ByHand, "code-space": CodeSpace, "density": Density, "vae": VAE,
    "regularised": Regularised, "swiss-roll": SwissRoll, "one-step": OneStep, "ddpm": DDPM, "flow": Flow,
    "reflow": Reflow, "gan": GAN, "latent": Latent,
}


def read_numbers(key: str, numbers: Any) -> Any:
    """A chapter's record from its JSON form, every field checked (ConfigError when it is not that record)."""
    if numbers == {}:   # a chapter that did not apply measured nothing
        return None
    return from_dict(RECORDS[key], numbers, f"the {key} chapter's numbers")


__all__ = ["RECORDS", "read_numbers", "to_dict"]
