import json
import os
import signal

import pytest
import torch

import aeflow
from aeflow.errors import TrainingError
from aeflow.models.autoencoder import Autoencoder
from aeflow.training import Interrupted
from aeflow.training.schedules import warmup_cosine

SMALL = {"hidden": [32], "code_dim": 4}


def small_config(**train):
    return aeflow.make_config("autoencoder", "digits", SMALL,
                              {"epochs": 2, "batch_size": 64, "lr": 3e-3, "progress": False, **train})


def weights(run):
    return aeflow.load(run).state_dict()


def test_loss_decreases_on_digits(tmp_path):
    run = aeflow.train(small_config(epochs=4), tmp_path / "run")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 4
    assert metrics[-1]["test/loss"] < 0.8 * metrics[0]["test/loss"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_recon_error"] == pytest.approx(metrics[-1]["test/sq_err"], rel=1e-4)
    for name in ("config.yaml", "model.safetensors", "checkpoint.safetensors", "reconstructions.png", "loss_curve.png"):
        assert (run / name).exists(), name


def test_training_is_deterministic_and_loads_back(tmp_path):
    a = aeflow.train(small_config(), tmp_path / "a")
    b = aeflow.train(small_config(), tmp_path / "b")
    for k, v in weights(a).items():
        assert torch.equal(v, weights(b)[k]), k
    model = aeflow.load(a)
    x = aeflow.load_dataset("digits").test_x[:8]
    again = aeflow.load(a)
    assert torch.equal(model.reconstruct(x), again.reconstruct(x))


@pytest.mark.parametrize("stop_at_call", [5, 22])  # mid-epoch 1, and mid-epoch 2
def test_interrupt_then_resume_gives_identical_weights(tmp_path, monkeypatch, stop_at_call):
    straight = aeflow.train(small_config(), tmp_path / "straight")

    calls = {"n": 0}
    original = Autoencoder.loss

    def loss_then_ctrl_c(self, x):
        calls["n"] += 1
        if calls["n"] == stop_at_call and self.training:
            os.kill(os.getpid(), signal.SIGINT)  # as a user's Ctrl-C: the step finishes, then it stops
        return original(self, x)

    monkeypatch.setattr(Autoencoder, "loss", loss_then_ctrl_c)
    with pytest.raises(Interrupted, match="checkpoint saved in"):
        aeflow.train(small_config(), tmp_path / "resumed")
    assert not (tmp_path / "resumed" / "model.safetensors").exists()
    monkeypatch.setattr(Autoencoder, "loss", original)
    resumed = aeflow.train(aeflow.RunConfig(), tmp_path / "resumed", resume=True)
    for k, v in weights(straight).items():
        assert torch.equal(v, weights(resumed)[k]), k
    assert (straight / "metrics.jsonl").read_text().count("\n") == (resumed / "metrics.jsonl").read_text().count("\n")


def test_extending_a_finished_constant_rate_run_equals_the_longer_run(tmp_path):
    constant = {"warmup_epochs": 0.0, "final_lr_fraction": 1.0}
    straight = aeflow.train(small_config(epochs=3, **constant), tmp_path / "straight")
    aeflow.train(small_config(epochs=2, **constant), tmp_path / "extended")
    extended = aeflow.extend(tmp_path / "extended", 3)
    for k, v in weights(straight).items():
        assert torch.equal(v, weights(extended)[k]), k
    assert (extended / "metrics.jsonl").read_text().count("\n") == 3
    with pytest.raises(aeflow.ConfigError, match="already has 3"):
        aeflow.extend(extended, 3)


def test_extending_a_decaying_rate_run_is_refused(tmp_path):
    run = aeflow.train(small_config(epochs=1), tmp_path / "run")
    with pytest.raises(aeflow.ConfigError, match="decays its learning rate.*start a new run"):
        aeflow.extend(run, 2)
    assert aeflow.RunConfig.load(run / "config.yaml").train.epochs == 1


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    original = Autoencoder.loss
    calls = {"n": 0}

    def poisoned(self, x):
        terms = original(self, x)
        calls["n"] += 1
        if self.training and calls["n"] > 30:  # epoch 1 has 22 steps: poison epoch 2
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    monkeypatch.setattr(Autoencoder, "loss", poisoned)
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 2.*checkpoint.*epoch 1\) is kept"):
        aeflow.train(small_config(), tmp_path / "run")
    model = aeflow.load(tmp_path / "run", checkpoint=True)
    assert all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())


