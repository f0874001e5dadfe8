"""The `aeflow` command: parse, call the library, print. Errors are one line and an exit code."""

from __future__ import annotations

import _thread
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import click

from aeflow.config import MIN_SCORED_IMAGES, parse_assignments
from aeflow.errors import AeflowError, ConfigError, Interrupted
from aeflow.files import atomic_write_text, check_writable
from aeflow.threads import apply_thread_policy

DATASET_HELP = "digits (offline default), mnist, fashion-mnist or swissroll"
SHIFT_HELP = "flow euler/midpoint/heun: > 1 takes smaller steps near the noise end (SD3's shift; default 1, even)"
CHURN_HELP = ("flow euler/midpoint/heun: > 0 adds fresh noise before each of the STEPS steps, raising the "
              "noise-to-signal ratio by the factor 1 + CHURN / STEPS (EDM's S_churn; default 0, deterministic; "
              "not for reflowed flows, whose coupled paths it leaves)")
RERUN_HELP = ("replace the runs under --out that are not the ones this command asks for (aeflow's own files only); "
              "without it they are refused")
DATA_DIR_HELP = "directory with the dataset's IDX files (else $AEFLOW_DATA_DIR, else the cache / a download)"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aeflow")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """aeflow: autoencoders to flow matching: train, measure and look inside."""
    processes = os.environ.get("WORLD_SIZE", "1")
    if processes not in ("", "1") and ctx.invoked_subcommand != "train":
        raise ConfigError(f"`aeflow {ctx.invoked_subcommand}` runs in one process; only `aeflow train` runs under "
                          f"torchrun ({processes} processes here): run it without torchrun")


@cli.command()
@click.argument("model", required=False)
@click.option("--dataset", "-d", default=None, help=DATASET_HELP)
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
@click.option("--out", "-o", default=None, help="run folder (default runs/MODEL-DATASET)")
@click.option("--epochs", type=int, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--weight-decay", type=float, default=None)
@click.option("--warmup-epochs", type=float, default=None)
@click.option("--grad-clip", type=float, default=None, help="max gradient norm, 0 = off")
@click.option("--bf16/--no-bf16", default=None, help="bf16 autocast")
@click.option("--compile/--no-compile", default=None,
              help="torch.compile the model's loss (worth it on a GPU; its first steps compile)")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N")
@click.option("--seed", type=int, default=None)
@click.option("--train-subset", type=int, default=None, help="use only the first N training examples")
@click.option("--model-option", "-m", "model_options", multiple=True, metavar="KEY=VALUE",
              help="a model config field, e.g. -m code_dim=30 -m hidden=[512,256] (repeatable)")
@click.option("--train-option", "-t", "train_options_kv", multiple=True, metavar="KEY=VALUE",
              help="any training config field, e.g. -t 'loss_weights={kl: {kind: linear, epochs: 10}}'")
@click.option("--resume", is_flag=True,
              help="continue the run in --out from its last checkpoint; with --epochs, extend it to that many")
@click.option("--no-download", is_flag=True, help="never download; fail if the files are not found")
@click.option("--no-progress", is_flag=True, help="no progress bar")
def train(model: str | None, dataset: str | None, data_dir: str | None, out: str | None,
          model_options: tuple[str, ...], train_options_kv: tuple[str, ...], resume: bool, no_download: bool,
          no_progress: bool, train_subset: int | None, **train_flags) -> None:
    """Train MODEL (a family or a preset; see `aeflow models`) into a run folder; with --resume, continue the run
    in --out (MODEL may be left out)."""
    import aeflow
    from aeflow.runs import read_summary
    from aeflow.training.world import current

    if resume:
        if out is None:
            raise ConfigError("--resume needs --out RUN_DIR: the run folder to continue")
        _check_resumed_model(model, Path(out))
        epochs = train_flags.pop("epochs")
        given = [f"--{k.replace('_', '-')}" for k, v in train_flags.items() if v is not None]
        given += ["--dataset"] * (dataset is not None) + ["--model-option"] * bool(model_options)
        given += ["--train-option"] * bool(train_options_kv)
        if given:
            raise ConfigError(f"--resume continues the run exactly as its config.yaml says (only --epochs may "
                              f"extend it); drop {', '.join(given)} (or start a new run with another --out)")
        run = aeflow.extend(out, epochs) if epochs else aeflow.train(None, out, resume=True)
    else:
        if model is None:
            raise ConfigError("give MODEL (a family or a preset: `aeflow models`), or --resume --out RUN_DIR")
        assigned = parse_assignments(train_options_kv, "--train-option")
        flags = {k: v for k, v in train_flags.items() if v is not None}
        twice = sorted(set(assigned) & set(flags))
        if twice:
            raise ConfigError(f"{', '.join(twice)} given twice, as -t and as --{twice[0].replace('_', '-')}; keep one")
        train_options = {**assigned, **flags}
        if no_progress:
            train_options["progress"] = False
        config = aeflow.make_config(model, "digits" if dataset is None else dataset,
                                    parse_assignments(model_options, "--model-option"),
                                    train_options, data_dir, download=not no_download, train_subset=train_subset)
        run = aeflow.train(config, check_writable(out or f"runs/{model}-{config.data.name}", "--out", folder=True))
    if not current().main:   # under torchrun: the main process says what was made
        return
    summary = read_summary(run)
    click.echo(f"run folder: {run}")
    _print_summary(summary)
    _next_commands(Path(run))


def _check_resumed_model(model: str | None, out: Path) -> None:
    """A MODEL named beside --resume must be the run's (a family, or a preset of it)."""
    from aeflow.models.registry import resolve
    from aeflow.runs.folder import CONFIG, load_config

    if model is None or not (out / CONFIG).exists():
        return
    recorded = load_config(out).model
    if resolve(model)[0] != recorded:
        raise ConfigError(f"{out} holds a {recorded} run, not {model}: continue it with `aeflow train --resume --out "
                          f"{out}` (MODEL may be left out), or start {model} with another --out")


