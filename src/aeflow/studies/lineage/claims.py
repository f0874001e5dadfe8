"""The story's claims, each judged from the chapters' numbers (never assumed): a claim names its chapter, says
what the story says, and computes its margin, the signed distance of its measure from the threshold it states
(in units of that threshold, positive when the claim holds on those numbers).

A chapter that is cheap runs several seeds, and a claim is judged on each: held when it holds on every seed and
its mean margin is more than SETTLED times the margins' standard deviation across seeds, not held when it fails
on every seed by such a margin, unsettled otherwise (the seeds disagree, or the margin is within the seed-to-seed
spread). One seed gives held or not held, and says it was one. This rule was written before any run with seeds.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aeflow.eval.recognisability import RECOGNISABLE

Numbers = dict[str, Any]   # chapter key -> that chapter's typed record (records.py) at one seed
SETTLED = 2.0


@dataclass(frozen=True)
class Claim:
    chapter: str
    text: str
    judge: Callable[[Numbers], tuple[float, str]]   # (margin: > 0 when held, the measurement in words)
    needs: tuple[str, ...] = ()                     # other chapters whose numbers it compares with
    follow_up: Callable[[list[Numbers]], str] | None = None   # a second measurement (over every seed), shown
                                                              # when the claim is not held
    recognisability: bool = False                   # judged by the judge's confidence: only once it is validated


def above(value: float, threshold: float, scale: float | None = None) -> float:
    """The margin of "value > threshold", relative to the threshold (or to `scale`)."""
    return (value - threshold) / (scale or abs(threshold) or 1.0)


def below(value: float, threshold: float, scale: float | None = None) -> float:
    """The margin of "value < threshold", relative to the threshold (or to `scale`)."""
    return (threshold - value) / (scale or abs(threshold) or 1.0)


def _falls(values: list[float]) -> float:
    """The margin of "every value is below the one before": the smallest step, relative to the range."""
    scale = (max(values) - min(values)) or 1.0
    return min((a - b) / scale for a, b in zip(values, values[1:]))


def _compression(n: Numbers) -> tuple[float, str]:
    e = n["compression"].test_error
    return below(e.autoencoder, e.pca), (
        f"test error per image: autoencoder {e.autoencoder:.3f}, PCA {e.pca:.3f}, "
        f"logistic PCA {e.logistic_pca:.3f}, kernel PCA {e.kernel_pca:.3f}")


_BYHAND_NAMES = {"autoencoder": "autoencoder", "vae": "VAE"}


def _byhand(n: Numbers) -> tuple[float, str]:
    """Equal gradients show as equal steps: the per-step losses agree to rounding at first. Over many steps SGD
    on a nonlinear network amplifies the rounding differences (summation order), so the final losses are
    compared with a looser, stated tolerance, each model's on its own."""
    m = n["byhand"].models
    early = max(r.early_relative_difference for r in m.values())
    final = max(r.relative_difference for r in m.values())
    finals = ", ".join(f"{_BYHAND_NAMES[name]} {r.final_loss_numpy:.4f} vs {r.final_loss_torch:.4f} "
                       f"({100 * r.relative_difference:.2f}% apart)" for name, r in m.items())
    return min(below(early, 1e-9), below(final, 0.01)), (
        f"per-step loss, NumPy vs torch, over the first 100 steps: largest relative difference {early:.1e} "
        f"(tolerance 1e-9); final-epoch loss after {m['vae'].steps:.0f} steps: {finals} (tolerance 1% for "
        "each: rounding differences grow as SGD amplifies them)")


def _byhand_by_seed(seeds: list[Numbers]) -> str:
    """Is the NumPy-vs-torch gap in final loss bigger than what a change of seed does to either?"""
    parts = []
    for name in seeds[0]["byhand"].models:
        runs = [s["byhand"].models[name] for s in seeds]
        finals = [r.final_loss_torch for r in runs]
        spread = 100 * statistics.stdev(finals) / statistics.fmean(finals) if len(finals) > 1 else float("nan")
        gaps = ", ".join(f"{100 * r.relative_difference:.2f}%" for r in runs)
        parts.append(f"{_BYHAND_NAMES[name]} {gaps} apart, its torch twin's own final loss moving by {spread:.2f}% "
                     "from one seed to the next")
    return ("final-epoch loss, NumPy vs torch, per seed (spread: standard deviation over the seeds): "
            + "; ".join(parts))