def test_bf16_autocast_trains_as_well_as_fp32(tmp_path):
    errors = {}
    for bf16 in (False, True):
        run = aeflow.train(small_config(bf16=bf16, epochs=3), tmp_path / f"bf16-{bf16}")
        errors[bf16] = json.loads((run / "summary.json").read_text())["test_recon_error"]
    assert errors[True] == pytest.approx(errors[False], rel=0.15)


def test_fitted_model_run_folder(tmp_path):
    config = aeflow.make_config("pca", "digits", {"n_components": 10})
    run = aeflow.train(config, tmp_path / "pca")
    model = aeflow.load(run)
    assert float(model.components.abs().sum()) > 0
    assert json.loads((run / "summary.json").read_text())["test_recon_error"] > 0


def test_existing_run_folder_is_not_overwritten(tmp_path):
    aeflow.train(small_config(epochs=1), tmp_path / "run")
    with pytest.raises(aeflow.ConfigError, match="already holds a run"):
        aeflow.train(small_config(epochs=1), tmp_path / "run")


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 10, final_fraction=0.1) == pytest.approx(0.1)


def test_a_second_writer_is_refused_while_the_first_holds_the_folder(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom aeflow.runs.folder import locked\n"
                               f"with locked({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(30)\n"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(aeflow.ConfigError, match="another aeflow process is writing"):
            aeflow.train(small_config(), out)
        assert not (out / "config.yaml").exists()   # the refused writer touched nothing
    finally:
        holder.kill()
        holder.wait()
    aeflow.train(small_config(), out)   # the lock died with its holder (an OS lock, even on kill)
    assert (out / "summary.json").exists()


def test_a_run_killed_before_its_first_checkpoint_resumes_without_duplicate_lines(tmp_path):
    from aeflow.runs.folder import locked

    out = tmp_path / "run"
    config = small_config(epochs=2)
    with locked(out):   # the folder as aeflow leaves it: its marker and lock, the config, a line, a temp file
        config.save(out / "config.yaml")
        (out / "metrics.jsonl").write_text('{"epoch": 1}\n')            # written, then killed before the checkpoint
        (out / ".model.safetensors.abc.aeflow-tmp").write_text("half a write")   # a temp file a kill left
    aeflow.train(None, out, resume=True)
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2] and not list(out.glob("*.aeflow-tmp"))


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    aeflow.train(small_config(), a)
    aeflow.train(aeflow.make_config("autoencoder", "digits", {"hidden": [8], "code_dim": 3},
                                    {"epochs": 1, "batch_size": 64, "progress": False}), b)
    (b / "checkpoint.safetensors").write_bytes((a / "checkpoint.safetensors").read_bytes())
    with pytest.raises(aeflow.DataError, match="does not match the model in config.yaml"):
        aeflow.train(None, b, resume=True)


def test_leftover_temp_files_are_removed_by_the_next_writer(tmp_path):
    from aeflow.runs.folder import locked

    run = aeflow.train(small_config(), tmp_path / "run")
    (run / ".summary.json.ab12.aeflow-tmp").write_text("half of a write a kill interrupted")
    (run / "latent").mkdir()
    (run / "latent" / ".latent.json.cd34.aeflow-tmp").write_text("another")
    (run / "notes.tmp").write_text("a user's own file: not aeflow's to remove")
    nested = aeflow.train(small_config(), run / "latent" / "another-run")   # its own lock: another writer's temps
    (nested / ".x.aeflow-tmp").write_text("being written by another process")
    with locked(run):
        assert not list(run.glob("*.aeflow-tmp")) and not list((run / "latent").glob("*.aeflow-tmp"))
    assert (run / "notes.tmp").exists() and (nested / ".x.aeflow-tmp").exists()
    assert aeflow.load(run) is not None