@cli.command(name="eval")
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option("--samples", "samples_file", default=None, help="score this .npy file (N x C x H x W in [0, 1])")
@click.option("--dataset", "-d", default=None, help="with --samples: the dataset to score against")
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
@click.option("--n", type=click.IntRange(MIN_SCORED_IMAGES), default=None,
              help="number of samples / test images (default 10000, or all)")
@click.option("--k", type=click.IntRange(1), default=None, help="importance samples for the IWAE bound (default 5000; "
              "models with a likelihood bound only)")
@click.option("--no-samples", is_flag=True, help="skip sample metrics")
@click.option("--no-likelihood", is_flag=True, help="skip likelihood bounds")
@click.option("--json", "json_out", default=None, help="also write the results to this JSON file")
def eval_command(run_dir: str | None, samples_file: str | None, dataset: str | None, data_dir: str | None,
                 n: int | None, k: int | None, no_samples: bool, no_likelihood: bool, json_out: str | None) -> None:
    """Every metric that applies to a run's model (into its summary.json and eval.md), or to a sample file."""
    import aeflow
    from aeflow.eval import load_samples
    from aeflow.eval.samples import format_scores
    from aeflow.runs import score
    from aeflow.runs.folder import check_new_file, writing_run

    if (run_dir is None) == (samples_file is None):
        raise ConfigError("give either RUN_DIR or --samples FILE.npy --dataset D")
    if json_out:
        check_new_file(check_writable(json_out, "--json"), "--json")
    if samples_file:
        if not dataset:
            raise ConfigError("--samples needs --dataset: the dataset whose test split the samples are scored against")
        given = [o for o, v in (("--k", k is not None), ("--no-samples", no_samples),
                                ("--no-likelihood", no_likelihood)) if v]
        if given:
            raise ConfigError(f"{', '.join(given)}: options of a run's evaluation; a sample file is scored only "
                              "(drop them)")
        data = aeflow.load_dataset(dataset, data_dir)
        results = score(load_samples(samples_file), data, n)
        text = format_scores(results)
    elif dataset:
        raise ConfigError("--dataset is for --samples; a run is evaluated on its own dataset (its config.yaml)")
    else:
        with writing_run(run_dir):
            text, results = _evaluate_run(run_dir, data_dir, n, k, no_samples, no_likelihood)
    click.echo(text)
    if json_out:
        atomic_write_text(Path(json_out), json.dumps(results, indent=2) + "\n")


def _evaluate_run(run_dir: str, data_dir: str | None, n: int | None, k: int | None, no_samples: bool,
                  no_likelihood: bool) -> tuple[str, dict]:
    """Every metric of a run's model, merged into its summary.json and written to its eval.md."""
    import aeflow
    from aeflow.eval import evaluate_model, format_results
    from aeflow.eval.samples import DEFAULT_N
    from aeflow.protocols import HasLikelihood
    from aeflow.runs import SampleRequest, draw, feature_extractor, load_config, write_summary
    from aeflow.runs.sampling import default_source

    config = load_config(run_dir)
    model = aeflow.load(run_dir)
    if k is not None and (no_likelihood or not isinstance(model, HasLikelihood)):
        why = "--no-likelihood skips the bound" if no_likelihood else f"{config.model} has no likelihood bound"
        raise ConfigError(f"--k sets the IWAE bound's importance samples, and {why}; drop --k")
    data = aeflow.load_dataset(config.data.name, data_dir or config.data.data_dir, config.data.download)
    samples, extractor = None, None
    source = default_source(model)
    if not no_samples and data.is_image and source:
        request = SampleRequest(source=source, n=min(n or DEFAULT_N, len(data.test_x)))
        samples, _ = draw(model, run_dir, request, data)
        extractor = feature_extractor(data.name, data)
    results = evaluate_model(model, data, samples, extractor, likelihood=not no_likelihood, n=n, k=k or 5000)
    write_summary(Path(run_dir), results)
    text = f"{config.model} on {config.data.name}\n{format_results(results)}"
    atomic_write_text(Path(run_dir) / "eval.md", "```\n" + text + "\n```\n")
    return text, results


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--prior", default=None, help="a code prior to decode: normal (N(0, I) codes), gmm (a Gaussian mixture "
              "fitted to the training codes, saved with the run on first use) or categorical (a VQ-VAE's tokens); "
              "default: the model's own sampler or prior")