def _small_noise(n: Numbers) -> tuple[float, str]:
    c = n["code-space"]
    return below(c.relative_change, 0.1), (
        f"0.1 N(0, I) added to the codes (code std {c.code_std:.2f}) changes a "
        f"reconstruction by {c.noise_change:.3f} (squared error), "
        f"{100 * c.relative_change:.1f}% of the {c.image_spread:.3f} between two "
        "test images' reconstructions (threshold 10%)")


# "Recognisable", in the story's words, judged by the judge (eval/recognisability.py: calibrated, and validated on
# reference sets before it judges), not by FD: FD weighs blur and off-manifold strokes into one distance.


def _recognisable(confidence: float, test_confidence: float) -> float:
    """The margin of "recognisable": confidence at least RECOGNISABLE times the test images'."""
    return above(confidence, RECOGNISABLE * test_confidence)


def _holes(n: Numbers) -> tuple[float, str]:
    c = n["code-space"]
    confidence, test = c.normal_codes.confidence, c.test_confidence
    return -_recognisable(confidence, test), (
        f"the judge's confidence on decoded N(0, I) codes {confidence:.3f} vs test images {test:.3f} "
        f"({confidence / test:.2f}x; garbage: below {RECOGNISABLE}x); FD {c.normal_codes.fd:.1f} vs "
        f"reconstructions {c.reconstructions.fd:.1f} (floor {c.fd_floor:.1f}, N = {c.n})")


def _density(n: Numbers) -> tuple[float, str]:
    d, c = n["density"], n["code-space"]
    ratio = d.fd / c.normal_codes.fd
    return below(ratio, 0.5), (
        f"FD of GMM samples {d.fd:.1f} vs decoded N(0, I) codes {c.normal_codes.fd:.1f} "
        f"({ratio:.2f}x; threshold 0.5x; floor {d.fd_floor:.1f})")


def _not_copies(n: Numbers) -> tuple[float, str]:
    f = n["density"].fraction_closer_than_test_p1
    return below(f, 0.05), (
        f"{100 * f:.1f}% of GMM samples are closer to a training image than 99% of test images are "
        "(a held-out image: 1%; threshold 5%)")


def _vae_recognisable(n: Numbers) -> tuple[float, str]:
    v, c = n["vae"], n["code-space"]
    vae, ae, test = v.prior_confidence, c.normal_codes.confidence, v.test_confidence
    return min(_recognisable(vae, test), -_recognisable(ae, test)), (
        f"the judge's confidence: the VAE's N(0, I) samples {vae:.3f}, the autoencoder's decoded N(0, I) "
        f"codes {ae:.3f}, test images {test:.3f} (recognisable: at least {RECOGNISABLE}x the test "
        f"images'); FD {v.prior_fd:.1f} vs {c.normal_codes.fd:.1f}")


def _vae_by_beta(seeds: list[Numbers]) -> str:
    """What moves the prior samples: the beta sweep, each beta's rate and the judge's confidence on its samples."""
    n = seeds[0]
    test = n["vae"].test_confidence
    rows = sorted(n["vae"].sweep, key=lambda r: r.beta)
    held = [r.beta for r in rows if _recognisable(r.prior_confidence, test) > 0]
    return ("prior samples by beta (rate, the judge's confidence against the test images'): " + ", ".join(
        f"{r.beta:g}: {r.rate:.1f} nats, {r.prior_confidence / test:.2f}x" for r in rows) +
        (f"; recognisable at beta = {', '.join(f'{b:g}' for b in held)}" if held else "; recognisable at no beta"))


def _collapse_by_beta(seeds: list[Numbers]) -> str:
    """The same question with the factorised decoder: which betas keep active units without warm-up; and what
    warm-up does to the autoregressive decoder's rate on every seed."""
    n = seeds[0]
    rates = ", ".join(f"{s['vae'].collapse.no_warm_up.rate:.2f} -> {s['vae'].collapse.warm_up.rate:.2f}"
                      for s in seeds)
    rows = sorted(n["vae"].sweep, key=lambda r: r.beta)
    return (f"the autoregressive decoder's rate without -> with warm-up, per seed (nats): {rates}; active units "
            "of the factorised decoder's VAE without warm-up, by beta: " +
            ", ".join(f"{r.beta:g}: {r.active_units}" for r in rows))