def test_snapshots_keep_the_weights_after_the_epochs_asked_for(tmp_path):
    from aeflow.files import read_tensors
    from aeflow.runs.train import snapshot_path

    options = {"hidden": [16], "code_dim": 2}
    config = aeflow.make_config("autoencoder", "digits", options,
                                {"epochs": 3, "progress": False, "snapshot_epochs": [1, 2], "final_lr_fraction": 1.0})
    run = aeflow.ensure(config, tmp_path / "run")
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == ["epoch-0001.safetensors", "epoch-0002.safetensors"]
    shorter = aeflow.ensure(aeflow.make_config("autoencoder", "digits", options, {"epochs": 2, "progress": False,
                                                                                  "final_lr_fraction": 1.0}),
                            tmp_path / "two-epochs")
    assert all(torch.equal(v, aeflow.load(shorter).state_dict()[k])
               for k, v in read_tensors(snapshot_path(run, 2))[0].items())   # the run as it was after epoch 2
    with pytest.raises(aeflow.ConfigError, match="snapshot_epochs"):
        aeflow.make_config("autoencoder", "digits", options, {"epochs": 3, "snapshot_epochs": [4]})


def test_a_time_limit_ends_training_inside_an_epoch_and_the_run_is_finished(tmp_path, monkeypatch):
    import time

    original = Autoencoder.loss

    def slow_loss(self, x):   # 20 ms a step or more: a 0.2 s limit falls inside the first epoch (22 steps)
        if self.training:
            time.sleep(0.02)
        return original(self, x)

    monkeypatch.setattr(Autoencoder, "loss", slow_loss)
    config = small_config(epochs=3, max_train_seconds=0.2)
    run = aeflow.ensure(config, tmp_path / "run")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps_per_epoch = len(aeflow.load_dataset("digits").train_x) // 64
    assert len(metrics) == 1 and 1 <= metrics[0]["step"] < steps_per_epoch
    assert 0.2 <= metrics[0]["train_time"] < 1.0   # one step past the limit at most
    assert 0 < metrics[0]["train/loss"] < 2 * metrics[0]["test/loss"]   # averaged over the steps taken
    assert aeflow.ensure(config, tmp_path / "run") == run and (run / "metrics.jsonl").read_text().count("\n") == 1
    with pytest.raises(aeflow.ConfigError, match="max_train_seconds"):
        small_config(max_train_seconds=-1)


def test_compile_traces_the_loss_and_trains_the_same_weights(tmp_path, monkeypatch):
    """--compile puts every phase's loss through torch.compile. Dynamo's capture is what aeflow wires; the
    "eager" backend runs the captured graph without inductor's C++ build (a minute on this CPU)."""
    compiled, real = [], torch.compile

    def capture(module, **kwargs):
        compiled.append(module)
        return real(module, backend="eager")

    monkeypatch.setattr(torch, "compile", capture)
    plain = aeflow.train(small_config(), tmp_path / "plain")
    assert not compiled
    run = aeflow.train(small_config(compile=True), tmp_path / "compiled")
    assert len(compiled) == 1 and "compile: true" in (run / "config.yaml").read_text()
    for k, v in weights(run).items():
        torch.testing.assert_close(v, weights(plain)[k], rtol=1e-5, atol=1e-6)


def test_channels_last_memory_trains_the_same_weights(tmp_path, monkeypatch):
    """On a GPU a convolutional model trains in channels-last memory; forced here on the CPU, it must be the
    same run to float tolerance, with the weights and images really in that layout."""
    from aeflow.training import trainer

    config = aeflow.make_config("conv-ae", "digits", {}, {"epochs": 1, "batch_size": 64, "progress": False},
                                train_subset=256)
    plain = aeflow.train(config, tmp_path / "plain")
    seen = []

    def forced(model, device):
        seen.append(model)
        return True

    monkeypatch.setattr(trainer, "channels_last", forced)
    run = aeflow.train(config, tmp_path / "nhwc")
    conv = next(m for m in seen[0].modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and conv.weight.shape[-1] > 1
    for k, v in weights(run).items():
        torch.testing.assert_close(v, weights(plain)[k], rtol=1e-4, atol=1e-5)
