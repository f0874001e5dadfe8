""""Recognisable", measured: the judge's calibrated confidence (models/judge.py), and the check it passes before
it judges anything.

A set of images is recognisable when the judge reads it about as confidently as the test images: its mean
top-class probability at least RECOGNISABLE times theirs. A measure is only worth its verdicts if it can say
no, so the judge is validated on reference sets first: it must read the test images, held-out training images
and lightly blurred test images as recognisable, and the mean training image (what a generator that learned
only the average gives), uniform noise and test images with their pixels shuffled as not. These thresholds were
written before the judge was first validated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aeflow.models.judge import gaussian_blur

RECOGNISABLE = 0.9
MIN_TEST_CONFIDENCE = 0.9                       # the test images themselves, read as one class
SHOULD_READ = ("held-out training images", "test images, blurred")
SHOULD_NOT_READ = ("the mean training image", "uniform noise", "test images, pixels shuffled")
SEEN_AS_OUTLIERS = ("uniform noise", "test images, pixels shuffled", "blends of two test images")


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T) (Guo et al. 2017)."""
    log_t = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def nll() -> torch.Tensor:
        optimiser.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimiser.step(nll)
    return float(log_t.detach().exp())


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """The gap between confidence and accuracy, averaged over equal-width confidence bins."""
    confidence, predicted = probs.max(-1)
    correct = (predicted == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            total += float(inside.float().mean() * (confidence[inside].mean() - correct[inside].mean()).abs())
    return total


def reference_sets(test_x: torch.Tensor, test_y: torch.Tensor, held_out: torch.Tensor, mean_image: torch.Tensor,
                   n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The images the judge is validated on, n of each (seeded)."""
    g = torch.Generator().manual_seed(seed)
    x, y = test_x[:n], test_y[:n]
    other = torch.randperm(len(x), generator=g)
    different = y != y[other]
    sigma = x.shape[-1] / 28   # one pixel of a 28x28 image
    return {
        "test images": x,
        "held-out training images": held_out[:n],
        "test images, blurred": gaussian_blur(x, sigma),
        "the mean training image": mean_image.expand(n, *x.shape[1:]),
        "uniform noise": torch.rand(x.shape, generator=g),
        "test images, pixels shuffled": x.flatten(1)[:, torch.randperm(x[0].numel(), generator=g)].view_as(x),
        "blends of two test images": (0.5 * x + 0.5 * x[other])[different],
    }


def validation_problems(confidences: dict[str, float]) -> list[str]:
    """Why the judge's confidences on the reference sets (reference_sets' names) make it unfit to judge; empty
    when it passes."""
    test = confidences["test images"]
    problems = [] if test >= MIN_TEST_CONFIDENCE else [f"it reads the test images at only {test:.3f} "
                                                       f"(needs {MIN_TEST_CONFIDENCE})"]
    problems += [f"it reads {name} at {confidences[name]:.3f}, under {RECOGNISABLE}x the test images'"
                 for name in SHOULD_READ if confidences[name] < RECOGNISABLE * test]
    problems += [f"it reads {name} at {confidences[name]:.3f}, at least {RECOGNISABLE}x the test images'"
                 for name in SHOULD_NOT_READ if confidences[name] >= RECOGNISABLE * test]
    return problems