@click.option("--sampler", default=None, help="see `aeflow samplers` (default: the model's)")
@click.option("--steps", type=click.IntRange(1), default=None, help="sampler steps (default: the model's)")
@click.option("--eta", type=float, default=None, help="ddim: 0 deterministic, 1 ancestral noise")
@click.option("--shift", type=float, default=None, help=SHIFT_HELP)
@click.option("--churn", type=float, default=None, help=CHURN_HELP)
@click.option("--n", type=click.IntRange(1), default=10_000, help="number of samples")
@click.option("--out", "-o", default=None, help=".npy file for the samples (default RUN_DIR/samples-PRIOR.npy or "
              "RUN_DIR/samples-SAMPLER-STEPS.npy)")
@click.option("--seed", type=int, default=0)
@click.option("--temperature", type=float, default=1.0, help="code priors: scale of the codes' noise")
@click.option("--components", type=click.IntRange(1), default=None,
              help="gmm: number of mixture components (default 10)")
@click.option("--covariance", default=None, help="gmm: full (default), diag, spherical or tied")
@click.option("--refit", is_flag=True, help="code priors: fit again even if the run has one")
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
def sample(run_dir: str, prior: str | None, sampler: str | None, steps: int | None, eta: float | None,
           shift: float | None, churn: float | None, n: int, out: str | None, seed: int, temperature: float,
           components: int | None, covariance: str | None, refit: bool, data_dir: str | None) -> None:
    """Draw N images from a run's model: a generator through a sampler (DDPM, flow, GAN...), a VAE from its
    prior, or any encoder's decoded codes from a code prior (normal, gmm, categorical)."""
    import aeflow
    from aeflow.config import choice
    from aeflow.files import atomic_save_array
    from aeflow.priors import PRIORS
    from aeflow.runs import SampleRequest, draw, load_config
    from aeflow.runs.folder import check_new_file, writing_run
    from aeflow.runs.sampling import check_request, fitted_prior
    from aeflow.viz import save_image_grid

    if prior is not None:
        choice("--prior", prior, PRIORS)
    if out is not None and Path(out).suffix != ".npy":
        raise ConfigError(f"--out {out}: samples are saved as a .npy file; give a name ending in .npy")
    if out is not None:
        check_new_file(check_writable(out, "--out"), "--out")
        check_new_file(Path(out).with_suffix(".png"), "--out's grid")
    options = {k: v for k, v in {"steps": steps, "eta": eta, "shift": shift, "churn": churn}.items() if v is not None}
    prior_options = {k: v for k, v in {"n_components": components, "covariance_type": covariance}.items()
                     if v is not None}
    request = SampleRequest(prior, sampler, options, n, seed, temperature, prior_options)
    request.validate()   # before the run folder is read
    with writing_run(run_dir):
        model = aeflow.load(run_dir)
        config = load_config(run_dir)
        request.source = request.resolve(model)
        check_request(model, request)   # every option taken by the source, before any work
        data = None
        if request.source == "model" and (refit or data_dir):
            raise ConfigError(f"{'--refit' if refit else '--data-dir'} is for fitting a code prior, and "
                              f"{model.registry_name} is sampled by itself; drop it, or choose a prior with --prior")
        if request.source != "model":
            data = aeflow.load_dataset(config.data.name, data_dir or config.data.data_dir, config.data.download)
            fitted_prior(model, run_dir, request.source, prior_options, data, refit=refit)   # saved with the run
        images, made = draw(model, run_dir, request, data)
        out_path = Path(out or Path(run_dir) / f"samples-{made['label']}.npy")
        atomic_save_array(out_path, images.numpy())
        grid = out_path.with_suffix(".png")
        rows = [images[i:i + 16] for i in range(0, min(len(images), 64), 16)]
        save_image_grid(rows, [""] * len(rows), grid, title=f"{model.registry_name}: samples, {made['label']}")
    click.echo(f"{n} samples: {out_path} (grid: {grid}). Score them with "
               f"`aeflow eval --samples {out_path} --dataset {config.data.name}`")