def _vae_blurry(n: Numbers) -> tuple[float, str]:
    v = n["vae"]
    ratio = v.prior_sharpness / v.test_sharpness
    return below(ratio, 0.8), (
        f"sharpness (variance of the Laplacian) of prior samples {v.prior_sharpness:.4f} vs test "
        f"images {v.test_sharpness:.4f}: {ratio:.2f}x (threshold < 0.8x); precision "
        f"{v.prior_precision:.2f}, recall {v.prior_recall:.2f}")


def _rate_distortion(n: Numbers) -> tuple[float, str]:
    s = sorted(n["vae"].sweep, key=lambda r: r.beta)
    rates, distortions = [r.rate for r in s], [r.distortion for r in s]
    return min(_falls(rates), _falls([-d for d in distortions])), "beta: rate / distortion (nats) " + ", ".join(
        f"{r.beta:g}: {r.rate:.2f} / {r.distortion:.2f}" for r in s) + " (rate falls, distortion rises)"


def _warm_up(n: Numbers) -> tuple[float, str]:
    """Where the literature means it (Bowman et al. 2016, Sonderby et al. 2016): beta = 1 and a decoder that can
    model the image without z (autoregressive), where collapse is an accident of optimisation; beta = 20, where
    collapse is the objective's optimum, is reported beside it as the contrast, not judged."""
    c, units = n["vae"].collapse, n["vae"].collapse.latent_dim
    a, b = c.no_warm_up.active_units, c.warm_up.active_units
    k = n["vae"].contrast
    return above(b, a, units), (
        f"beta = {c.beta:g}, {c.decoder} decoder: active units {a} of {units} without warm-up, {b} with a linear KL "
        f"warm-up (rate {c.no_warm_up.rate:.2f} vs {c.warm_up.rate:.2f} nats; more units with warm-up); "
        f"contrast, beta = {k.beta:g} with the factorised decoder: {k.no_warm_up.active_units} vs "
        f"{k.warm_up.active_units} units")


def _information(n: Numbers) -> tuple[float, str]:
    s = sorted(n["vae"].sweep, key=lambda r: r.beta)
    mi = [r.mutual_information for r in s]
    return _falls(mi), "I(X; Z) / KL(q(z) || p(z)) in nats per beta: " + ", ".join(
        f"{r.beta:g}: {r.mutual_information:.2f} / {r.marginal_kl:.2f}" for r in s) + (
        f" (I is at most log N = {s[0].log_n:.2f}; it falls as beta grows)")


def _denoising(n: Numbers) -> tuple[float, str]:
    r = n["regularised"]
    e = r.restoration_error
    return below(e["denoising"], e["plain"]), (
        f"test images + {r.noise} N(0, I): squared error of the restored image to the clean one, denoising "
        f"{e['denoising']:.3f} vs plain {e['plain']:.3f} (lower wins)")


def _top_k(n: Numbers) -> tuple[float, str]:
    t = n["regularised"].top_k
    return min(above(t.fraction_exactly_k, 0.99), below(t.dead_fraction, 0.1)), (
        f"{100 * t.fraction_exactly_k:.1f}% of test images have exactly k = {t.k} of {t.code_dim} units "
        f"active (threshold 99%; mean {t.mean_active:.2f}); {100 * t.dead_fraction:.1f}% of the units never "
        "fire on a training image (threshold 10%)")


def _top_k_revived(seeds: list[Numbers]) -> str:
    """A second top-k model whose auxiliary loss revives a unit after one epoch of silence."""
    t = [s["regularised"].top_k for s in seeds]
    return (f"with the auxiliary loss reviving a unit after {t[0].revived_dead_after:,} training images of silence "
            f"(one epoch) instead of {t[0].dead_after:,}, the units that never fire: "
            + ", ".join(f"{100 * r.revived_dead_fraction:.1f}%" for r in t) + " (per seed), against "
            + ", ".join(f"{100 * r.dead_fraction:.1f}%" for r in t))


def _contractive(n: Numbers) -> tuple[float, str]:
    s = n["regularised"].code_sensitivity_per_code_std
    return below(s["contractive"], s["plain"]), (
        f"code movement per unit of input movement (0.01 N(0, I) steps), in code standard deviations: contractive "
        f"{s['contractive']:.3f} vs plain {s['plain']:.3f} (lower wins)")


