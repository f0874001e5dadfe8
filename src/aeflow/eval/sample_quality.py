"""Sample checks beyond FD: k-NN precision/recall, mode coverage and memorisation.

- Precision / recall (Kynkäänniemi et al. 2019): the real (generated) manifold is the union of balls
  around each real (generated) feature vector reaching its k-th nearest neighbour. Precision = share
  of generated samples inside the real manifold; recall = share of real samples inside the generated one.
- Mode coverage: the feature classifier's predicted classes of the samples: the share per class and
  the entropy of that distribution (log 10 = 2.303 nats when all ten classes are equally frequent).
- Memorisation: each sample's pixel distance to its nearest training image, against the same distance
  for the test images (which the model never saw). Samples much closer than test images are copies.
"""

from __future__ import annotations

import math

import torch


def _min_dist(a: torch.Tensor, b: torch.Tensor, chunk: int = 1024, exclude_self: bool = False,
              k: int = 1) -> torch.Tensor:
    """Distance from each row of `a` to its k-th nearest row of `b`, in chunks to bound memory."""
    out = []
    for i in range(0, len(a), chunk):
        d = torch.cdist(a[i:i + chunk].float(), b.float())
        if exclude_self:  # a is b: skip each point's zero distance to itself
            d[torch.arange(len(d)), torch.arange(i, i + len(d))] = math.inf
        out.append(d.kthvalue(k, dim=1).values)
    return torch.cat(out)


def _in_manifold(points: torch.Tensor, manifold: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    inside = []
    for i in range(0, len(points), chunk):
        d = torch.cdist(points[i:i + chunk].float(), manifold.float())
        inside.append((d <= radii[None, :]).any(dim=1))
    return torch.cat(inside)


def neighbour_radii(points: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Each point's distance to its k-th nearest other point: the radii of its manifold's balls."""
    return _min_dist(points, points, exclude_self=True, k=k)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3,
                     real_radii: torch.Tensor | None = None) -> dict[str, float]:
    """`real_radii`: neighbour_radii(real, k), when the same real set is scored against many fakes."""
    real_radii = neighbour_radii(real, k) if real_radii is None else real_radii
    fake_radii = neighbour_radii(fake, k)
    return {"precision": float(_in_manifold(fake, real, real_radii).float().mean()),
            "recall": float(_in_manifold(real, fake, fake_radii).float().mean())}


def mode_coverage(probs: torch.Tensor, classes: tuple[str, ...] | list[str]) -> dict:
    counts = torch.bincount(probs.argmax(-1), minlength=len(classes)).double()
    fractions = counts / counts.sum()
    nonzero = fractions[fractions > 0]
    entropy, most = float(-(nonzero * nonzero.log()).sum()), math.log(len(classes))
    return {"class_fractions": {c: round(float(f), 4) for c, f in zip(classes, fractions)},
            "class_entropy": entropy, "max_class_entropy": most,
            "coverage": max(0.0, entropy / most) if most > 0 else 1.0}   # the entropy normalised (no -0.0)


def nearest_train_distances(images: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """Each image's pixel distance (L2 over the flattened image) to its nearest training image."""
    return _min_dist(images.flatten(1), train.flatten(1))


def memorisation(samples: torch.Tensor, train: torch.Tensor, test: torch.Tensor,
                 test_distances: torch.Tensor | None = None) -> dict[str, float]:
    """Nearest-training-image distances of the samples against the test images' own. `test_distances`:
    nearest_train_distances(test, train), when the same test set is the reference for many sample sets."""
    s = nearest_train_distances(samples, train)
    t = nearest_train_distances(test, train) if test_distances is None else test_distances
    threshold = float(t.quantile(0.01))
    return {"sample_nn_train_median": float(s.median()), "test_nn_train_median": float(t.median()),
            "nn_ratio": float(s.median() / t.median()),
            "fraction_closer_than_test_p1": float((s < threshold).float().mean())}


def nearest_training_images(image: torch.Tensor, train: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices, pixel distances) of the k training images nearest one image (L2 over the flattened image, as
    `memorisation` measures): is a decoded code new, or a copy?"""
    d = torch.cdist(image.flatten(1).float(), train.flatten(1).float())[0]
    found = d.topk(k, largest=False)
    return found.indices, found.values


def sharpness(images: torch.Tensor) -> float:
    """Mean over images of the variance of the Laplacian (the common blur measure): high for crisp strokes,
    low for blurry ones. Compare against the test images' own value."""
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).reshape(1, 1, 3, 3)
    grey = images.float().mean(1, keepdim=True)
    return float(torch.nn.functional.conv2d(grey, kernel).flatten(1).var(1).mean())


def diversity(images: torch.Tensor, reference: torch.Tensor, n: int = 500, seed: int = 0) -> float:
    """Mean pixel distance between pairs of images, relative to the same for `reference` (the test set): about 1
    for samples as varied as the data, near 0 when every sample is the same image."""
    generator = torch.Generator().manual_seed(seed)

    def spread(x: torch.Tensor) -> float:
        flat = x[torch.randperm(len(x), generator=generator)[:n]].flatten(1).float()
        return float(torch.pdist(flat).mean())

    return spread(images) / spread(reference)
