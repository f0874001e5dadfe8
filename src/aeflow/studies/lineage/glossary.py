"""What each number of a chapter's record is, in words and units, for the report: a row reads
"collapse.no_warm_up.rate  3.1  nats: KL(q(z|x) || N(0, I)) per test image", not a bare dictionary key.
A dotted name is looked up from its last part back (`test_error.pca` is a `test_error`); a name with no
entry fails the report's test."""

from __future__ import annotations

SQUARED_ERROR = "squared error per image, summed over pixels (pixels in [0, 1])"
FD = "Fréchet distance of the classifier's features to the test images' (lower is better)"
FRACTION = "fraction (0 to 1)"

GLOSSARY: dict[str, tuple[str, str]] = {
    # -- reconstruction and codes ------------------------------------------------------------------------
    "code_dim": ("units", "numbers in a code"),
    "latent_dim": ("units", "numbers in a VAE's code"),
    "test_error": ("per test image", SQUARED_ERROR + " of the reconstructions"),
    "restoration_error": ("per test image", SQUARED_ERROR + " between a clean image and the reconstruction of "
                          "its noisy copy"),
    "code_sensitivity_per_code_std": ("ratio", "how far the code moves per unit of input noise, in units of the "
                                      "code's own spread"),
    "noise_scale": ("code std", "size of the nudge given to the codes, times N(0, I)"),
    "code_std": ("", "standard deviation of the test codes"),
    "noise_change": ("per image", SQUARED_ERROR + " a nudge of the codes makes to the decoded image"),
    "image_spread": ("per image", SQUARED_ERROR + " between two different test images' reconstructions"),
    "relative_change": ("ratio", "noise_change / image_spread: how much a small nudge changes the image"),
    "zeroed": ("units", "code units set to zero in the zeroed-half test"),
    "reconstructions": ("", "the test images' reconstructions, scored"),
    "noisy_codes": ("", "test codes plus the nudge, decoded and scored"),
    "zeroed_half": ("", "test codes with half their units zeroed, decoded and scored"),
    "normal_codes": ("", "N(0, I) codes decoded by the autoencoder, scored"),
    # -- sample quality ---------------------------------------------------------------------------------
    "fd": ("FD", FD),
    "best_fd": ("FD", FD + ", the best sampler setting within the chapter's step limit"),
    "prior_fd": ("FD", FD + " of N(0, I) codes decoded"),
    "fd_floor": ("FD", "the FD of as many real training images: what the sample size alone costs"),
    "precision": (FRACTION, "samples within the test images' feature manifold (Kynkäänniemi et al. 2019, k = 3)"),
    "prior_precision": (FRACTION, "precision of the prior's samples"),
    "recall": (FRACTION, "test images within the samples' feature manifold"),
    "prior_recall": (FRACTION, "recall of the prior's samples"),
    "confidence": ("probability", "the judge's mean calibrated top-class probability on the images: how "
                   "recognisable"),
    "prior_confidence": ("probability", "confidence on N(0, I) samples"),
    "test_confidence": ("probability", "confidence on real test images: the reference"),
    "coverage": (FRACTION, "entropy of the predicted classes / log(classes): 1 = every class equally"),
    "min_class_fraction": (FRACTION, "the rarest predicted class's share of the samples"),
    "fraction_closer_than_test_p1": (FRACTION, "samples nearer a training image than 99% of test images are: "
                                     "memorisation"),
    "sharpness": ("", "variance of the Laplacian of the samples (higher is sharper)"),
    "prior_sharpness": ("", "sharpness of the prior's samples"),
    "test_sharpness": ("", "sharpness of real test images: the reference"),
    "diversity": ("ratio", "mean pairwise distance of the samples / that of the test images"),
    "n": ("images", "images scored (and test images they are scored against)"),
    "components": ("", "Gaussians in the mixture fitted to the training codes"),
    # -- VAE --------------------------------------------------------------------------------------------
    "sweep": ("", "one VAE per beta"),
    "beta": ("", "the KL weight in the loss"),
    "rate": ("nats per image", "KL(q(z|x) || N(0, I)) on the test set: what the code keeps"),
    "distortion": ("nats per image", "expected negative log-likelihood of the test images under the decoder"),
    "active_units": ("units", "code units whose posterior mean varies across test images (Cov > 0.01)"),
    "mutual_information": ("nats", "I(x; z) under q: the part of the rate that tells images apart"),
    "marginal_kl": ("nats", "KL(q(z) || N(0, I)): the rest of the rate, aggregate codes off the prior"),
    "log_n": ("nats", "log of the test images counted: the most the mutual information can be"),
    "collapse": ("", "warm-up at beta = 1 with an autoregressive decoder, where collapse is an accident"),
    "contrast": ("", "warm-up at a large beta, where collapse is the objective's optimum"),
    "decoder": ("", "factorised (pixels independent given z) or autoregressive (a MADE on z)"),
    "no_warm_up": ("", "trained with the KL weight at beta from the start"),
    "warm_up": ("", "trained with the KL weight rising linearly from 0"),
    # -- by hand ----------------------------------------------------------------------------------------
    "models": ("", "the NumPy model and its torch twin, trained alike"),
    "lr": ("", "learning rate"),
    "momentum": ("", "SGD momentum"),
    "batch_size": ("images", "images per step"),
    "epochs": ("", "passes over the training set"),
    "final_loss_numpy": ("nats per image", "training loss of the hand-written NumPy model over its last epoch"),
    "final_loss_torch": ("nats per image", "the same for its autograd twin"),
    "relative_difference": ("ratio", "|NumPy - torch| / torch, last epoch"),
    "early_relative_difference": ("ratio", "the largest |NumPy - torch| / torch over the first 100 steps"),
    "first_loss": ("nats per image", "the NumPy model's loss at its first step"),
    "test_loss_numpy": ("nats per image", "the NumPy model's loss on the test images"),
    "steps": ("", "SGD steps taken"),
    "seconds_numpy": ("s", "training time of the NumPy model"),
    "seconds_torch": ("s", "training time of the torch twin"),
    # -- regularised ------------------------------------------------------------------------------------
    "noise": ("pixel std", "Gaussian noise added to the inputs of the denoising comparison"),
    "top_k": ("", "the top-k sparse autoencoder"),
    "k": ("units", "units kept active per image"),
    "fraction_exactly_k": (FRACTION, "test images with exactly k active units"),
    "mean_active": ("units", "active units per test image"),
    "dead_fraction": (FRACTION, "units that fire on no training image"),
    "dead_after": ("images", "training images of silence after which the auxiliary loss revives a unit"),
    "revived_dead_after": ("images", "dead_after of the follow-up model (one epoch)"),
    "revived_dead_fraction": (FRACTION, "dead_fraction of the follow-up model"),
    "codebook": ("", "the VQ-VAE's codebook"),
    "size": ("entries", "codebook entries"),
    "perplexity_train": ("entries", "exp(entropy) of codebook use on the training set: entries in effective use"),
    "dead_fraction_train": (FRACTION, "codebook entries used by no training image"),
    "mask_ratio": (FRACTION, "patches hidden from the masked autoencoder"),
    "masked_error": ("per image", SQUARED_ERROR + " on the hidden patches, filled in by the model"),
    "mean_fill_error": ("per image", SQUARED_ERROR + " on the hidden patches, filled with the mean image"),
    "prefix_error": ("per image", SQUARED_ERROR + " of the ordered autoencoder decoding its first 1, 2, ... units"),
    # -- Swiss roll ---------------------------------------------------------------------------------------
    "methods": ("", "2-D embeddings of the 3-D Swiss roll"),
    "trustworthiness": (FRACTION, "how well 2-D neighbours are 3-D neighbours (Venna & Kaski, k = 10)"),
    "rank_correlation_with_t": ("Spearman", "rank correlation of the first coordinate with the position along "
                                "the roll"),
    # -- generators ---------------------------------------------------------------------------------------
    "nfe": ("evaluations", "network evaluations per sample"),
    "timesteps": ("", "steps of the DDPM noise schedule"),
    "best": ("", "the sampler setting with the best FD within the limit"),
    "points": ("", "every sampler setting measured"),
    "label": ("", "the sampler setting"),
    "sampler": ("", "the sampler's name (`aeflow samplers`)"),
    "options": ("", "the sampler's options"),
    "pairs": ("pairs", "(noise, sample) pairs the reflow student trains on"),
    "d_fake_std_second_half": ("", "standard deviation of the discriminator's mean output on generated images over "
                               "the second half of training: does the game settle"),
    "d_real_last": ("probability", "the discriminator's mean output on real images, last epoch"),
    "d_fake_last": ("probability", "the discriminator's mean output on generated images, last epoch"),
    "pixels": ("numbers", "numbers in an image"),
    "compression": ("ratio", "pixels / code numbers: how much smaller the latent generator's state is"),
    "images_per_s": ("images/s", "sampling speed (decoder included), timed while it was scored"),
    "images_per_s_pixel": ("images/s", "sampling speed of the pixel flow at the setting that matches the best "
                           "latent generator's FD"),
    "pixel_matched": ("", "the pixel flow's cheapest sampler setting at least as good as the best latent generator"),
    "speedup": ("ratio", "images/s of the best latent generator / of the pixel flow at matched quality, timed in "
                "one process"),
    "rows": ("", "one generator over the autoencoder's codes per process"),
    "process": ("", "flow matching or DDPM"),
    "reconstruction_fd": ("FD", FD + " of the autoencoder's reconstructions of as many training images: the best "
                          "its decoder gives"),
    "gmm_fd": ("FD", FD + " of the Gaussian mixture on the same codes (the density chapter)"),
    # -- the judge ----------------------------------------------------------------------------------------
    "measure": ("", "the judge of recognisability and its validation"),
    "judge": ("", "the classifier that judges recognisability: outlier exposure, calibrated temperature"),
    "references": ("probability", "the judge's mean confidence on each reference set"),
    "problems": ("", "why the judge fails its validation (empty: it passed)"),
}


def describe(name: str) -> tuple[str, str] | None:
    """(unit, meaning) of a dotted number name, from its last part back; None when no part has an entry."""
    for part in reversed(name.split(".")):
        if part in GLOSSARY:
            return GLOSSARY[part]
    return None
