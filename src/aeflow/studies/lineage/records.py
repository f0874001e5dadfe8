"""What each chapter measures, as typed records: a chapter returns one, the chapter file keeps it as JSON
(`to_dict`), and the claims read its fields after `read_numbers` has checked every field's type on the way back
in (a record of another shape is another chapter's, and is done again)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from aeflow.config import from_dict, to_dict

SQUARED_ERROR = "squared error per image, summed over pixels (pixels in [0, 1])"
FD = "Fréchet distance of the classifier's features to the test images' (lower is better)"
FRACTION = "fraction (0 to 1)"


def number(unit: str, means: str, **default: Any) -> Any:
    """A record's field with its unit and what it means: the report's words for it (`described`)."""
    return field(metadata={"unit": unit, "means": means}, **default)


# The fields several records share, by their name there.
SHARED: dict[str, tuple[str, str]] = {
    "code_dim": ("units", "numbers in a code"),
    "test_error": ("per test image", SQUARED_ERROR + " of the reconstructions"),
    "fd": ("FD", FD),
    "confidence": ("probability", "the judge's mean calibrated top-class probability on the images: how recognisable"),
    "test_confidence": ("probability", "confidence on real test images: the reference"),
    "fd_floor": ("FD", "the FD of as many real training images: what the sample size alone costs"),
    "precision": (FRACTION, "samples within the test images' feature manifold (Kynkäänniemi et al. 2019, k = 3)"),
    "recall": (FRACTION, "test images within the samples' feature manifold"),
    "beta": ("", "the KL weight in the loss"),
    "rate": ("nats per image", "KL(q(z|x) || N(0, I)) on the test set: what the code keeps"),
    "distortion": ("nats per image", "expected negative log-likelihood of the test images under the decoder"),
    "active_units": ("units", "code units whose posterior mean varies across test images (Cov > 0.01)"),
    "prior_confidence": ("probability", "confidence on N(0, I) samples"),
    "prior_fd": ("FD", FD + " of N(0, I) codes decoded"),
    "nfe": ("evaluations", "network evaluations per sample"),
    "label": ("", "the sampler setting"),
}


def shared(name: str) -> Any:
    return number(*SHARED[name])


@dataclass
class ByMethod:
    """The compression chapter's four ways to a code of the same size."""
    autoencoder: float = number("per test image", "the deep autoencoder (Hinton and Salakhutdinov's shape)")
    pca: float = number("per test image", "principal component analysis")
    logistic_pca: float = number("per test image", "logistic PCA (Bernoulli PCA; test codes solved by Newton's method)")
    kernel_pca: float = number("per test image", "kernel PCA with its pre-image map")


@dataclass
class Compression:
    code_dim: int = shared("code_dim")
    test_error: ByMethod = shared("test_error")


@dataclass
class HandAndTwin:
    """A NumPy model with hand-written backprop and its autograd twin, trained alike from the same weights."""
    final_loss_numpy: float = number("nats per image", "training loss of the NumPy model over its last epoch")
    final_loss_torch: float = number("nats per image", "the same for its autograd twin")
    relative_difference: float = number("ratio", "|NumPy - torch| / torch, last epoch")
    early_relative_difference: float = number("ratio", "the largest |NumPy - torch| / torch over the first 100 steps")
    first_loss: float = number("nats per image", "the NumPy model's loss at its first step")
    test_loss_numpy: float = number("nats per image", "the NumPy model's loss on the test images")
    steps: int = number("", "SGD steps taken")
    seconds_numpy: float = number("s", "training time of the NumPy model")
    seconds_torch: float = number("s", "training time of the torch twin")


@dataclass
class ByHand:
    models: dict[str, HandAndTwin] = number("", "the NumPy model and its torch twin, by model")
    lr: float = number("", "learning rate")
    momentum: float = number("", "SGD momentum")
    batch_size: int = number("images", "images per step")
    epochs: int = number("", "passes over the training set")


@dataclass
class Scored:
    """A set of decoded images scored against the test images."""
    fd: float = shared("fd")
    confidence: float = shared("confidence")


@dataclass
class Measure:
    """The judge of "recognisable" and its validation (eval/recognisability.py), before it judges any claim."""
    judge: str = number("", "the classifier that judges recognisability: outlier exposure, calibrated temperature")
    references: dict[str, float] = number("probability", "the judge's mean confidence on each reference set")
    problems: list[str] = number("", "why the judge fails its validation (empty: it passed)")


@dataclass
class CodeSpace:
    code_dim: int = shared("code_dim")
    noise_scale: float = number("code std", "size of the nudge given to the codes, times N(0, I)")
    code_std: float = number("", "standard deviation of the test codes")
    noise_change: float = number("per image", SQUARED_ERROR + " a nudge of the codes makes to the decoded image")
    image_spread: float = number("per image", SQUARED_ERROR + " between two different test images' reconstructions")
    relative_change: float = number("ratio", "noise change / image spread: how much a small nudge changes the image")
    zeroed: int = number("units", "code units set to zero in the zeroed-half test")
    reconstructions: Scored = number("", "the test images' reconstructions, scored")
    noisy_codes: Scored = number("", "test codes plus the nudge, decoded and scored")
    zeroed_half: Scored = number("", "test codes with half their units zeroed, decoded and scored")
    normal_codes: Scored = number("", "N(0, I) codes decoded by the autoencoder, scored")
    test_confidence: float = shared("test_confidence")
    fd_floor: float = shared("fd_floor")
    n: int = number("images", "images scored (and test images they are scored against)")
    measure: Measure = number("", "the judge of recognisability and its validation")


