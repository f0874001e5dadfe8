import json
import os
import subprocess
import sys

import pytest

from aeflow.cli import main
from aeflow.config import WeightSchedule
from aeflow.runs import load_config


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capsys.readouterr()
    return e.value.code, out, err


@pytest.mark.parametrize("args,message", [
    (["train", "nosuch"], "unknown model 'nosuch'; choose one of autoencoder, classifier, contractive-ae"),
    (["train", "autoencoder", "--dataset", "cifar"], "data.name must be one of digits, mnist, fashion-mnist"),
    (["train", "autoencoder", "--epochs", "0"], "train.epochs must be >= 1"),
    (["train", "autoencoder", "-m", "code_dim"], "must look like KEY=VALUE"),
    (["train", "autoencoder", "-m", "width=3"], "unknown key(s) width in model (autoencoder); valid keys:"),
    (["train", "autoencoder", "-m", "activation=swish"], "activation must be one of sigmoid, tanh, relu"),
    (["train", "autoencoder", "--resume"], "--resume needs --out"),
    (["train"], "give MODEL (a family or a preset: `aeflow models`), or --resume --out RUN_DIR"),
    (["train", "autoencoder", "--resume", "--out", "x", "--lr", "5"], "drop --lr"),
    (["train", "autoencoder", "--resume", "--out", "x", "--epochs", "5"], "x holds no run"),
    (["train", "vae", "-t", "loss_weights={kl: {kind: cosine}}"], "schedule kind must be one of linear"),
    (["train", "vae", "-t", "epoch=3"], "unknown key(s) epoch in train; valid keys:"),
    (["train", "vae", "-t", "epochs=3", "--epochs", "2"], "epochs given twice, as -t and as --epochs; keep one"),
    (["sweep", "beta", "--values", "a,b"], "--values must be comma-separated floats, got 'a,b'"),
    (["sweep", "steps", "runs/x", "--steps", "0,2"], "--steps needs at least one value, each >= 1"),
    (["train", "flow", "-t", "ema_decay=1.5"], "train.ema_decay must be in [0, 1)"),
    (["train", "flow", "-t", "betas=[0.9]"], "train.betas must be two numbers in [0, 1)"),
    (["train", "flow", "-t", "sample_every=-1"], "train.sample_every must be >= 0"),
    (["train", "flow", "-m", "network=rnn"], "network must be one of unet, mlp"),
    (["train", "flow", "-m", "reflow_from=x", "-m", "ot_coupling=true"], "reflow trains on fixed pairs"),
    (["train", "flow", "-m", "time_sampling=beta"], "time_sampling must be one of uniform, logit_normal, u_shaped"),
    (["train", "flow", "-m", "velocity_loss=l1"], "velocity_loss must be one of squared, pseudo_huber"),
    (["train", "ddpm", "-m", "prediction=score"], "prediction must be one of epsilon, x0, v"),
    (["train", "gan", "-m", "loss=wasserstein"], "loss must be one of non_saturating, minimax"),
    (["train", "latent-flow"], "latent-flow needs -m autoencoder_run=RUN_DIR"),
    (["train", "latent-flow", "-m", "autoencoder_run=/nope"], "/nope is not a run folder"),
    (["train", "sparse-ae", "-m", "k=0"], "k must be in [1, code_dim=256], got 0"),
    (["train", "denoising-ae", "-m", "corruption=blur"], "corruption must be one of gaussian, salt_pepper, masking"),
    (["train", "contractive-ae", "-m", "norm=batch"], "norm=batch mixes examples"),
    (["train", "ordered-ae", "-m", "nested_p=1.5"], "nested_p must be in (0, 1)"),
    (["train", "conv-ae", "-m", "upsampling=pixelshuffle"], "upsampling must be one of resize, transpose"),
    (["train", "vq-vae", "-m", "codebook_size=1"], "codebook_size must be >= 2"),
    (["train", "mae", "-m", "patch_size=3"], "patch_size 3 must divide the image sides [8, 8]"),
    (["reproduce", "nosuch"], "unknown experiment 'nosuch'; choose one of hinton, swissroll"),
    (["eval", "/nonexistent/run"], "is not a run folder"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, message, capsys):
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_mnist_offline(tmp_path, capsys):
    code, _, err = run_cli(["train", "autoencoder", "--dataset", "mnist", "--data-dir", str(tmp_path)], capsys)
    assert code == 2 and "t10k-images-idx3-ubyte.gz" in err


def test_train_eval_resume_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "autoencoder", "--dataset", "digits", "--epochs", "2", "--batch-size", "64", "--no-progress",
            "-m", "hidden=[32]", "-m", "code_dim=4", "--out", str(out)]
    code = main(args)
    assert code is None
    assert "test_recon_error" in capsys.readouterr().out
    assert main(["eval", str(out)]) is None
    assert "test reconstruction error" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "digits" and summary["n_train"] == 1437
    # Resuming a finished run changes nothing and succeeds.
    assert main(["train", "autoencoder", "--resume", "--out", str(out), "--no-progress"]) is None


def test_datasets_and_models_listings(capsys):
    main(["datasets"])
    out = capsys.readouterr().out
    assert "digits" in out and "1437" in out and "mnist" in out
    main(["models"])
    assert "hinton" in capsys.readouterr().out


def test_eval_scores_a_sample_file_and_refuses_bad_ones(tmp_path, capsys):
    import numpy as np

    from aeflow.data import load_dataset

    good = tmp_path / "good.npy"
    np.save(good, load_dataset("digits").train_x[:300].numpy())
    assert main(["eval", "--samples", str(good), "--dataset", "digits", "--json", str(tmp_path / "s.json")]) is None
    out = capsys.readouterr().out
    assert "FD" in out and "real-vs-real floor" in out and "precision" in out
    assert json.loads((tmp_path / "s.json").read_text())["n"] == 300
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((5, 28, 28), np.float32))
    code, _, err = run_cli(["eval", "--samples", str(bad), "--dataset", "digits"], capsys)
    assert code == 2 and "expected N x 1 x 8 x 8" in err
    code, _, err = run_cli(["eval", "--samples", str(good)], capsys)
    assert code == 2 and "--samples needs --dataset" in err


