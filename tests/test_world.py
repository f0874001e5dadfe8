"""One run in two processes (torchrun, gloo on the CPU): the same run as one process with the same global batch,
resumable to the run that was never interrupted, and refused where it cannot be exact."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from aeflow.files import read_tensors

SMALL_AE = ["autoencoder", "-m", "hidden=[32]", "-m", "code_dim=4", "-m", "norm=none"]
SMALL_VAE = ["vae", "-m", "hidden=[32]", "-m", "latent_dim=4"]
# Float sums in another order (two half-batch gradients averaged, not one batch's): a few ulps per step
TOLERANCE = 1e-6


def aeflow_command(args, processes=1):
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={processes}", "-m", "aeflow"]
    return [*(launcher if processes > 1 else [sys.executable, "-m", "aeflow"]), *args]


def environment():
    # one thread each: two processes on two cores; the timeout keeps a test from hanging on a dead process
    return {**os.environ, "AEFLOW_THREADS": "1", "AEFLOW_DDP_TIMEOUT": "60"}


def train(args, processes=1, check=True):
    done = subprocess.run(aeflow_command(["train", *args, "--no-progress"], processes), capture_output=True,
                          text=True, env=environment(), timeout=300)
    if check:
        assert done.returncode == 0, [line for line in done.stderr.splitlines() if "aeflow:" in line]
    return done


def weights(run):
    return read_tensors(run / "model.safetensors")[0]


def losses(run):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [(m["train/loss"], m["test/loss"]) for m in map(json.loads, lines)]


def test_two_processes_take_the_steps_of_one_with_the_same_global_batch(tmp_path):
    options = ["--epochs", "2", "--batch-size", "64"]
    one = tmp_path / "one"
    two = tmp_path / "two"
    train([*SMALL_AE, *options, "--out", str(one)])
    done = train([*SMALL_AE, *options, "--out", str(two)], processes=2)
    assert done.stdout.count("run folder:") == 1   # the main process alone reports (and writes)
    for (a_train, a_test), (b_train, b_test) in zip(losses(one), losses(two), strict=True):
        assert a_train == pytest.approx(b_train, rel=TOLERANCE) and a_test == pytest.approx(b_test, rel=TOLERANCE)
    a, b = weights(one), weights(two)
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
    summary = json.loads((two / "summary.json").read_text())
    assert summary["processes"] == 2


def test_an_interrupted_two_process_run_resumes_to_the_uninterrupted_one(tmp_path):
    """A VAE draws noise in its loss: each process's random state must be in the checkpoint."""
    options = [*SMALL_VAE, "--epochs", "40", "--batch-size", "64", "--train-subset", "512", "-t", "ema_decay=0.9"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train([*options, "--out", str(straight)], processes=2)
    run = subprocess.Popen(aeflow_command(["train", *options, "--no-progress", "--out", str(stopped)], 2),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(),
                           start_new_session=True)
    deadline = time.monotonic() + 120
    while not (stopped / "checkpoint.safetensors").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGINT)   # a terminal's Ctrl-C reaches every process of the group
    _, err = run.communicate(timeout=120)
    assert run.returncode != 0 and "aeflow: interrupted at epoch" in err, err[-2000:]
    assert not (stopped / "model.safetensors").exists()
    train(["--resume", "--out", str(stopped)], processes=2)
    a, b = weights(straight), weights(stopped)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert losses(straight) == losses(stopped)

    refused = train(["--resume", "--out", str(stopped)], check=False)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"aeflow: error: {stopped} was trained in 2 process(es) and this resume runs in 1; each process's noise is "
        "in the checkpoint: resume with 2 processes in all (torchrun's --nnodes x --nproc-per-node)"]


def test_what_cannot_run_in_several_processes_is_refused_in_one_line(tmp_path):
    odd = train([*SMALL_AE, "--batch-size", "63", "--epochs", "1", "--out", str(tmp_path / "odd")], processes=2,
                check=False)
    assert odd.returncode != 0
    assert "aeflow: error: batch_size 63 does not split over 2 processes; give a multiple of 2" in odd.stderr
    vq = train(["vq-vae", "--epochs", "1", "--out", str(tmp_path / "vq")], processes=2, check=False)
    assert vq.returncode != 0
    assert ("aeflow: error: VQVAE updates state outside its gradients as it trains (see its state_outside_gradients), "
            "which each process would update apart: train it in one process") in vq.stderr
    sweep = subprocess.run([sys.executable, "-m", "aeflow", "models"], capture_output=True, text=True,
                           env={**environment(), "WORLD_SIZE": "2"})
    assert sweep.returncode == 2
    assert sweep.stderr.strip() == ("aeflow: error: `aeflow models` runs in one process; only `aeflow train` runs "
                                    "under torchrun (2 processes here): run it without torchrun")