@cli.command()
def samplers() -> None:
    """List the samplers, the models they accept and their options."""
    import dataclasses

    from aeflow.samplers import SAMPLERS

    for name, cls in SAMPLERS.items():
        options = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(cls.Options)) or "no options"
        click.echo(f"{name:<10} {cls.accepts.__name__:<14} {options:<32} {cls.summary}")


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--no-fd", is_flag=True, help="skip the FD of decoded N(0, I) codes")
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
def latent(run_dir: str, no_fd: bool, data_dir: str | None) -> None:
    """Latent experiments on a trained encoder: noise and truncation sweeps, N(0, I) codes decoded (with
    their FD), interpolations, active units; pictures and latent.json in RUN_DIR/latent/."""
    import aeflow
    from aeflow.protocols import Encodes
    from aeflow.runs import load_config, write_summary
    from aeflow.runs.folder import writing_run
    from aeflow.studies.latent import latent_experiments

    with writing_run(run_dir):
        config = load_config(run_dir)
        model = aeflow.load(run_dir)
        if not isinstance(model, Encodes):
            raise ConfigError(f"{config.model} cannot encode and decode: no latent space to explore")
        data = aeflow.load_dataset(config.data.name, data_dir or config.data.data_dir, config.data.download)
        out = Path(run_dir) / "latent"
        results = latent_experiments(model, data, out, with_fd=not no_fd)
        atomic_write_text(out / "latent.json", json.dumps(results, indent=2) + "\n")
        write_summary(Path(run_dir), {"active_units": results["active_units"],
                                      "posterior_collapse": results["collapsed"]})
    click.echo(f"active units: {results['active_units']} of {results['latent_dim']}"
               + ("  POSTERIOR COLLAPSE" if results["collapsed"] else ""))
    click.echo("noise sweep (scale x code std -> error): "
               + ", ".join(f"{r['scale'] / results['code_std']:.2g}: {r['error']:.3f}" for r in results["noise_sweep"]))
    if "normal_prior_samples" in results:
        s = results["normal_prior_samples"]
        click.echo(f"decoded N(0, I) codes: FD {s['fd']:.2f} (floor {s['fd_real_floor']:.2f}, N = {s['n']})")
    click.echo(f"pictures and latent.json in {out}")


def launcher_options(where: str):
    """--launcher here|local|slurm and a job's resources; `where` says what runs where ("each run", "the lineage")."""
    def decorate(command):
        options = [click.option("--launcher", type=click.Choice(["here", "local", "slurm"]), default="here",
                                help=f"run {where} here (default) or as a submitit job: local (a process on this "
                                     "machine) or slurm"),
                   click.option("--partition", default=None, help="slurm: the partition"),
                   click.option("--gpus", type=click.IntRange(0), default=0, help="slurm: GPUs per job"),
                   click.option("--timeout-min", type=click.IntRange(1), default=60,
                                help="a job's time limit (minutes)"),
                   click.option("--jobs-dir", default=None, help="submitit's logs (default: beside OUT)")]
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


def _study_folder(out: str | Path, launch: dict) -> Path:
    """A study's folder as given here; absolute for a job, which may start in another working directory."""
    return Path(out) if launch["launcher"] == "here" else Path(out).absolute()


def _launcher(launcher: str, partition: str | None, gpus: int, timeout_min: int, jobs_dir: str | None):
    from aeflow.runs.launch import Launcher

    return Launcher(launcher, Path(jobs_dir) if jobs_dir else None, partition, gpus, timeout_min)


@cli.group()
def sweep() -> None:
    """Sweeps: one run per setting, a table and a plot."""


@sweep.command(name="steps")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--steps", "steps_list", default="1,2,4,10,20,50,100", help="comma-separated step counts")
@click.option("--samplers", default=None, help="comma-separated samplers (default: all of the model's)")
@click.option("--shift", type=float, default=None, help=SHIFT_HELP + "; results go to RUN_DIR/steps-sweep-shiftS/")
@click.option("--churn", type=float, default=None, help=CHURN_HELP + "; results go to RUN_DIR/steps-sweep-churnC/")
@click.option("--n", type=click.IntRange(MIN_SCORED_IMAGES), default=10_000,
              help="samples per setting (at most the test split)")