def test_eval_of_a_likelihood_model_run(tmp_path, capsys):
    out = tmp_path / "ppca"
    assert main(["train", "ppca", "-m", "n_components=4", "--out", str(out)]) is None
    assert main(["eval", str(out), "--k", "50"]) is None
    text = capsys.readouterr().out
    assert "IWAE-50" in text and "exact log p(x)" in text and "FD" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["likelihood"]["iwae_50"] <= summary["likelihood"]["exact_log_likelihood"] + 1e-6
    assert (out / "eval.md").exists()


def test_sample_and_latent_commands(tmp_path, capsys):
    import numpy as np

    out = tmp_path / "ae"
    main(["train", "autoencoder", "-m", "hidden=[32]", "-m", "code_dim=2", "--epochs", "2", "--batch-size", "64",
          "--no-progress", "--out", str(out)])
    assert main(["sample", str(out), "--prior", "gmm", "--n", "100", "--components", "3"]) is None
    samples = np.load(out / "samples-gmm.npy")
    assert samples.shape == (100, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    assert (out / "prior-gmm.safetensors").exists() and (out / "samples-gmm.png").exists()
    # Same seed, saved prior: the same samples.
    main(["sample", str(out), "--prior", "gmm", "--n", "100", "--components", "3", "--out", str(tmp_path / "b.npy")])
    assert np.array_equal(np.load(tmp_path / "b.npy"), samples)
    code, _, err = run_cli(["sample", str(out), "--prior", "gmm", "--components", "4"], capsys)
    assert code == 2 and "--refit" in err
    code, _, err = run_cli(["sample", str(out), "--prior", "uniform"], capsys)
    assert code == 2 and "--prior must be one of" in err
    assert main(["latent", str(out), "--no-fd"]) is None
    assert "active units: 2 of 2" in capsys.readouterr().out
    for name in ("codes_2d.png", "decoded_plane.png", "noise_sweep.png", "truncation.png", "latent.json",
                 "interpolation_spherical.png"):
        assert (out / "latent" / name).exists(), name


def test_sweep_beta(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "beta", "--values", "0.5,4", "--epochs", "2", "--batch-size", "128", "-m", "latent_dim=4",
                 "--no-fd", "--no-progress", "--out", str(out)]) is None
    rows = json.loads((out / "sweep.json").read_text())
    assert [r["beta"] for r in rows] == [0.5, 4.0]
    assert rows[0]["rate_kl"] > rows[1]["rate_kl"]  # a larger beta buys a lower rate
    assert (out / "rate_distortion.png").exists() and (out / "beta_grid.png").exists()
    assert "| 0.5 |" in (out / "report.md").read_text() and (out / "report.html").exists()
    row = out / "rows" / "beta-4.json"
    made_at = row.stat().st_mtime_ns
    assert main(["sweep", "beta", "--values", "0.5,4", "--epochs", "2", "--batch-size", "128", "-m", "latent_dim=4",
                 "--no-fd", "--no-progress", "--out", str(out)]) is None
    assert row.stat().st_mtime_ns == made_at                 # the row reused: its run's weights are the same
    code, _, err = run_cli(["sweep", "beta", "--values", "4", "--epochs", "3", "-m", "latent_dim=4", "--no-fd",
                            "--no-progress", "--out", str(out)], capsys)
    assert code != 0 and "-t epochs=3" in err and "--rerun" in err, err   # another sweep's folder, refused
    code, _, err = run_cli(["sweep", "beta", "--values", "a,b"], capsys)
    assert code == 2 and "comma-separated floats" in err