@dataclass
class Density:
    fd: float = shared("fd")
    fd_floor: float = shared("fd_floor")
    precision: float = shared("precision")
    recall: float = shared("recall")
    fraction_closer_than_test_p1: float = number(
        FRACTION, "samples nearer a training image than 99% of test images are: memorisation")
    components: int = number("", "Gaussians in the mixture fitted to the training codes")


@dataclass
class BetaRow:
    beta: float = shared("beta")
    rate: float = shared("rate")
    distortion: float = shared("distortion")
    active_units: int = shared("active_units")
    mutual_information: float = number("nats", "I(x; z) under q: the part of the rate that tells images apart")
    marginal_kl: float = number("nats", "KL(q(z) || N(0, I)): the rest of the rate, aggregate codes off the prior")
    log_n: float = number("nats", "log of the test images counted: the most the mutual information can be")
    prior_confidence: float = shared("prior_confidence")
    prior_fd: float = shared("prior_fd")


@dataclass
class Trained:
    """A VAE's code on the test set after training."""
    active_units: int = shared("active_units")
    rate: float = shared("rate")
    distortion: float = shared("distortion")


@dataclass
class WarmUpPair:
    beta: float = shared("beta")
    latent_dim: int = number("units", "numbers in a VAE's code")
    decoder: str = number("", "factorised (pixels independent given z) or autoregressive (a MADE on z)")
    no_warm_up: Trained = number("", "trained with the KL weight at beta from the start")
    warm_up: Trained = number("", "trained with the KL weight rising linearly from 0")


@dataclass
class VAE:
    sweep: list[BetaRow] = number("", "one VAE per beta")
    prior_fd: float = shared("prior_fd")
    prior_confidence: float = shared("prior_confidence")
    test_confidence: float = shared("test_confidence")
    prior_precision: float = number(FRACTION, "precision of the prior's samples")
    prior_recall: float = number(FRACTION, "recall of the prior's samples")
    prior_sharpness: float = number("", "sharpness of the prior's samples")
    test_sharpness: float = number("", "sharpness of real test images: the reference")
    collapse: WarmUpPair = number("",
                                  "warm-up at beta = 1 with an autoregressive decoder, where collapse is an accident")
    contrast: WarmUpPair = number("", "warm-up at a large beta, where collapse is the objective's optimum")


@dataclass
class TopK:
    k: int = number("units", "units kept active per image")
    code_dim: int = shared("code_dim")
    fraction_exactly_k: float = number(FRACTION, "test images with exactly k active units")
    mean_active: float = number("units", "active units per test image")
    dead_fraction: float = number(FRACTION, "units that fire on no training image")
    dead_after: int = number("images", "training images of silence after which the auxiliary loss revives a unit")
    revived_dead_after: int = number("images", "dead after of the follow-up model (one epoch)")
    revived_dead_fraction: float = number(FRACTION, "dead fraction of the follow-up model")


@dataclass
class Codebook:
    size: int = number("entries", "codebook entries")
    perplexity_train: float = number("entries",
                                     "exp(entropy) of codebook use on the training set: entries in effective use")
    dead_fraction_train: float = number(FRACTION, "codebook entries used by no training image")


@dataclass
class Regularised:
    noise: float = number("pixel std", "Gaussian noise added to the inputs of the denoising comparison")
    restoration_error: dict[str, float] = number(   # plain | denoising
        "per test image", SQUARED_ERROR + " between a clean image and the reconstruction of its noisy copy")
    code_sensitivity_per_code_std: dict[str, float] = number(   # plain | contractive
        "ratio", "how far the code moves per unit of input noise, in units of the code's own spread")
    top_k: TopK = number("", "the top-k sparse autoencoder")
    codebook: Codebook = number("", "the VQ-VAE's codebook")
    mask_ratio: float = number(FRACTION, "patches hidden from the masked autoencoder")
    masked_error: float = number("per image", SQUARED_ERROR + " on the hidden patches, filled in by the model")
    mean_fill_error: float = number("per image", SQUARED_ERROR + " on the hidden patches, filled with the mean image")
    prefix_error: list[float] = number("per image",
                                       SQUARED_ERROR + " of the ordered autoencoder decoding its first 1, 2, ... units")
    test_error: dict[str, float] = shared("test_error")


@dataclass
class Embedding:
    trustworthiness: float = number(FRACTION, "how well 2-D neighbours are 3-D neighbours (Venna & Kaski, k = 10)")
    rank_correlation_with_t: float = number("Spearman",
                                            "rank correlation of the first coordinate with the position along the roll")
    test_error: float = shared("test_error")


@dataclass
class SwissRoll:
    methods: dict[str, Embedding] = number("", "2-D embeddings of the 3-D Swiss roll")


