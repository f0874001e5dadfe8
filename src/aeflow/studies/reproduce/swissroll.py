"""The Swiss roll: does a 3 -> 2 -> 3 autoencoder unroll it better than PCA?

Both embed scikit-learn's Swiss roll (3-D points, scaled to [0, 1]) in 2-D. On the test points we
report how well each embedding keeps neighbourhoods (scikit-learn's trustworthiness, 10 neighbours:
1 = no false neighbours), how well it orders the points along the roll (the largest absolute Spearman
rank correlation between the roll's intrinsic coordinate t and an embedding axis or the embedding's
first principal direction), the reconstruction error, and a picture of each embedding coloured by t.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from aeflow.data import load_dataset
from aeflow.eval.embedding import rank_correlation, trustworthiness
from aeflow.files import atomic_write_text, write_json
from aeflow.runs import ensure, load, make_config, read_summary
from aeflow.runs.folder import locked

METHODS = {
    "autoencoder": ("autoencoder", {"hidden": [64, 64], "code_dim": 2, "activation": "tanh", "norm": "none",
                                    "output": "linear", "recon_loss": "mse"},
                    {"epochs": 300, "batch_size": 128, "lr": 3e-3}),
    "pca": ("pca", {"n_components": 2}, {}),
}


def embedding_scores(model, data, summary: dict[str, Any]) -> dict[str, float]:
    """Trustworthiness (10 neighbours), the rank correlation with t and the test error of a 2-D code of the
    test points."""
    x = data.test_x
    with torch.no_grad():
        embedding = model.encode(x).numpy()
    return {"trustworthiness": trustworthiness(x.numpy(), embedding),
            "rank_correlation_with_t": rank_correlation(data.test_y.numpy(), embedding),
            "test_error": summary["test_recon_error"]}


def reproduce_swissroll(out: str | Path | None = None, epochs: int | None = None,
                        progress: bool = True, rerun: bool = False) -> list[dict[str, Any]]:
    out = Path(out or "runs/reproduce-swissroll")
    with locked(out, "reproduce"):
        return _reproduce(out, epochs, progress, rerun)


def _reproduce(out: Path, epochs: int | None, progress: bool, rerun: bool) -> list[dict[str, Any]]:
    from aeflow.viz import save_code_scatter

    data = load_dataset("swissroll")
    x, t = data.test_x, data.test_y.numpy()
    rows = []
    for label, (model, model_options, train_options) in METHODS.items():
        if train_options:   # the trained method (PCA is fitted: it takes no training options)
            train_options = {**train_options, "progress": progress, **({"epochs": epochs} if epochs else {})}
        run_dir = ensure(make_config(model, "swissroll", model_options, train_options), out / label, dataset=data,
                         rerun=rerun)
        fitted = load(run_dir)
        rows.append({"method": label, **embedding_scores(fitted, data, read_summary(run_dir)), "run": str(run_dir)})
        with torch.no_grad():
            embedding = fitted.encode(x).numpy()
        save_code_scatter(embedding, t, out / f"embedding_{label}.png", f"{label}: test points coloured by t",
                          cmap="viridis", colour_label="t (position along the roll)")
    atomic_write_text(out / "table.md", markdown_table(rows) + "\n")
    write_json(out / "table.json", rows)
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| method | trustworthiness (10-NN) | max abs. Spearman with t | test error |",
             "| --- | ---: | ---: | ---: |"]
    lines += [f"| {r['method']} | {r['trustworthiness']:.4f} | {r['rank_correlation_with_t']:.4f} | "
              f"{r['test_error']:.5f} |" for r in rows]
    return "\n".join(lines)