def test_features_build(capsys):
    assert main(["features", "build", "--dataset", "digits"]) is None
    out = capsys.readouterr().out
    assert "test accuracy 0.9" in out and "digits judge v1" in out and "validation: passed" in out
    assert "the mean training image" in out
    code, _, err = run_cli(["features", "build", "--dataset", "swissroll"], capsys)
    assert code == 2 and "not an image dataset" in err
    # a cached classifier made with another recipe is refused, and rebuilt with --rerun
    from aeflow.runs.features import extractor_dir

    config = extractor_dir("digits") / "config.yaml"
    config.write_text(config.read_text().replace("epochs: 15", "epochs: 14"))
    code, _, err = run_cli(["features", "build", "--dataset", "digits"], capsys)
    assert code == 2 and "does not match this version's recipe" in err and "--rerun" in err
    assert main(["features", "build", "--dataset", "digits", "--rerun"]) is None
    assert "epochs: 15" in config.read_text()


def test_help_version_and_usage_errors_answer_without_loading_torch():
    for args in (["--help"], ["--version"], ["train", "--help"], ["lineage", "--budget", "nope"]):
        code = (f"import sys\nfrom aeflow.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
                "assert 'torch' not in sys.modules, 'torch was imported'\n")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (args, result.stderr)


def test_train_says_what_to_run_next_and_resume_says_where_it_continues(tmp_path, capsys):
    out = tmp_path / "vae"
    main(["train", "vae", "-m", "hidden=[16]", "-m", "latent_dim=2", "--epochs", "1", "--batch-size", "64",
          "--train-subset", "128", "--no-progress", "--out", str(out)])
    printed = capsys.readouterr().out
    assert f"aeflow sample {out}" in printed and f"aeflow latent {out}" in printed and "aeflow explore" in printed
    (out / "model.safetensors").unlink()
    (out / "summary.json").unlink()
    main(["train", "--resume", "--out", str(out)])   # what an interrupted run says to type: MODEL left out
    assert "after its last epoch (1): nothing left to train" in capsys.readouterr().err
    assert (out / "summary.json").exists()
    code, _, err = run_cli(["train", "gan", "--resume", "--out", str(out)], capsys)
    assert code == 2 and err.strip() == (f"aeflow: error: {out} holds a vae run, not gan: continue it with `aeflow "
                                         f"train --resume --out {out}` (MODEL may be left out), or start gan with "
                                         "another --out")


