"""The `aeflow` command: parse, call the library, print. Errors are one line and an exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from aeflow.config import RunConfig, parse_assignments
from aeflow.errors import AeflowError, ConfigError
from aeflow.train import Interrupted

DATASET_HELP = "digits (offline default), mnist, fashion-mnist or swissroll"
DATA_DIR_HELP = "directory with the dataset's IDX files (else $AEFLOW_DATA_DIR, else the cache / a download)"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aeflow")
def cli() -> None:
    """aeflow: autoencoders to flow matching: train, measure and look inside."""


@cli.command()
@click.argument("model")
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
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N")
@click.option("--seed", type=int, default=None)
@click.option("--train-subset", type=int, default=None, help="use only the first N training examples")
@click.option("--model-option", "-m", "model_options", multiple=True, metavar="KEY=VALUE",
              help="a model config field, e.g. -m code_dim=30 -m hidden=[512,256] (repeatable)")
@click.option("--resume", is_flag=True, help="continue the run in --out from its last checkpoint")
@click.option("--no-download", is_flag=True, help="never download; fail if the files are not found")
@click.option("--no-progress", is_flag=True, help="no progress bar")
def train(model: str, dataset: str | None, data_dir: str | None, out: str | None, model_options: tuple[str, ...],
          resume: bool, no_download: bool, no_progress: bool, train_subset: int | None, **train_flags) -> None:
    """Train MODEL (a family or a preset; see `aeflow models`) into a run folder."""
    import aeflow

    if resume:
        if out is None:
            raise ConfigError("--resume needs --out RUN_DIR: the run folder to continue")
        given = [f"--{k.replace('_', '-')}" for k, v in train_flags.items() if v is not None]
        given += ["--dataset"] * bool(dataset) + ["--model-option"] * bool(model_options)
        if given:
            raise ConfigError(f"--resume continues the run exactly as its config.yaml says; drop {', '.join(given)} "
                              "(or start a new run with another --out)")
        run = aeflow.train(RunConfig(), out, resume=True)
    else:
        train_options = {k: v for k, v in train_flags.items() if v is not None}
        if no_progress:
            train_options["progress"] = False
        config = aeflow.make_config(model, dataset or "digits", parse_assignments(model_options, "--model-option"),
                                    train_options, data_dir, download=not no_download, train_subset=train_subset)
        run = aeflow.train(config, out or f"runs/{model}-{config.data.name}")
    summary = json.loads((Path(run) / "summary.json").read_text())
    click.echo(f"run folder: {run}")
    _print_summary(summary)


@cli.command(name="eval")
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option("--samples", "samples_file", default=None, help="score this .npy file (N x C x H x W in [0, 1])")
@click.option("--dataset", "-d", default=None, help="with --samples: the dataset to score against")
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
@click.option("--n", type=int, default=None, help="number of samples / test images (default 10000, or all)")
@click.option("--k", type=int, default=5000, help="importance samples for the IWAE bound")
@click.option("--no-samples", is_flag=True, help="skip sample metrics")
@click.option("--no-likelihood", is_flag=True, help="skip likelihood bounds")
@click.option("--json", "json_out", default=None, help="also write the results to this JSON file")
def eval_command(run_dir: str | None, samples_file: str | None, dataset: str | None, data_dir: str | None,
                 n: int | None, k: int, no_samples: bool, no_likelihood: bool, json_out: str | None) -> None:
    """Every metric that applies to a run's model (into its summary.json and eval.md), or to a sample file."""
    import aeflow
    from aeflow.eval import evaluate_model, format_results, load_samples, score_samples
    from aeflow.eval.samples import format_scores
    from aeflow.runs import load_config, write_summary

    if (run_dir is None) == (samples_file is None):
        raise ConfigError("give either RUN_DIR or --samples FILE.npy --dataset D")
    if samples_file:
        if not dataset:
            raise ConfigError("--samples needs --dataset: the dataset whose test split the samples are scored against")
        data = aeflow.load_dataset(dataset, data_dir)
        results = score_samples(load_samples(samples_file), data, n)
        text = format_scores(results)
    else:
        config = load_config(run_dir)
        model = aeflow.load(run_dir)
        data = aeflow.load_dataset(config.data.name, data_dir or config.data.data_dir, config.data.download)
        results = evaluate_model(model, data, samples=not no_samples, likelihood=not no_likelihood, n=n, k=k)
        write_summary(Path(run_dir), results)
        text = f"{config.model} on {config.data.name}\n{format_results(results)}"
        (Path(run_dir) / "eval.md").write_text("```\n" + text + "\n```\n")
    click.echo(text)
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=2) + "\n")


@cli.group()
def features() -> None:
    """Domain feature extractors (the classifiers behind FD)."""


@features.command(name="build")
@click.option("--dataset", "-d", required=True, help="digits, mnist or fashion-mnist")
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
def features_build(dataset: str, data_dir: str | None) -> None:
    """Train (once) and cache the feature classifier of a dataset; print its test accuracy."""
    import aeflow
    from aeflow.eval.features import build_extractor, extractor_accuracy

    out = build_extractor(aeflow.load_dataset(dataset, data_dir))
    click.echo(f"{dataset} feature extractor: {out} (test accuracy {extractor_accuracy(dataset):.4f})")


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
    from aeflow.registry import MODELS, PRESETS

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
@click.option("--epochs", type=int, default=None, help="autoencoder epochs (default: the preset's)")
@click.option("--bf16/--no-bf16", default=False, help="bf16 autocast for the autoencoder")
@click.option("--kernel-subset", type=int, default=None, help="training images kernel PCA is fitted on")
@click.option("--no-progress", is_flag=True)
def reproduce(experiment: str, dataset: str, data_dir: str | None, out: str | None, epochs: int | None, bf16: bool,
              kernel_subset: int | None, no_progress: bool) -> None:
    """Reproduce a published result: hinton (Hinton & Salakhutdinov 2006)."""
    from aeflow.reproduce import EXPERIMENTS
    from aeflow.reproduce.hinton import markdown_table

    if experiment not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {experiment!r}; choose one of {', '.join(EXPERIMENTS)}")
    out = out or f"runs/reproduce-{experiment}-{dataset}"
    rows = EXPERIMENTS[experiment](dataset=dataset, data_dir=data_dir, out=out, epochs=epochs, bf16=bf16,
                                   kernel_subset=kernel_subset, progress=not no_progress)
    click.echo(markdown_table(rows))
    click.echo(f"\ntable written to {out}/table.md and {out}/table.json")


def _print_summary(summary: dict) -> None:
    keys = ["model", "dataset", "n_parameters", "train_time_s", "images_per_s", "test_recon_error"]
    for k in keys:
        if k in summary:
            click.echo(f"  {k}: {summary[k]}")


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="aeflow", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aeflow: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except (AeflowError, Interrupted) as e:
        click.echo(f"aeflow: error: {e}" if isinstance(e, AeflowError) else f"aeflow: {e}", err=True)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