@click.option("--seed", type=int, default=0)
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
def sweep_steps_command(run_dir: str, steps_list: str, samplers: str | None, shift: float | None,
                        churn: float | None, n: int, seed: int, data_dir: str | None) -> None:
    """Sample a trained generator with each sampler and number of steps: FD, precision/recall and
    images/s per setting (printed as they finish), and FD against NFE in RUN_DIR/steps-sweep/."""
    from aeflow.runs.folder import writing_run
    from aeflow.runs.measured import sweep_steps_folder
    from aeflow.studies.sweeps import sweep_steps

    steps = _number_list(steps_list, "--steps", int, minimum=1)
    names = [v.strip() for v in samplers.split(",") if v.strip()] if samplers else None
    options = {"shift": shift, "churn": churn}
    with writing_run(run_dir):
        sweep_steps(run_dir, steps, names, n, data_dir, seed, options=options)
    click.echo(f"\nfd_vs_nfe.png, samples.png and steps_sweep.json in {sweep_steps_folder(run_dir, options)}")


@sweep.command(name="beta")
@click.option("--values", required=True, help="comma-separated betas, e.g. 0.1,0.5,1,4")
@click.option("--dataset", "-d", default="digits", help=DATASET_HELP)
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
@click.option("--model", default="vae", help="vae or a VAE preset (e.g. vae-burda)")
@click.option("--model-option", "-m", "model_options", multiple=True, metavar="KEY=VALUE")
@click.option("--epochs", type=int, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--out", "-o", default=None, help="parent folder of the runs (default runs/sweep-beta-DATASET)")
@click.option("--no-fd", is_flag=True, help="skip the FD of prior samples")
@click.option("--no-progress", is_flag=True)
@click.option("--rerun", is_flag=True, help=RERUN_HELP)
@launcher_options("each run, one after another,")
def sweep_beta_command(values: str, dataset: str, data_dir: str | None, model: str, model_options: tuple[str, ...],
                       epochs: int | None, batch_size: int | None, lr: float | None, out: str | None, no_fd: bool,
                       no_progress: bool, rerun: bool, **launch) -> None:
    """Train one VAE per beta (here, or each as a job: --launcher); print and plot the rate-distortion trade-off."""
    from aeflow.studies.sweeps import markdown_rows, sweep_beta

    betas = _number_list(values, "--values", float, minimum=0)
    train_options = {k: v for k, v in {"epochs": epochs, "batch_size": batch_size, "lr": lr}.items() if v is not None}
    out = check_writable(out or f"runs/sweep-beta-{dataset}", "--out", folder=True)
    rows = sweep_beta(betas, dataset, model, parse_assignments(model_options, "--model-option"), train_options, out,
                      data_dir, with_fd=not no_fd, progress=not no_progress, rerun=rerun, launcher=_launcher(**launch))
    click.echo(markdown_rows(rows))
    click.echo(f"\nreport: {Path(out) / 'report.html'} (and rate_distortion.png, beta_grid.png, sweep.json there)")


@cli.group()
def features() -> None:
    """Domain feature extractors (the classifiers behind FD)."""


@features.command(name="build")
@click.option("--dataset", "-d", required=True, help="digits, mnist or fashion-mnist")
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
@click.option("--rerun", is_flag=True, help="replace a cached classifier made with another recipe")
def features_build(dataset: str, data_dir: str | None, rerun: bool) -> None:
    """Train (once) and cache the feature classifier of a dataset and its judge of "recognisable"; print the
    classifier's test accuracy and the judge's calibration and validation."""
    import aeflow
    from aeflow.runs.features import build_extractor, extractor_accuracy, judge_dir, load_judge

    out = build_extractor(aeflow.load_dataset(dataset, data_dir), rerun=rerun)
    click.echo(f"{dataset} feature extractor: {out} (test accuracy {extractor_accuracy(dataset):.4f})")
    judge = load_judge(dataset)
    click.echo(f"{judge.description}: {judge_dir(dataset)}")
    for name, confidence in judge.references.items():
        click.echo(f"  {name:<30} confidence {confidence:.3f}")
    click.echo("  validation: " + ("passed" if not judge.problems else "failed: " + "; ".join(judge.problems)))


@cli.command()
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
def datasets(data_dir: str | None) -> None:
    """List the datasets, whether they are available here, and where they were found."""
    from aeflow.data import describe_datasets

    for row in describe_datasets(data_dir):
        if row["status"] == "available":
            click.echo(f"{row['name']:<14} {row['shape']:<8} train {row['train']:>6}  test {row['test']:>6}  "
                       f"{row['source']}")
        else:
            click.echo(f"{row['name']:<14} missing: {row['source']}")


@cli.command()
def models() -> None:
    """List the model families and presets."""
    from aeflow.models.registry import MODELS, PRESETS

    for name, cls in sorted(MODELS.items()):
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        click.echo(f"{name:<14} {doc}")
    for name, preset in sorted(PRESETS.items()):
        click.echo(f"{name:<14} preset of {preset.model}: {preset.description}")


@cli.command()
@click.argument("experiment")
@click.option("--dataset", "-d", default="digits", help=DATASET_HELP)
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
@click.option("--out", "-o", default=None, help="folder for the runs and the table")
@click.option("--epochs", type=click.IntRange(1), default=None, help="autoencoder epochs (default: the preset's)")
@click.option("--bf16/--no-bf16", default=False, help="bf16 autocast for the autoencoder")
@click.option("--kernel-subset", type=click.IntRange(1), default=None, help="training images kernel PCA is fitted on")
@click.option("--no-progress", is_flag=True)
@click.option("--rerun", is_flag=True, help=RERUN_HELP)
def reproduce(experiment: str, dataset: str, data_dir: str | None, out: str | None, epochs: int | None, bf16: bool,
              kernel_subset: int | None, no_progress: bool, rerun: bool) -> None:
    """Reproduce a result: hinton (Hinton & Salakhutdinov 2006: autoencoder vs PCA and logistic PCA, on
    --dataset); swissroll (a 3-2-3 autoencoder vs PCA on the Swiss roll: trustworthiness, rank correlation)."""
    from aeflow.studies.reproduce import EXPERIMENTS, hinton, swissroll

    if experiment not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {experiment!r}; choose one of {', '.join(EXPERIMENTS)}")
    if experiment == "swissroll":
        out = check_writable(out or "runs/reproduce-swissroll", "--out", folder=True)
        rows = swissroll.reproduce_swissroll(out=out, epochs=epochs, progress=not no_progress, rerun=rerun)
        click.echo(swissroll.markdown_table(rows))
    else:
        out = check_writable(out or f"runs/reproduce-{experiment}-{dataset}", "--out", folder=True)
        rows = hinton.reproduce_hinton(dataset=dataset, data_dir=data_dir, out=out, epochs=epochs, bf16=bf16,
                                       kernel_subset=kernel_subset, progress=not no_progress, rerun=rerun)
        click.echo(hinton.markdown_table(rows))
    click.echo(f"\ntable written to {out}/table.md and {out}/table.json")


@cli.command()
@click.option("--dataset", "-d", default="digits", help="digits (default), mnist or fashion-mnist")
@click.option("--budget", "-b", default="cpu", help="cpu (default: digits in minutes, MNIST within the hour "
              "on 2 cores), gpu (docs/benchmarks.md's full recipes) or test (seconds)")
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
@click.option("--out", "-o", default=None, help="folder of the chapters and the report (default "
              "runs/lineage-DATASET-BUDGET)")
@click.option("--no-progress", is_flag=True, help="no per-epoch progress bars (the chapter lines stay)")
@click.option("--rerun", is_flag=True, help="a folder holding another lineage (another dataset or budget) or runs "
              "other than the ones asked for: redo its chapters and replace those runs (aeflow's own files only); "
              "without it, it is refused")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="processes beside the lineage's own: they "
              "run a seeded chapter's other seeds beside seed 0, or with one seed lanes of chapters (default, on a "
              "CPU where the work takes minutes: one per other seed or one per core beyond the first; none on a GPU "
              "or one core); 0 runs everything in one process, one after another")
