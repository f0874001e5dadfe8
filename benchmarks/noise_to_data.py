"""From noise to data at an equal training budget: one-step baseline, DDPM, flow matching, reflow, a DCGAN,
latent flow matching, and a VAE's prior samples, all scored by the same protocol (FD, precision/recall)
on the same number of samples, with sampling speed.

    python benchmarks/noise_to_data.py --dataset digits
    python benchmarks/noise_to_data.py --dataset mnist --data-dir ../shared/data/mnist --network mlp \\
        --hidden 1024,1024,1024 --epochs 12 --n 2000 --vae runs/vae-mnist-equal

Runs go to runs/noise-to-data-DATASET/ (an existing run is reused, an interrupted one resumed; a run's
existing `aeflow sweep steps` result is reused when it holds every requested setting at the same N, so
models can be trained and swept in parallel processes first); the table is printed and written to
table.md there, with fd_vs_nfe.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import aeflow
from aeflow.config import to_dict
from aeflow.runs import SUMMARY, SampleRequest, draw, ensure, weights_digest
from aeflow.runs.features import feature_extractor, measure_generator
from aeflow.samplers import SAMPLERS
from aeflow.samplers.flow import FixedStep
from aeflow.studies.sweeps import sweep_steps, sweep_steps_folder
from aeflow.viz import save_curves, save_image_grid


def ensure_run(model: str, dataset: str, data_dir: str | None, options: dict, train: dict, out: Path) -> Path:
    return ensure(aeflow.make_config(model, dataset, options, {"progress": False, **train}, data_dir), out)


def swept(run: Path, steps: list[int], samplers: list[str], n: int, data_dir: str | None, churn: float = 0.0
          ) -> list[dict]:
    """The run's step sweep over `samplers` x `steps` at N = n, seed 0: read from its steps-sweep folder when
    earlier sweeps of its present weights covered every setting, else computed (and added there)."""
    wanted = [(s, k if hasattr(SAMPLERS[s].Options(), "steps") else None) for s in samplers for k in steps]
    saved = sweep_steps_folder(run, {"churn": churn}) / "steps_sweep.json"
    if saved.exists():
        weights = weights_digest(run)
        rows = {(r["sampler"], r["steps"]): r for r in json.loads(saved.read_text())
                if r["n"] == n and r.get("seed", 0) == 0 and r.get("weights") == weights}
        if all(w in rows for w in wanted):
            return [rows[w] for w in dict.fromkeys(wanted)]
    return sweep_steps(run, steps, samplers, n, data_dir, progress=False, options={"churn": churn})


def score_prior_samples(run: Path, data, n: int) -> dict:
    """The VAE's own N(0, I) samples, measured as every generator is (`measure_generator`)."""
    extractor = feature_extractor(data.name, data, progress=False)
    row, _, _ = measure_generator(aeflow.load(run), run, SampleRequest(n=n, seed=0), data, extractor, "vae")
    return {**to_dict(row), "sampler": "prior", "steps": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--network", default="unet", choices=["unet", "mlp"])
    parser.add_argument("--channels", default="32,64", help="unet channels")
    parser.add_argument("--hidden", default="1024,1024,1024", help="mlp widths")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--gan-epochs", type=int, default=None, help="default: --epochs")
    parser.add_argument("--onestep-epochs", type=int, default=None,
                        help="default: --epochs (it learns the mean image, which takes far fewer)")
    parser.add_argument("--reflow-pairs", type=int, default=10_000)
    parser.add_argument("--reflow-sampler", default="heun", help="the teacher's sampler that makes the pairs")
    parser.add_argument("--reflow-steps", type=int, default=20, help="its number of steps")
    parser.add_argument("--reflow-epochs", type=int, default=None,
                        help="default: as many training examples as the teacher saw (epochs * n_train / pairs)")
    parser.add_argument("--vae", default=None, help="a trained VAE run: its prior samples; latent flow on its codes")
    parser.add_argument("--n", type=int, default=2000, help="samples scored per setting")
    parser.add_argument("--steps", default="1,2,4,10,20,50", help="step counts for the DDIM / ODE samplers")
    parser.add_argument("--flow-samplers", default="euler,midpoint,heun,adaptive",
                        help="the flow's samplers to score (reflow: euler)")
    parser.add_argument("--flow-churn", type=float, default=0.0,
                        help="> 0: also score --churn-samplers with this churn (EDM's S_churn)")
    parser.add_argument("--churn-samplers", default="midpoint", help="the flow's samplers scored with --flow-churn")
    parser.add_argument("--skip", default="", help="comma-separated models to leave out, e.g. gan")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    out = Path(args.out or f"runs/noise-to-data-{args.dataset}")
    data = aeflow.load_dataset(args.dataset, args.data_dir)
    n = min(args.n, len(data.test_x))
    steps = [int(s) for s in args.steps.split(",")]
    net = ({"network": "unet", "channels": [int(c) for c in args.channels.split(",")]} if args.network == "unet"
           else {"network": "mlp", "hidden": [int(h) for h in args.hidden.split(",")]})
    train = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "ema_decay": 0.999}
    skip = set(filter(None, args.skip.split(",")))
    recipes = {
        "onestep": ("onestep", net, {**train, "epochs": args.onestep_epochs or args.epochs}),
        "ddpm": ("ddpm", net, train),
        "flow": ("flow", net, train),
        "gan": ("dcgan", {}, {"epochs": args.gan_epochs or args.epochs, "ema_decay": 0.999}),
    }
    runs = {name: ensure_run(model, args.dataset, args.data_dir, options, train_options, out / name)
            for name, (model, options, train_options) in recipes.items() if name not in skip}
    if "reflow" not in skip and "flow" in runs:
        reflow_epochs = args.reflow_epochs or max(1, round(args.epochs * len(data.train_x) / args.reflow_pairs))
        runs["reflow"] = ensure_run("flow", args.dataset, args.data_dir,
                                    {**net, "reflow_from": str(runs["flow"]), "reflow_pairs": args.reflow_pairs,
                                     "reflow_sampler": args.reflow_sampler, "reflow_steps": args.reflow_steps},
                                    {**train, "epochs": reflow_epochs}, out / "reflow")
    if args.vae and "latent-flow" not in skip:
        runs["latent-flow"] = ensure_run("latent-flow", args.dataset, args.data_dir,
                                         {"autoencoder_run": args.vae, "process_config": {"hidden": [512, 512, 512]}},
                                         train, out / "latent-flow")

    plans = {"onestep": (["direct"], [1]), "gan": (["direct"], [1]),
             "ddpm": (["ddpm", "ddim"], steps), "flow": (args.flow_samplers.split(","), steps),
             "reflow": (["euler"], [s for s in steps if s <= 20]), "latent-flow": (["euler", "heun"], steps)}
    rows = []
    for name, run in runs.items():
        samplers, k = plans[name]
        for row in swept(run, k, samplers, n, args.data_dir):
            rows.append({"model": name, **row})
    if args.flow_churn and "flow" in runs:
        stochastic = args.churn_samplers.split(",")
        fixed_step = [name for name, cls in SAMPLERS.items() if issubclass(cls, FixedStep)]
        if set(stochastic) - set(fixed_step):
            parser.error(f"--churn-samplers: choose among {', '.join(fixed_step)}")
        for row in swept(runs["flow"], steps, stochastic, n, args.data_dir, args.flow_churn):
            rows.append({"model": "flow", **row, "sampler": f"{row['sampler']} churn {args.flow_churn:g}"})
    if args.vae:
        rows.append({"model": "vae", **score_prior_samples(Path(args.vae), data, n)})

    table = ["| model | sampler | steps | NFE | FD (floor) | precision | recall | images/s |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        table.append(f"| {r['model']} | {r['sampler']} | {r['steps'] or '—'} | {r['nfe']} | {r['fd']:.2f} "
                     f"({r['fd_real_floor']:.2f}) | {r['precision']:.3f} | {r['recall']:.3f} "
                     f"| {r['images_per_s']:.0f} |")
    budget = {name: json.loads((run / SUMMARY).read_text())["train_time_s"] for name, run in runs.items()}
    text = "\n".join(table) + f"\n\nN = {n} samples per row. Training time (s): " + ", ".join(
        f"{k} {v:.0f}" for k, v in budget.items()) + "\n"
    print("\n" + text)
    (out / "table.md").write_text(text)
    (out / "table.json").write_text(json.dumps(rows, indent=2) + "\n")
    series: dict[str, tuple[list, list]] = {}
    for r in rows:
        if r["sampler"] not in ("adaptive",):
            xs, ys = series.setdefault(f"{r['model']} {r['sampler']}", ([], []))
            xs.append(r["nfe"])
            ys.append(r["fd"])
    save_curves(series, out / "fd_vs_nfe.png", "network evaluations (NFE)", "FD", f"{args.dataset}: FD against NFE",
                log_x=True, log_y=True)
    grids = [draw(aeflow.load(run), run, SampleRequest(n=16, seed=0))[0] for run in runs.values()]
    save_image_grid(grids, list(runs), out / "samples.png", title="samples (each model's default sampler)")


if __name__ == "__main__":
    main()