def _ordered(n: Numbers) -> tuple[float, str]:
    e = n["regularised"].prefix_error
    steps = [a - b for a, b in zip(e, e[1:])]
    return _falls(e), (
        f"test error from the first k of {len(e)} units: k = 1 {e[0]:.2f}, k = {len(e)} {e[-1]:.2f}; "
        f"smallest drop from one unit more {min(steps):.3f} (every drop must be > 0)")


def _codebook(n: Numbers) -> tuple[float, str]:
    c = n["regularised"].codebook
    used = 1 - c.dead_fraction_train
    return above(used, 0.5), (
        f"{100 * used:.0f}% of the {c.size} codes used on the training images (threshold: "
        f"more than half); perplexity {c.perplexity_train:.1f}")


def _masked(n: Numbers) -> tuple[float, str]:
    r = n["regularised"]
    return below(r.masked_error, r.mean_fill_error), (
        f"{r.mask_ratio:.0%} of the patches hidden: squared error on them, masked autoencoder "
        f"{r.masked_error:.2f} vs the training mean image {r.mean_fill_error:.2f} (lower wins)")


def _swiss_roll(n: Numbers) -> tuple[float, str]:
    m = n["swiss-roll"].methods
    ae, pca = m["autoencoder"], m["pca"]
    return above(ae.trustworthiness, pca.trustworthiness), (
        f"trustworthiness (10 neighbours) autoencoder {ae.trustworthiness:.3f} vs PCA {pca.trustworthiness:.3f}; "
        f"rank correlation with the roll's coordinate {ae.rank_correlation_with_t:.2f} vs "
        f"{pca.rank_correlation_with_t:.2f}; test error {ae.test_error:.4f} vs {pca.test_error:.4f}")


def _one_step(n: Numbers) -> tuple[float, str]:
    o, d = n["one-step"], n["ddpm"]
    return min(below(o.diversity, 0.1), above(o.fd / d.fd, 3)), (
        f"diversity (mean pairwise distance vs the test set's) {o.diversity:.3f} (threshold 0.1); FD "
        f"{o.fd:.1f} vs DDPM's {d.fd:.1f} ({o.fd / d.fd:.1f}x; threshold 3x)")


def _ddpm(n: Numbers) -> tuple[float, str]:
    d, o, v = n["ddpm"], n["one-step"], n["vae"]
    return below(d.fd, 0.5 * min(o.fd, v.prior_fd)), (
        f"FD: DDPM (ancestral, {d.nfe} of T = {d.timesteps} steps) {d.fd:.1f}, one-step {o.fd:.1f}, VAE prior "
        f"{v.prior_fd:.1f} (threshold: at most half of the better; floor {d.fd_floor:.1f})")


def _flow(n: Numbers) -> tuple[float, str]:
    f, d = n["flow"], n["ddpm"]
    return below(f.best_fd, 1.1 * d.fd), (
        f"best FD at <= 20 network evaluations {f.best_fd:.1f} ({f.best.label}, {f.best.nfe} NFE) vs "
        f"DDPM {d.fd:.1f} at {d.nfe} (no worse: within 10%)")


def _reflow(n: Numbers) -> tuple[float, str]:
    r, d = n["reflow"], n["ddpm"]
    ratio = r.best_fd / d.fd
    return below(ratio, 1.5), (
        f"best FD at <= 4 steps {r.best_fd:.1f} ({r.best.label}, {r.best.nfe} NFE) "
        f"vs DDPM-{d.nfe} {d.fd:.1f}: {ratio:.2f}x (threshold 1.5x)")


def _gan_sharp(n: Numbers) -> tuple[float, str]:
    """Sharp means crisp strokes: the samples' sharpness near the data's and above the VAE's. Precision is
    reported beside it, not judged: on classifier features it rewards typical, blurry images (the VAE's)."""
    g, v = n["gan"], n["vae"]
    return min(above(g.sharpness, 0.8 * v.test_sharpness), above(g.sharpness, v.prior_sharpness)), (
        f"sharpness {g.sharpness:.3f} vs test images {v.test_sharpness:.3f} (threshold 0.8x) and the "
        f"VAE prior's {v.prior_sharpness:.3f}; precision {g.precision:.2f} (VAE prior "
        f"{v.prior_precision:.2f}), recall {g.recall:.2f} (VAE prior {v.prior_recall:.2f})")


