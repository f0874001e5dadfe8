"""Sweeps: one run per setting, each a normal run folder under one parent, and a table and a plot.

`sweep_beta` trains a VAE per beta and draws the rate-distortion curve (Alemi et al. 2018): rate = KL in
nats, distortion = reconstruction negative log-likelihood in nats, both on the test split.
`sweep_steps` trains nothing: it samples one trained generator with each sampler and number of steps and
scores every setting (FD against network evaluations, the NFE trade-off).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from aeflow.config import to_dict
from aeflow.data import load_dataset
from aeflow.errors import ConfigError
from aeflow.eval.latent import active_units
from aeflow.files import write_json
from aeflow.report import render_report
from aeflow.runs import SampleRequest, load, load_config, make_config, read_summary, score, weights_digest
from aeflow.runs.features import feature_extractor, measure_generator
from aeflow.runs.folder import locked
from aeflow.runs.launch import Launcher
from aeflow.runs.measured import given_options, merged_sweep_rows, sweep_steps_folder
from aeflow.samplers import SAMPLERS, choose_sampler, samplers_for
from aeflow.studies.engine import Unit, body, claim_study, made, reused
from aeflow.viz import save_curve, save_curves, save_image_grid

SWEEP_BETA_VERSION = 1   # what a beta's row holds; a row of another version is measured again


def sweep_beta(values: list[float], dataset: str = "digits", model: str = "vae",
               model_options: dict[str, Any] | None = None, train_options: dict[str, Any] | None = None,
               out: str | Path | None = None, data_dir: str | None = None, with_fd: bool = True,
               progress: bool = True, rerun: bool = False, launcher: Launcher | None = None) -> list[dict[str, Any]]:
    """One VAE per beta under `out` (a run there that is not the one asked for is refused, or replaced when
    `rerun`), trained here or as jobs (`launcher`), then each beta's row (reused while its run's weights are the
    same), the rate-distortion plot, a sample grid and report.html / report.md / report.json."""
    out = Path(out or f"runs/sweep-beta-{dataset}")
    with locked(out, "sweep"):
        identity = {"dataset": dataset, "model": model, "model_options": model_options or {},
                    "train_options": train_options or {}, "version": SWEEP_BETA_VERSION}
        claim_study(out, "sweep-beta", identity, rerun, _described, "rows/*.json")
        return _sweep_beta(values, dataset, model, model_options, train_options, out, data_dir, with_fd, progress,
                           rerun, launcher or Launcher())


def _described(identity: dict[str, Any]) -> str:
    """A beta sweep's identity in words: "vae beta sweep on digits (-m latent_dim=4, -t epochs=2)"."""
    given = [f"-m {k}={v}" for k, v in identity.get("model_options", {}).items()]
    given += [f"-t {k}={v}" for k, v in identity.get("train_options", {}).items()]
    return f"{identity.get('model')} beta sweep on {identity.get('dataset')}" + (f" ({', '.join(given)})" if given
                                                                                 else "")


def _sweep_beta(values: list[float], dataset: str, model: str, model_options: dict[str, Any] | None,
                train_options: dict[str, Any] | None, out: Path, data_dir: str | None, with_fd: bool,
                progress: bool, rerun: bool, launcher: Launcher) -> list[dict[str, Any]]:
    data = load_dataset(dataset, data_dir)
    configs = [make_config(model, dataset, {**(model_options or {}), "beta": beta},
                           {**(train_options or {}), "progress": progress}, data_dir) for beta in values]
    run_dirs = launcher.ensure_all([(c, out / f"beta-{beta:g}") for c, beta in zip(configs, values)], dataset=data,
                                   rerun=rerun)
    rows, picture_rows, labels = [], [], []
    for beta, run_dir in zip(values, run_dirs):
        vae = load(run_dir)
        unit = Unit(f"beta-{beta:g}", out / "rows" / f"beta-{beta:g}.json",
                    {"run": load_config(run_dir).to_dict(), "weights": weights_digest(run_dir), "with_fd": with_fd},
                    lambda beta=beta, vae=vae, run_dir=run_dir: _beta_row(beta, vae, run_dir, data, with_fd, progress))
        row, _ = reused(unit, "beta sweep")
        rows.append(body(row or made(unit)))
        with torch.no_grad():
            picture_rows += [vae.reconstruct(data.test_x[:12]),
                             vae.sample(12, torch.Generator().manual_seed(0)).clamp(0, 1)]
        labels += [f"beta {beta:g} recon.", f"beta {beta:g} samples"]
    figures = [{"file": "rate_distortion.png", "caption": "Rate against distortion on the test split, one point "
                "per beta (Alemi et al. 2018: a larger beta should buy a lower rate at a higher distortion)."}]
    save_curve([r["rate_kl"] for r in rows], [r["distortion_recon"] for r in rows], out / "rate_distortion.png",
               "rate: KL (nats)", "distortion: -log p(x|z) (nats)", "rate-distortion, one point per beta")
    if data.is_image:
        save_image_grid([data.test_x[:12], *picture_rows], ["test", *labels], out / "beta_grid.png",
                        title="reconstructions and prior samples per beta")
        figures.append({"file": "beta_grid.png", "caption": "Test images, then each beta's reconstructions of them "
                        "and its N(0, I) samples."})
    write_json(out / "sweep.json", rows)
    render_report({"dataset": dataset, "model": model, "rows": rows, "figures": figures}, out, "sweep-beta")
    return rows


