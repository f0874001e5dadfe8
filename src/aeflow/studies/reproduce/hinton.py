"""Hinton & Salakhutdinov (Science, 2006), Fig. 2B: a deep autoencoder against PCA and logistic PCA.

Trains the autoencoder and fits the three baselines on one dataset, each into its own run folder
under `out` (so an interrupted reproduction resumes where it stopped), and writes the table as
markdown and JSON. Error = squared error summed over pixels in [0, 1], averaged over test images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aeflow.data import load_dataset
from aeflow.files import atomic_write_text, write_json
from aeflow.runs import ensure, make_config, read_summary
from aeflow.runs.folder import locked

# Test error per image on MNIST, 30-dimensional codes (Hinton & Salakhutdinov 2006).
PAPER = {"autoencoder": 3.00, "logistic-pca": 8.01, "pca": 13.87}

# Code sizes and network widths per dataset: the paper's 784-1000-500-250-30 on 28x28 images, the same
# shape scaled to the 64 inputs of the 8x8 digits.
SETUPS: dict[str, dict[str, Any]] = {
    "28x28": {"code": 30, "hidden": [1000, 500, 250], "kernel_subset": 5000},
    "8x8": {"code": 10, "hidden": [256, 128, 64], "kernel_subset": None, "epochs": 200, "batch_size": 128},
}


def methods(n_train: int, shape: tuple[int, ...], epochs: int | None, bf16: bool,
            kernel_subset: int | None) -> list[tuple[str, str, dict[str, Any], dict[str, Any], str]]:
    """(label, model or preset, model options, train options, note) for each row of the table."""
    setup = SETUPS["8x8" if shape[-1] == 8 else "28x28"]
    k = setup["code"]
    ae_train = {k_: setup[k_] for k_ in ("epochs", "batch_size") if k_ in setup}
    if epochs is not None:
        ae_train["epochs"] = epochs
    ae_train["bf16"] = bf16
    subset = min(kernel_subset or setup["kernel_subset"] or n_train, n_train)
    return [
        ("autoencoder", "hinton", {"hidden": setup["hidden"], "code_dim": k}, ae_train, ""),
        ("pca", "pca", {"n_components": k}, {}, ""),
        ("logistic-pca", "logistic-pca", {"n_components": k}, {}, "codes of test images solved by Newton's method"),
        ("kernel-pca", "kernel-pca", {"n_components": k, "fit_subset": subset}, {},
         f"RBF kernel, fitted on the first {subset} training images" if subset < n_train else "RBF kernel"),
    ]


def reproduce_hinton(dataset: str = "digits", data_dir: str | None = None, out: str | Path | None = None,
                     epochs: int | None = None, bf16: bool = False, kernel_subset: int | None = None,
                     progress: bool = True, rerun: bool = False) -> list[dict[str, Any]]:
    out = Path(out or f"runs/reproduce-hinton-{dataset}")
    with locked(out, "reproduce"):
        return _reproduce(dataset, data_dir, out, epochs, bf16, kernel_subset, progress, rerun)


def _reproduce(dataset: str, data_dir: str | None, out: Path, epochs: int | None, bf16: bool,
               kernel_subset: int | None, progress: bool, rerun: bool) -> list[dict[str, Any]]:
    data = load_dataset(dataset, data_dir)
    rows = []
    for label, model, model_options, train_options, note in methods(
            len(data.train_x), data.shape, epochs, bf16, kernel_subset):
        config = make_config(model, dataset, model_options, {**train_options, "progress": progress}, data_dir)
        run_dir = ensure(config, out / label, dataset=data, rerun=rerun)
        summary = read_summary(run_dir)
        rows.append({"method": label, "code_size": model_options.get("code_dim", model_options.get("n_components")),
                     "test_error": summary["test_recon_error"],
                     "paper": PAPER.get(label) if dataset == "mnist" else None,
                     "train_time_s": summary["train_time_s"], "images_per_s": summary["images_per_s"],
                     "run": str(run_dir), "note": note})
    write_table(rows, out, dataset, data.source, len(data.train_x), len(data.test_x))
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| method | code size | test error / image | paper (2006) | train time (s) | images/s | note |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        paper = f"{r['paper']:.2f}" if r["paper"] is not None else "—"
        lines.append(f"| {r['method']} | {r['code_size']} | {r['test_error']:.2f} | {paper} | "
                     f"{r['train_time_s']:.1f} | {r['images_per_s']:.0f} | {r['note']} |")
    return "\n".join(lines)


def write_table(rows: list[dict[str, Any]], out: Path, dataset: str, source: str, n_train: int, n_test: int) -> None:
    header = (f"# Hinton & Salakhutdinov (2006) reproduction on {dataset}\n\n"
              f"Data: {source} ({n_train} train / {n_test} test images). Test error: squared error summed "
              f"over pixels in [0, 1], averaged over the test images.\n\n")
    atomic_write_text(out / "table.md", header + markdown_table(rows) + "\n")
    write_json(out / "table.json", {"dataset": dataset, "source": source, "rows": rows})