@launcher_options("the whole lineage")
def lineage(dataset: str, budget: str, data_dir: str | None, out: str | None, no_progress: bool, rerun: bool,
            workers: int | None, **launch) -> None:
    """The whole story in one command: compression, the code space, a density on the codes, the VAE, one step,
    DDPM, flow matching, reflow, a GAN and latent flow, every claim measured and judged, in one report
    (report.html). Interrupted, the same command continues where it stopped."""
    from aeflow.config import choice
    from aeflow.studies.lineage import BUDGETS

    choice("--dataset", dataset, ["digits", "mnist", "fashion-mnist"])
    choice("--budget", budget, BUDGETS)
    if out is not None:
        check_writable(out, "--out", folder=True)
    from aeflow.studies.lineage.run import default_out, run_lineage

    folder = _study_folder(out or default_out(dataset, budget), launch)
    _launcher(**launch).call(run_lineage, (dataset, budget, str(folder), data_dir, not no_progress, rerun, workers),
                             folder.with_name(folder.name + "-jobs"), "running the lineage")


@cli.command()
@click.option("--dataset", "-d", default="digits", help="digits (default), mnist or fashion-mnist")
@click.option("--budget", "-b", default="cpu", help="tiny (minutes: the libraries end to end), cpu (8x8 digits on "
              "2 cores) or gpu (MNIST)")