def _gan_coverage(n: Numbers) -> tuple[float, str]:
    g = n["gan"]
    return above(g.min_class_fraction, 0.02), (
        f"class coverage {g.coverage:.3f} (normalised entropy); rarest class "
        f"{100 * g.min_class_fraction:.1f}% of samples (threshold 2%: no class dropped); D(G(z)) varies by "
        f"{g.d_fake_std_second_half:.3f} (std) over the "
        "second half of training")


def _latent_vs_gmm(n: Numbers) -> tuple[float, str]:
    la = n["latent"]
    return below(la.best.fd, la.gmm_fd), (
        f"FD of the latent {la.best.process} ({la.best.label}) {la.best.fd:.1f} vs the Gaussian mixture on the same "
        f"{la.latent_dim}-d codes {la.gmm_fd:.1f} (lower wins); " + ", ".join(
            f"latent {r.process} {r.fd:.1f}" for r in la.rows) + f"; floor {la.fd_floor:.1f}")


# The decoder bounds what a latent generator can reach: its reconstructions of real images are the best decoded
# images there are. Within 2x of their FD is "the generator is not what limits the images"; set before any run.
NEAR_DECODER = 2.0


def _latent_near_decoder(n: Numbers) -> tuple[float, str]:
    la = n["latent"]
    ratio = la.best.fd / la.reconstruction_fd
    return below(ratio, NEAR_DECODER), (
        f"FD of the latent {la.best.process} {la.best.fd:.1f} vs the autoencoder's reconstructions of as many "
        f"training images {la.reconstruction_fd:.1f}: {ratio:.2f}x (threshold {NEAR_DECODER:g}x; floor "
        f"{la.fd_floor:.1f})")


def _latent_faster(n: Numbers) -> tuple[float, str]:
    """Faster at matched quality: against the pixel-space flow's cheapest setting of the same or better FD (its
    best setting when none is as good), not against the same sampler at any quality."""
    la = n["latent"]
    p, best = la.pixel_matched, la.best
    matched = "at least as good" if p.fd <= best.fd else "none is as good: its best"
    return above(la.speedup, 1), (
        f"the latent {best.process} ({best.label}, FD {best.fd:.1f}): "
        f"{la.speedup * la.images_per_s_pixel:.0f} images/s; the pixel-space flow's cheapest setting "
        f"{matched} ({p.label}, {p.nfe} NFE, FD {p.fd:.1f}): "
        f"{la.images_per_s_pixel:.0f} images/s ({la.speedup:.2f}x), timed in one process")


CLAIMS = [
    Claim("compression", "The deep autoencoder reconstructs the test set better than PCA.", _compression),
    Claim("byhand", "Hand-written backprop trains the same model as autograd.", _byhand, (), _byhand_by_seed),
    Claim("code-space", "Small noise on the codes barely changes the image.", _small_noise),
    Claim("code-space", "Random codes decode to garbage.", _holes, recognisability=True),
    Claim("density", "A Gaussian mixture on the codes generates new images.", _density, ("code-space",)),
    Claim("density", "They are not copies of training images.", _not_copies),
    Claim("vae", "The VAE's N(0, I) samples are recognisable where the autoencoder's are not.", _vae_recognisable,
          ("code-space",), _vae_by_beta, recognisability=True),
    Claim("vae", "They are blurrier than the data.", _vae_blurry),
    Claim("vae", "Larger beta trades distortion for rate.", _rate_distortion),
    Claim("vae", "KL warm-up prevents posterior collapse.", _warm_up, (), _collapse_by_beta),
    Claim("vae", "The information the code keeps about the image, I(X; Z), falls as beta grows.", _information),
    Claim("regularised", "The denoising autoencoder restores corrupted images better than the plain one.", _denoising),
    Claim("regularised", "The contractive autoencoder's code moves less when its input moves.", _contractive),
    Claim("regularised", "The ordered autoencoder's error falls with every code unit it keeps.", _ordered),
    Claim("regularised", "Top-k keeps exactly k units active, and its units are used.", _top_k, (), _top_k_revived),
    Claim("regularised", "The VQ-VAE uses most of its codebook.", _codebook),
    Claim("regularised", "The masked autoencoder fills hidden patches better than the mean image.", _masked),
    Claim("swiss-roll", "A 2-D autoencoder keeps the Swiss roll's neighbourhoods better than PCA.", _swiss_roll),
    Claim("one-step", "One step from noise learns only the average image.", _one_step, ("ddpm",)),
    Claim("ddpm", "Many small denoising steps give clear images.", _ddpm, ("one-step", "vae")),
    Claim("flow", "A straight path at <= 20 network evaluations is no worse than DDPM's ancestral sampler at "
          "100 steps or more.", _flow, ("ddpm",)),
    Claim("reflow", "After reflow, <= 4 steps come within 1.5x of DDPM's FD.", _reflow, ("ddpm",)),
    Claim("gan", "A learned loss gives sharp samples.", _gan_sharp, ("vae",)),
    Claim("gan", "The GAN covers every class (no mode dropped).", _gan_coverage),
    Claim("latent", "A generator in the autoencoder's code space samples better than a Gaussian mixture on the "
          "same codes.", _latent_vs_gmm, ("density",)),
    Claim("latent", "Its samples come within 2x of the FD of its autoencoder's own reconstructions.",
          _latent_near_decoder),
    Claim("latent", "Sampling in the latent space is faster per image, at matched quality.", _latent_faster,
          ("flow",)),
]


