"""The chapters of the regularised autoencoders: each shapes the code in its own way, and each claim asks whether
the shaping did what it is for, on the test set, against the plain autoencoder of the same size (or the
baseline the method is meant to beat). Then the Swiss roll: a 2-D code of a 3-D manifold against PCA's."""

from __future__ import annotations

import numpy as np
import torch

from aeflow.data import load_dataset
from aeflow.diffusion.corruption import corrupt, random_mask
from aeflow.eval import reconstruction_error
from aeflow.figures import Curves, ImageGrid
from aeflow.models.contractive import code_sensitivity
from aeflow.models.ordered import prefix_errors
from aeflow.runs import load, read_summary
from aeflow.studies.lineage import records
from aeflow.studies.lineage.book import Book
from aeflow.studies.reproduce.swissroll import METHODS as SWISSROLL_METHODS
from aeflow.studies.reproduce.swissroll import embedding_scores

NOISE = 0.3          # the denoiser's training corruption (Gaussian std), and the test corruption
MASK_RATIO = 0.75    # the masked autoencoder's training ratio, and the test ratio
SHAPES = {           # the same encoder and code size for the plain, denoising, contractive and ordered models
    "plain": ("autoencoder", {}),
    "denoising": ("denoising-ae", {"corruption": "gaussian", "level": NOISE}),
    "contractive": ("contractive-ae", {}),
    "ordered": ("ordered-ae", {}),
    "top-k": ("sparse-ae", {"sparsity": "topk"}),
    "vq-vae": ("vq-vae", {}),
    "masked": ("mae", {"mask_ratio": MASK_RATIO}),
}


def regularised(book: Book) -> records.Regularised:
    b = book.budget
    # The follow-up of top-k's dead units (decided before its result): the same model with the auxiliary loss
    # reviving a unit after one epoch of silence instead of 20,000 images.
    shapes = {**SHAPES, "top-k-revived": ("sparse-ae", {"sparsity": "topk", "dead_after": len(book.data.train_x)})}
    models = {name: load(book.train(name, family, options, {"epochs": b.shaping_epochs, "batch_size": b.batch_size}))
              for name, (family, options) in shapes.items()}
    with torch.no_grad():
        return _measure_shapes(book, {name: m.eval() for name, m in models.items()})


def _measure_shapes(book: Book, models: dict) -> records.Regularised:
    data = book.data
    x = data.test_x
    noisy = corrupt(x, "gaussian", NOISE, torch.Generator().manual_seed(book.seed))
    restoration = {name: reconstruction_error(models[name], noisy, target=x) for name in ("plain", "denoising")}
    sensitivity = {name: code_sensitivity(models[name], x, seed=book.seed)["code_sensitivity_per_code_std"]
                   for name in ("plain", "contractive")}
    top_k, revived = models["top-k"], models["top-k-revived"]
    active = (top_k.encode(x) > 0).sum(1)
    codebook = read_summary(book.run_path("regularised", "vq-vae"))["codebook"]
    mae = models["masked"]
    hidden = random_mask(len(x), mae.n_patches, MASK_RATIO, torch.Generator().manual_seed(book.seed))
    filled = float(mae.masked_error(x, hidden)[0].mean())
    mean_patches = mae.patchify(data.train_x.mean(0, keepdim=True)).expand(len(x), -1, -1)
    mean_filled = float(((mean_patches - mae.patchify(x)).pow(2).sum(-1) * hidden).sum(1).mean())
    prefix = prefix_errors(models["ordered"], x)
    _figures(book, models, x, noisy, hidden, prefix)
    top_k_record = records.TopK(k=top_k.config.k, code_dim=top_k.config.code_dim,
                                fraction_exactly_k=float((active == top_k.config.k).float().mean()),
                                mean_active=float(active.float().mean()),
                                dead_fraction=_dead_fraction(top_k, data.train_x), dead_after=top_k.config.dead_after,
                                revived_dead_after=revived.config.dead_after,
                                revived_dead_fraction=_dead_fraction(revived, data.train_x))
    return records.Regularised(
        noise=NOISE, restoration_error=restoration, code_sensitivity_per_code_std=sensitivity, top_k=top_k_record,
        codebook=records.Codebook(**{k: codebook[k] for k in ("size", "perplexity_train", "dead_fraction_train")}),
        mask_ratio=MASK_RATIO, masked_error=filled, mean_fill_error=mean_filled, prefix_error=prefix,
        test_error={name: reconstruction_error(m, x) for name, m in models.items() if name != "masked"})


def _dead_fraction(model, train_x: torch.Tensor) -> float:
    """The share of a sparse code's units that fire on no training image."""
    return float(1 - (model.encode(train_x) > 0).any(0).float().mean())


def _figures(book: Book, models: dict, x: torch.Tensor, noisy: torch.Tensor, hidden: torch.Tensor,
             prefix: list[float]) -> None:
    mae = models["masked"]
    masked = mae.unpatchify(mae.patchify(x[:12]) * ~hidden[:12, :, None])
    book.figure("restoration.png", ImageGrid([x[:12], noisy[:12], models["plain"].reconstruct(noisy[:12]),
                                              models["denoising"].reconstruct(noisy[:12]), masked,
                                              mae.fill_in(x[:12], hidden[:12])],
                                             ["test", f"+{NOISE} noise", "plain", "denoising", "masked", "filled"],
                                             "restoring corrupted test images"),
                f"Test images with Gaussian noise (std {NOISE}) restored by the plain and the denoising autoencoder; "
                f"then with {MASK_RATIO:.0%} of their patches hidden, filled in by the masked autoencoder.")
    book.figure("prefix.png", Curves({"ordered autoencoder": (list(range(1, len(prefix) + 1)), prefix)},
                                     "code units kept (the first k)", "test squared error per image",
                                     "the ordered code: error against the prefix kept"),
                "Test error of the ordered autoencoder decoding only its first k code units.")


def swiss_roll(book: Book) -> records.SwissRoll:
    """The lineage's dataset aside: scikit-learn's Swiss roll, a 2-D code of 3-D points against PCA's."""
    roll = load_dataset("swissroll")
    rows = {}
    for label, (family, model_options, train_options) in SWISSROLL_METHODS.items():
        epochs = {"epochs": book.budget.swissroll_epochs} if train_options else {}   # PCA is fitted, not trained
        run = book.train(label, family, model_options, {**train_options, **epochs}, dataset=roll)
        model = load(run).eval()
        rows[label] = records.Embedding(**embedding_scores(model, roll, read_summary(run)))
        with torch.no_grad():
            _roll_figure(book, label, model.encode(roll.test_x).numpy(), roll.test_y.numpy())
    return records.SwissRoll(methods=rows)


def _roll_figure(book: Book, label: str, embedding, t) -> None:
    """The 2-D code of the test points, coloured by quarters of the roll's coordinate t."""
    edges = np.quantile(t, [0, 0.25, 0.5, 0.75, 1.0])
    series = {}
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (t >= lo) & (t <= hi)
        series[f"t in [{lo:.1f}, {hi:.1f}]"] = (embedding[inside, 0].tolist(), embedding[inside, 1].tolist())
    book.figure(f"{label}.png", Curves(series, "code 1", "code 2", f"{label}: the Swiss roll's test points in 2-D",
                                       scatter=True),
                f"The {label} embedding of the Swiss roll's test points, coloured by position along the roll (t): "
                "neighbours in 3-D should stay neighbours here.")