@click.option("--only", multiple=True, help="one comparison (repeat for more): vae, vae-bce, ae, cfm, icfm, ddpm "
              "(default all)")
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
@click.option("--out", "-o", default=None, help="folder of the runs, samples and report (default "
              "runs/peers-DATASET-BUDGET)")
@click.option("--no-progress", is_flag=True, help="no per-epoch progress bars")
@click.option("--rerun", is_flag=True, help="a folder holding another comparison (dataset, budget, versions): redo "
              "it there (aeflow's own files only); without it, it is refused")
@launcher_options("the whole comparison")
def peers(dataset: str, budget: str, only: tuple[str, ...], data_dir: str | None, out: str | None, no_progress: bool,
          rerun: bool, **launch) -> None:
    """aeflow against pythae (VAE, autoencoder + GMM), torchcfm (flow matching, OT and independent coupling) and
    diffusers (DDPM): each peer at its published recipe and at the one the same small search tunes, beside aeflow's
    model likewise, for the same seconds on this machine, at several seeds, both sampled the same way and scored in
    two feature spaces, in one report (report.html). Needs the peers (README, Peers).
    Interrupted, the same command continues."""
    from aeflow.config import choice
    from aeflow.studies.peers import BUDGETS, PAIRS

    choice("--dataset", dataset, ["digits", "mnist", "fashion-mnist"])
    choice("--budget", budget, BUDGETS)
    for key in only:
        choice("--only", key, list(PAIRS))
    if out is not None:
        check_writable(out, "--out", folder=True)
    from aeflow.studies.peers.run import default_out, run_peers

    folder = _study_folder(out or default_out(dataset, budget), launch)
    _launcher(**launch).call(run_peers, (dataset, budget, str(folder), data_dir, list(only) or None, not no_progress,
                                         rerun), folder.with_name(folder.name + "-jobs"), "running the comparison")


@cli.command()
@click.argument("folders", nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="the address to bind; another one exposes the "
              "runs to the network")
@click.option("--no-browser", is_flag=True, help="do not open a browser")
def explore(folders: tuple[str, ...], port: int, host: str, no_browser: bool) -> None:
    """Open the explorer on the runs under FOLDERS (default runs/): every panel of the story, driven by the real
    trained models, with their measured numbers. Needs the extra: pip install 'aeflow[explore]'."""
    try:
        import uvicorn
    except ImportError:
        raise ConfigError("the explorer needs its extra: pip install 'aeflow[explore]'") from None
    import webbrowser

    from aeflow.explore.app import create_app

    roots = [Path(f) for f in folders] or [Path("runs")]
    if not any(r.exists() for r in roots):
        raise ConfigError("no runs folder here; give the folders of your runs, e.g. "
                          "aeflow explore runs/lineage-digits-cpu")
    _check_address(host, port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"aeflow: warning: binding {host} makes the explorer reachable from the network", err=True)
    app = create_app(roots)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    click.echo(f"aeflow explorer on {url} (Ctrl-C to stop)")
    if not no_browser:
        webbrowser.open(url)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _check_address(host: str, port: int) -> None:
    """Bind the address once before the server does, so that a port in use or an unknown host is aeflow's
    one line, not the server's log and exit code."""
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as e:
        raise ConfigError(f"cannot serve on {host}:{port} ({e.strerror or e}); choose another --port (or --host)") \
            from None


def _number_list(text: str, option: str, kind: type, minimum: float) -> list:
    """'1,2,4' -> [1, 2, 4], or a ConfigError that names the option."""
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option} must be comma-separated {kind.__name__}s, got {text!r}") from None
    if not values or min(values) < minimum:
        raise ConfigError(f"{option} needs at least one value, each >= {minimum}; got {text!r}")
    return values


def _next_commands(run: Path) -> None:
    """What a person can do with the run just trained."""
    import aeflow
    from aeflow.protocols import Encodes
    from aeflow.runs import load_config
    from aeflow.runs.sampling import default_source

    model = aeflow.load(run)
    dataset = load_config(run).data.name
    lines = [f"aeflow eval {run}"]
    if default_source(model):
        lines.append(f"aeflow sample {run} --n 1000          # (a grid of 64 is in {run / 'samples.png'})")
    if isinstance(model, Encodes):
        lines += [f"aeflow latent {run}", f"aeflow sample {run} --prior gmm",
                  f"aeflow train latent-flow -d {dataset} -m autoencoder_run={run}"]
    lines.append(f"aeflow explore {run.parent}")
    click.echo("next:\n" + "\n".join(f"  {line}" for line in lines))


def _print_summary(summary: dict) -> None:
    keys = ["model", "dataset", "n_parameters", "train_time_s", "images_per_s", "test_recon_error"]
    for k in keys:
        if k in summary:
            click.echo(f"  {k}: {summary[k]}")