def verdict(margins: list[float]) -> str:
    """held, not held or unsettled from a claim's margins on each seed (the rule in this module's docstring)."""
    held = [m > 0 for m in margins]
    if len(margins) == 1:
        return "held" if held[0] else "not held"
    mean, spread = statistics.fmean(margins), statistics.stdev(margins)
    if len(set(held)) == 1 and (abs(mean) > SETTLED * spread or spread == 0):
        return "held" if held[0] else "not held"
    return "unsettled"


@dataclass(frozen=True)
class Verdict:
    """A claim judged: its words, its verdict and the measurements that decided it (seed 0's in words)."""
    chapter: str
    claim: str
    verdict: str                                   # held, not held, unsettled, not judged or does not apply
    measured: str
    seeds: int = 0
    held_in: int = 0                               # seeds on which it held
    margin: float | None = None                    # mean over the seeds, relative to the threshold
    spread: float = 0.0                            # the margins' standard deviation over the seeds
    margins: tuple[float, ...] = ()
    by_seed: tuple[str, ...] = ()
    follow_up: str = ""                            # a second measurement, where the claim is not held
    seed_summary: str = field(init=False)          # its seeds in words, for the report

    def __post_init__(self) -> None:
        """ "3 seeds, held on 2; margin +0.12 +/- 0.05" (relative to the threshold); "1 seed"; "" (not judged)."""
        summary = "" if self.seeds == 0 else "1 seed" if self.seeds == 1 else (
            f"{self.seeds} seeds, held on {self.held_in}; margin {self.margin:+.2f} +/- {self.spread:.2f} "
            "(relative to the threshold)")
        object.__setattr__(self, "seed_summary", summary)


def judge(seeds: dict[str, list[Any]], applies: dict[str, bool]) -> list[Verdict]:
    """Every claim with its verdict over its chapter's seeds (the chapters it compares with at the same seed where
    they ran it, at seed 0 where they ran one), or "does not apply" (its chapter was skipped)."""
    return [_judged(claim, seeds, applies) for claim in CLAIMS]


def _judged(claim: Claim, seeds: dict[str, list[Any]], applies: dict[str, bool]) -> Verdict:
    if not all(applies.get(key, False) for key in (claim.chapter, *claim.needs)):
        return Verdict(claim.chapter, claim.text, "does not apply", "its chapter does not apply to this dataset")
    problems = _measure_problems(seeds) if claim.recognisability else []
    if problems:
        return Verdict(claim.chapter, claim.text, "not judged",
                       "the judge of recognisability failed its validation: " + "; ".join(problems))
    every_seed = [{key: runs[s if s < len(runs) else 0] for key, runs in seeds.items()}
                  for s in range(len(seeds[claim.chapter]))]
    judged = [claim.judge(numbers) for numbers in every_seed]
    margins = tuple(m for m, _ in judged)
    held = verdict(list(margins))
    return Verdict(claim.chapter, claim.text, held, judged[0][1], len(margins), sum(m > 0 for m in margins),
                   statistics.fmean(margins), statistics.stdev(margins) if len(margins) > 1 else 0.0, margins,
                   tuple(text for _, text in judged),
                   claim.follow_up(every_seed) if held != "held" and claim.follow_up is not None else "")


def _measure_problems(seeds: dict[str, list[Any]]) -> list[str]:
    """Why the judge may not judge (its validation, recorded by the code-space chapter); empty: it may."""
    return seeds["code-space"][0].measure.problems