@dataclass
class OneStep:
    fd: float = shared("fd")
    diversity: float = number("ratio", "mean pairwise distance of the samples / that of the test images")
    fd_floor: float = shared("fd_floor")


@dataclass
class DDPM:
    fd: float = shared("fd")
    fd_floor: float = shared("fd_floor")
    nfe: int = shared("nfe")
    precision: float = shared("precision")
    recall: float = shared("recall")
    timesteps: int = number("", "steps of the DDPM noise schedule")


@dataclass
class SamplerPoint:
    label: str = shared("label")
    nfe: int = shared("nfe")
    fd: float = shared("fd")
    sampler: str = number("", "the sampler's name (`aeflow samplers`)")
    options: dict[str, Any] = number("", "the sampler's options", default_factory=dict)


@dataclass
class Flow:
    best_fd: float = number("FD", FD + ", the best sampler setting within the chapter's step limit")
    best: SamplerPoint = number("", "the sampler setting with the best FD within the limit")
    points: list[SamplerPoint] = number("", "every sampler setting measured")


@dataclass
class Reflow(Flow):
    pairs: int = number("pairs", "(noise, sample) pairs the reflow student trains on", default=0)


@dataclass
class GAN:
    fd: float = shared("fd")
    precision: float = shared("precision")
    recall: float = shared("recall")
    coverage: float = number(FRACTION, "entropy of the predicted classes / log(classes): 1 = every class equally")
    sharpness: float = number("", "variance of the Laplacian of the samples (higher is sharper)")
    min_class_fraction: float = number(FRACTION, "the rarest predicted class's share of the samples")
    d_fake_std_second_half: float = number(
        "", "standard deviation of the discriminator's mean output on generated images over the second half of "
        "training: does the game settle")
    d_real_last: float = number("probability", "the discriminator's mean output on real images, last epoch")
    d_fake_last: float = number("probability", "the discriminator's mean output on generated images, last epoch")


@dataclass
class LatentRow:
    """One generator over the compression autoencoder's codes."""
    process: str = number("", "flow matching or DDPM")                              # flow | ddpm
    label: str = shared("label")
    nfe: int = shared("nfe")
    fd: float = shared("fd")
    confidence: float = shared("confidence")
    images_per_s: float = number("images/s", "sampling speed (decoder included), timed while it was scored")


@dataclass
class Latent:
    rows: list[LatentRow] = number("", "one generator over the autoencoder's codes per process")
    best: LatentRow = number("", "the generator of the two with the lower FD")
    reconstruction_fd: float = number(
        "FD", FD + " of the autoencoder's reconstructions of as many training images: the best its decoder gives")
    gmm_fd: float = number("FD", FD + " of the Gaussian mixture on the same codes (the density chapter)")
    fd_floor: float = shared("fd_floor")
    pixels: int = number("numbers", "numbers in an image")
    latent_dim: int = number("units", "numbers in the autoencoder's code the generators run over")
    compression: float = number("ratio", "pixels / code numbers: how much smaller the latent generator's state is")
    images_per_s_pixel: float = number(
        "images/s", "sampling speed of the pixel flow at the setting that matches the best latent generator's FD")
    pixel_matched: SamplerPoint = number(
        "", "the pixel flow's cheapest sampler setting at least as good as the best latent generator")
    speedup: float = number(
        "ratio", "images/s of the best latent generator / of the pixel flow at matched quality, timed in one process")


def described(record: Any, depth: int = 0) -> list[dict[str, Any]]:
    """A record as the report's rows: each field's name in words, its value, its unit and what it means (from
    the field's metadata), a nested record as a heading row followed by its own rows one level deeper (so are
    the records of a mapping or list, each under its key or row number), a plain mapping as a row per entry."""
    rows = []
    for f in fields(record):
        value, name = getattr(record, f.name), f.name.replace("_", " ")
        unit, means = f.metadata["unit"], f.metadata["means"]
        if is_dataclass(value):
            rows += [{"name": name, "depth": depth, "value": None, "unit": "", "means": means},
                     *described(value, depth + 1)]
        elif isinstance(value, (dict, list)) and any(is_dataclass(v) for v in _items(value).values()):
            rows.append({"name": name, "depth": depth, "value": None, "unit": "", "means": means})
            for key, item in _items(value).items():
                rows += [{"name": key, "depth": depth + 1, "value": None, "unit": "", "means": ""},
                         *described(item, depth + 2)]
        elif isinstance(value, dict):
            rows += [{"name": f"{name}: {key}", "depth": depth, "value": item, "unit": unit, "means": means}
                     for key, item in value.items()]
        else:
            rows.append({"name": name, "depth": depth, "value": to_dict(value) if isinstance(value, list) else value,
                         "unit": unit, "means": means})
    return rows


def _items(value: dict | list) -> dict[str, Any]:
    """A mapping's entries, or a list's as "row 1", "row 2"...: each of a record's nested records by a name."""
    return value if isinstance(value, dict) else {f"row {i}": item for i, item in enumerate(value, 1)}


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


__all__ = ["RECORDS", "described", "read_numbers", "to_dict"]