INTERRUPTED = "interrupted (Ctrl-C) before it finished; the files it had finished are kept, none is half-written"


def main(argv: list[str] | None = None) -> None:
    """Run the command; every way it can fail ends in one line on stderr and an exit code (README's table)."""
    _ctrl_c["caller"] = sys._getframe()   # imports under way before the command started are not its own
    sigint = signal.signal(signal.SIGINT, _note_sigint)
    unraisable, sys.unraisablehook = sys.unraisablehook, _unraisable
    try:
        apply_thread_policy()   # before torch loads: it reads the thread count once
        cli.main(args=argv, prog_name="aeflow", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        _fail(INTERRUPTED, 130, error=False)
    except click.UsageError as e:   # click's own text spans several lines; the problem and where to look fit one
        command = e.ctx.command_path if e.ctx else "aeflow"
        _fail(f"{e.format_message()} (see `{command} --help`)", 2)
    except click.ClickException as e:
        _fail(e.format_message(), e.exit_code)
    except Interrupted as e:   # how to continue is the command's: train has --resume, the others start again
        words = argv if argv is not None else sys.argv[1:]
        how = ("continue it with `aeflow train --resume --out RUN_DIR`" if "train" in words[:1] else
               "the same command again continues where it stopped")
        _fail(f"{e}; {how}", e.exit_code, error=False)
    except AeflowError as e:
        _fail(str(e), e.exit_code)
    except OSError as e:   # a file or folder the system refused (permissions, a full disk, a name too long...)
        _debug()
        _after_ctrl_c()
        where = f": {e.filename}" if e.filename else ""
        _fail(f"{e.strerror or e}{where} (check the path, its permissions and the free space; AEFLOW_DEBUG=1 shows "
              "the traceback)", 74)
    except MemoryError:
        _debug()
        _after_ctrl_c()
        _fail("out of memory; use a smaller --n, --batch-size or model (AEFLOW_DEBUG=1 shows where)", 75)
    except Exception as e:   # a bug: aeflow should have refused the input by name before getting here
        _debug()
        _after_ctrl_c()
        _fail(f"internal error: {type(e).__name__}: {e}. This is a bug in aeflow; AEFLOW_DEBUG=1 shows the "
              "traceback to report", 70)
    finally:
        signal.signal(signal.SIGINT, sigint)
        sys.unraisablehook = unraisable


_ctrl_c: dict = {"seen": False, "caller": None}


def _note_sigint(signum, frame) -> None:
    """Ctrl-C, remembered, and raised once no library is being imported: one raised inside torch's import (its
    C++ runs Python code there) aborts the whole process (SIGABRT, a C++ stack on stderr), and one inside numpy's
    can resurface as another error (a RecursionError from a half-imported numpy)."""
    _ctrl_c["seen"] = True
    if _importing_a_library(frame):
        _thread.start_new_thread(_interrupt_main_after_imports, (threading.main_thread().ident,))
        return
    raise KeyboardInterrupt


def _importing_a_library(frame) -> bool:
    """Whether a module-level frame of a module outside aeflow (and not the script itself) is on the stack above
    `main`'s: an import the command started and has not finished."""
    while frame is not None and frame is not _ctrl_c["caller"]:
        name = frame.f_globals.get("__name__", "")
        if frame.f_code.co_name == "<module>" and name != "__main__" and name.split(".")[0] != "aeflow":
            return True
        frame = frame.f_back
    return False


def _interrupt_main_after_imports(main_thread: int) -> None:
    while _importing_a_library(sys._current_frames().get(main_thread)):
        time.sleep(0.01)
    _thread.interrupt_main()


def _unraisable(info) -> None:
    """A Ctrl-C that lands inside a finaliser (a `__del__` run by the garbage collector mid-training) cannot
    propagate: Python would print a traceback and carry on. Send it again to the main thread, where it stops the
    command like any other Ctrl-C: from a bare thread, a moment later, since the main thread would handle it inside
    this hook (and a `threading.Thread` waits for its start, where it would land)."""
    if issubclass(info.exc_type, KeyboardInterrupt):
        _thread.start_new_thread(_interrupt_main_soon, ())
    else:
        sys.__unraisablehook__(info)


def _interrupt_main_soon() -> None:
    time.sleep(0.01)
    _thread.interrupt_main()


def _after_ctrl_c() -> None:
    if _ctrl_c["seen"]:
        _fail(INTERRUPTED, 130, error=False)


def _fail(message: str, code: int, error: bool = True) -> None:
    click.echo(f"aeflow: {'error: ' if error else ''}{' '.join(message.split())}", err=True)
    sys.exit(code)


def _debug() -> None:
    if os.environ.get("AEFLOW_DEBUG"):
        raise


if __name__ == "__main__":
    main()