@pytest.mark.parametrize("option, message", [
    ("loss_weights={kl: [5]}", "train.loss_weights.kl must be a mapping of WeightSchedule fields, got [5]"),
    ("loss_weights={kl: -1}", "a loss weight must be >= 0, got start 0.0, end -1.0"),
    ("loss_weights={kll: {kind: linear}}", "has no weighted term kll; its terms: kl"),
])
def test_bad_loss_weight_schedules_are_refused_by_name(tmp_path, capsys, option, message):
    code, _, err = run_cli(["train", "vae", "-m", "hidden=[16]", "--epochs", "1", "--train-subset", "128",
                            "--batch-size", "64", "-t", option, "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_number_is_a_constant_loss_weight(tmp_path, capsys):
    main(["train", "vae", "-m", "hidden=[16]", "--epochs", "1", "--train-subset", "128", "--batch-size", "64", "-t",
          "loss_weights={kl: 5}", "--out", str(tmp_path / "run")])
    config = load_config(tmp_path / "run")
    assert WeightSchedule.parse(config.train.loss_weights["kl"], "kl").value(0.3) == 5


def test_a_refused_folder_is_one_line_with_the_path(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(["train", "pca", "-m", "n_components=2", "--out", str(blocker / "run")], capsys)
    assert code == 2 and "is a file, so nothing can be written under it" in err and str(blocker) in err
    assert len(err.strip().splitlines()) == 1


def test_samplers_command_lists_the_registry_with_options(capsys):
    assert main(["samplers"]) is None
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["ddpm", "ddim", "direct", "euler", "midpoint", "heun", "adaptive"]
    assert "steps=10, shift=1.0, churn=0.0" in lines[3]


def test_explore_refuses_a_missing_folder_in_one_line(tmp_path, capsys):
    code, _, err = run_cli(["explore", str(tmp_path / "nowhere"), "--no-browser"], capsys)
    assert code == 2 and "does not exist" in err


def test_a_ctrl_c_inside_a_finaliser_still_stops_the_command_in_one_line():
    """Python cannot raise out of a `__del__`; left alone it prints a traceback and the command carries on."""
    script = """
import os, signal, sys, threading, time
import click
from aeflow import cli

class SlowToFinalise:
    def __del__(self):
        time.sleep(0.5)

@click.command()
def finalise():
    threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
    del_me = SlowToFinalise()
    del del_me
    time.sleep(2)
    print("carried on", file=sys.stderr)

cli.cli.add_command(finalise)
cli.main(["finalise"])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130
    assert "Traceback" not in done.stderr and "carried on" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("aeflow: interrupted (Ctrl-C)")


def test_a_ctrl_c_inside_a_librarys_import_is_taken_once_the_import_has_finished(tmp_path):
    """torch's import runs Python code from C++: a KeyboardInterrupt raised there aborts the process (SIGABRT)."""
    (tmp_path / "slowlib.py").write_text("import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\n"
                                         "time.sleep(0.3)\nLOADED = True\n")
    script = """
import sys, time
import click
from aeflow import cli

@click.command()
def load():
    import slowlib
    print("imported whole:", slowlib.LOADED, file=sys.stderr)
    time.sleep(5)
    print("carried on", file=sys.stderr)

cli.cli.add_command(load)
cli.main(["load"])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 130, done.stderr
    assert "imported whole: True" in done.stderr and "carried on" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("aeflow: interrupted (Ctrl-C)")


def test_a_ctrl_c_is_not_deferred_when_the_command_itself_runs_inside_an_import(tmp_path):
    """A module that runs the command at import time (a user's tool) is not an import the command started."""
    (tmp_path / "usertool.py").write_text("""
import os, signal, sys, threading, time
import click
from aeflow import cli

@click.command()
def wait():
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    time.sleep(5)
    print("carried on", file=sys.stderr)

cli.cli.add_command(wait)
cli.main(["wait"])
""")
    done = subprocess.run([sys.executable, "-c", "import usertool"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 130, done.stderr
    assert "carried on" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("aeflow: interrupted (Ctrl-C)")