def _beta_row(beta: float, vae: Any, run_dir: Path, data: Any, with_fd: bool, progress: bool) -> dict[str, Any]:
    """A beta's rate, distortion, ELBO and active units on the test split, and the FD of its prior samples."""
    final = read_summary(run_dir)["final"]
    row = {"beta": beta, "rate_kl": final["test/kl"], "distortion_recon": final["test/recon"],
           "elbo": final["test/elbo"], "active_units": active_units(vae, data.test_x)["active_units"],
           "run": str(run_dir)}
    if with_fd and data.is_image:
        with torch.no_grad():
            samples = vae.sample(len(data.test_x), torch.Generator().manual_seed(0)).clamp(0, 1)
        scores = score(samples, data, progress=progress)
        row.update(fd=scores["fd"], fd_real_floor=scores["fd_real_floor"])
    return row


def markdown_rows(rows: list[dict[str, Any]]) -> str:
    has_fd = any("fd" in r for r in rows)
    header = "| beta | rate KL (nats) | distortion (nats) | ELBO | active units |"
    rule = "| ---: | ---: | ---: | ---: | ---: |"
    lines = [header + (" FD (floor) |" if has_fd else ""), rule + (" ---: |" if has_fd else "")]
    for r in rows:
        fd = f" {r['fd']:.2f} ({r['fd_real_floor']:.2f}) |" if "fd" in r else ""
        lines.append(f"| {r['beta']:g} | {r['rate_kl']:.2f} | {r['distortion_recon']:.2f} | {r['elbo']:.2f} | "
                     f"{r['active_units']} |{fd}")
    return "\n".join(lines)


def sweep_steps(run_dir: str | Path, steps: list[int], samplers: list[str] | None = None, n: int = 10_000,
                data_dir: str | None = None, seed: int = 0, progress: bool = True,
                options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Sample the run's generator with every sampler x steps; FD, precision/recall, images/s per setting.
    `options` (e.g. shift, churn) go to the samplers that take them; at least one must. Adds its rows to
    steps_sweep.json in `sweep_steps_folder(run_dir, options)` (see `merged_sweep_rows`), draws fd_vs_nfe.png
    from all of them at this N and seed, and samples.png with one grid per setting of this call."""
    run_dir = Path(run_dir)
    options = given_options(options)
    model = load(run_dir)
    if not samplers_for(model):
        raise ConfigError(f"{run_dir} holds a model of the {model.registry_name} family, which has no samplers to "
                          "sweep; sweep a generator's run (flow, ddpm, gan, latent-flow...)")
    samplers = samplers or samplers_for(model)
    takes = {name: set(options) & {f.name for f in dataclasses.fields(SAMPLERS[name].Options)}
             for name in samplers if name in SAMPLERS}
    for name in samplers:
        choose_sampler(model, name, {k: v for k, v in options.items() if k in takes.get(name, ())})
    if options and not any(takes.values()):
        raise ConfigError(f"{' and '.join(options)}: none of the samplers {', '.join(samplers)} takes it")
    config = load_config(run_dir)
    data = load_dataset(config.data.name, data_dir or config.data.data_dir, config.data.download)
    n = min(n, len(data.test_x))
    out = sweep_steps_folder(run_dir, options)
    weights = weights_digest(run_dir)
    rows, grids, labels = [], [], []
    extractor = feature_extractor(data.name, data, progress=progress)
    for sampler in samplers:
        own = {k: v for k, v in options.items() if k in takes[sampler]}
        has_steps = "steps" in {f.name for f in dataclasses.fields(SAMPLERS[sampler].Options)}
        for k in (steps if has_steps else [None]):
            request = SampleRequest(sampler=sampler, options={**own, **({"steps": k} if has_steps else {})}, n=n,
                                    seed=seed)
            measured, images, _ = measure_generator(model, run_dir, request, data, extractor, model.registry_name,
                                                    score_seed=seed)
            row = {**to_dict(measured), "steps": k, "weights": weights,
                   **{name: value for name, value in measured.options.items() if name != "steps"}}
            rows.append(row)
            grids.append(images[:16])
            labels.append(f"{sampler} {measured.nfe} NFE")
            print(markdown_steps_rows([row], header=len(rows) == 1), flush=True)
    saved = merged_sweep_rows(out / "steps_sweep.json", rows, weights)
    series: dict[str, tuple[list[float], list[float]]] = {}
    for r in sorted(saved, key=lambda r: r["nfe"]):
        if r["n"] == n and r.get("seed", 0) == seed:
            xs, ys = series.setdefault(r["sampler"], ([], []))
            xs.append(r["nfe"])
            ys.append(r["fd"])
    save_curves(series, out / "fd_vs_nfe.png", "network evaluations (NFE)", "FD (lower is better)",
                f"{model.registry_name} on {data.name}: FD against sampling cost", log_x=True, log_y=True)
    save_image_grid(grids, labels, out / "samples.png", title="samples per sampler and number of evaluations")
    return rows


def markdown_steps_rows(rows: list[dict[str, Any]], header: bool = True) -> str:
    lines = ["| sampler | steps | NFE | FD (floor) | precision | recall | images/s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"] if header else []
    for r in rows:
        lines.append(f"| {r['sampler']} | {r['steps'] or '—'} | {r['nfe']} | {r['fd']:.2f} ({r['fd_real_floor']:.2f}) "
                     f"| {r['precision']:.3f} | {r['recall']:.3f} | {r['images_per_s']:.0f} |")
    return "\n".join(lines)
