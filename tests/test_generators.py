"""The noise-to-data families end to end on tiny networks: training, sampling, run folders, GAN phases,
EMA, reflow and latent flow."""

import json
import os
import signal

import numpy as np
import pytest
import torch

import aeflow
from aeflow.cli import main
from aeflow.models import GAN
from aeflow.models.registry import build_model
from aeflow.nn.ema import EMA
from aeflow.runs.parents import saved_batches
from aeflow.samplers import choose_sampler, generate
from aeflow.training import Interrupted
from aeflow.training.checkpoint import save_weights

TINY_UNET = {"channels": [8, 16]}
TINY_MLP = {"network": "mlp", "hidden": [64, 64]}
FAST = {"epochs": 1, "batch_size": 64, "progress": False}


def sample_with(model, n, generator, sampler=None, steps=None, batch_size=None, **options):
    """(images, NFE) from a model through the sampler layer, the way the CLI and the run layer sample."""
    return generate(model, n, choose_sampler(model, sampler, {"steps": steps, **options}), generator, batch_size)


def tiny_run(tmp_path, model, options, name="run", **train):
    config = aeflow.make_config(model, "digits", options, {**FAST, **train}, train_subset=256)
    return aeflow.train(config, tmp_path / name)


@pytest.mark.parametrize("model,options,sampler,steps", [
    ("ddpm", {**TINY_UNET, "timesteps": 50, "schedule": "cosine"}, "ddim", 5),
    ("ddpm", {**TINY_MLP, "prediction": "v", "schedule": "cosine", "min_snr_gamma": 5.0}, "ddpm", None),
    ("flow", TINY_UNET, "heun", 3),
    ("flow", {**TINY_MLP, "ot_coupling": True, "time_sampling": "logit_normal"}, "euler", 4),
    ("onestep", TINY_MLP, "direct", None),
    ("gan", {"channels": [16, 8], "latent_dim": 8}, "direct", None),
])
def test_generator_trains_samples_and_loads_back(tmp_path, model, options, sampler, steps):
    run = tiny_run(tmp_path, model, options)
    loaded = aeflow.load(run)
    images, nfe = sample_with(loaded, 6, torch.Generator().manual_seed(3), sampler, steps)
    again, _ = sample_with(aeflow.load(run), 6, torch.Generator().manual_seed(3), sampler, steps)
    assert images.shape == (6, 1, 8, 8) and 0 <= float(images.min()) and float(images.max()) <= 1
    torch.testing.assert_close(images, again)  # a seed gives the same samples from a reloaded run
    expected_nfe = {"ddim": steps, "ddpm": 1000, "heun": 2 * (steps or 0) - 1, "euler": steps, "direct": 1}[sampler]
    assert nfe == expected_nfe
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(v)) for k, v in metrics[-1].items() if k.startswith("test/"))


def test_deterministic_samples_do_not_depend_on_the_batch_size():
    torch.manual_seed(0)
    flow = build_model("flow", TINY_UNET, (1, 8, 8))
    whole, nfe = sample_with(flow, 10, torch.Generator().manual_seed(1), "euler", 3, batch_size=10)
    batched, _ = sample_with(flow, 10, torch.Generator().manual_seed(1), "euler", 3, batch_size=4)
    torch.testing.assert_close(whole, batched)  # one noise stream, whatever the batches
    assert nfe == 3 and flow.training  # sampled in eval mode, then put back


def test_flow_refuses_bad_fixed_step_options_from_python():
    flow = build_model("flow", TINY_UNET, (1, 8, 8))
    for options, message in (({"sampler": "adaptive", "churn": 1.0}, "no option churn"),
                             ({"sampler": "euler", "churn": -1.0}, "churn must be >= 0"),
                             ({"sampler": "euler", "shift": 0.0}, "shift must be > 0")):
        with pytest.raises(aeflow.ConfigError, match=message):
            sample_with(flow, 2, torch.Generator().manual_seed(0), steps=2, **options)
    churned, _ = sample_with(flow, 4, torch.Generator().manual_seed(0), "euler", 3, churn=2.0)
    plain, _ = sample_with(flow, 4, torch.Generator().manual_seed(0), "euler", 3)
    assert not torch.allclose(churned, plain)  # the churn reached the sampler


def test_pseudo_huber_velocity_loss_is_trained_on_and_the_squared_error_still_logged():
    x = aeflow.load_dataset("digits").train_x[:32]
    losses = {}
    for kind in ("squared", "pseudo_huber"):
        torch.manual_seed(0)  # same weights, noise and times for both
        losses[kind] = build_model("flow", {**TINY_MLP, "velocity_loss": kind}, (1, 8, 8)).loss({"x": x})
    squared, huber = losses["squared"], losses["pseudo_huber"]
    torch.testing.assert_close(huber["mse"], squared["mse"])
    # mean of per-example |e| (minus c) is below sqrt of the mean |e|^2 (Jensen), far below the squared loss
    assert 0 < huber["loss"] < squared["mse"].sqrt() < squared["loss"] and huber["loss"].requires_grad


def test_onestep_learns_the_blurry_average():
    torch.manual_seed(0)
    data = aeflow.load_dataset("digits")
    model = build_model("onestep", TINY_MLP, data.shape)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss = model.loss({"x": data.train_x[torch.randint(0, len(data.train_x), (128,))]})["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    samples, _ = sample_with(model, 200, torch.Generator().manual_seed(0))
    mean_image = data.train_x.mean(0)
    assert (samples - mean_image).pow(2).flatten(1).sum(1).mean() < 0.2 * (data.train_x - mean_image).pow(2).flatten(
        1).sum(1).mean()  # samples sit near the mean image: far less spread than the data


def test_gan_phases_update_only_their_own_player():
    torch.manual_seed(0)
    gan = build_model("gan", {"channels": [16, 8], "latent_dim": 8}, (1, 8, 8))
    x = aeflow.load_dataset("digits").train_x[:32]
    for phase, moved, kept in (("discriminator", gan.discriminator, gan.generator),
                               ("generator", gan.generator, gan.discriminator)):
        gan.zero_grad()
        gan.loss({"x": x}, phase=phase)["loss"].backward(inputs=gan.phase_parameters(phase))
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in moved.parameters() if p.ndim > 1)
        assert all(p.grad is None for p in kept.parameters())
    terms = gan.loss({"x": x})
    assert {"d_loss", "g_loss", "D(x)", "D(G(z))"} <= set(terms)
    d_fake = torch.tensor([-3.0, 0.0, 3.0])
    torch.testing.assert_close(gan._generator_loss(d_fake), -torch.log(torch.sigmoid(d_fake)).mean())
    gan.config.loss = "minimax"
    torch.testing.assert_close(gan._generator_loss(d_fake), torch.log(1 - torch.sigmoid(d_fake)).mean())


def test_gan_run_logs_both_players_and_writes_fixed_noise_grids(tmp_path):
    run = tiny_run(tmp_path, "dcgan", {"channels": [16, 8], "latent_dim": 8}, epochs=2, batch_size=32)
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("train/d_loss", "train/g_loss", "train/D(x)", "train/D(G(z))"):
        assert key in last
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]


def test_ema_warms_up_and_its_average_is_the_saved_model(tmp_path):
    model = torch.nn.Linear(2, 1)
    ema = EMA(model, 0.999)
    assert ema.decay_at(0) == pytest.approx(0.1) and ema.decay_at(10**6) == 0.999
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model, 0)  # decay 0.1 at step 0: the average moves 90% of the way to the new weights
    torch.testing.assert_close(ema.shadow["weight"], 0.1 * start + 0.9 * model.weight.detach())
    with ema.applied(model):
        assert torch.equal(model.weight, ema.shadow["weight"])
    assert torch.equal(model.weight, torch.ones_like(model.weight))
    frozen = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    frozen[0].requires_grad_(False)
    assert EMA(frozen, 0.9).averaged == ["1.weight", "1.bias"]  # frozen weights are not re-averaged each step
    run = tiny_run(tmp_path, "flow", TINY_MLP, ema_decay=0.9)
    from aeflow.training.checkpoint import read_tensors

    tensors, _ = read_tensors(run / "checkpoint.safetensors")
    saved = aeflow.load(run).state_dict()
    for k, v in saved.items():
        assert torch.equal(v, tensors[f"ema.{k}"])  # model.safetensors holds the average
    assert any(not torch.equal(v, tensors[f"model.{k}"]) for k, v in saved.items())  # not the trained weights


def test_interrupted_gan_with_ema_resumes_to_identical_weights(tmp_path, monkeypatch):
    options = {"channels": [16, 8], "latent_dim": 8}
    straight = tiny_run(tmp_path, "gan", options, name="straight", epochs=2, batch_size=32, ema_decay=0.9)
    calls = {"n": 0}
    original = GAN.loss

    def loss_then_ctrl_c(self, x, phase=None):
        calls["n"] += 1
        if calls["n"] == 13 and self.training:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, x, phase)

    monkeypatch.setattr(GAN, "loss", loss_then_ctrl_c)
    with pytest.raises(Interrupted):
        tiny_run(tmp_path, "gan", options, name="resumed", epochs=2, batch_size=32, ema_decay=0.9)
    monkeypatch.setattr(GAN, "loss", original)
    aeflow.train(None, tmp_path / "resumed", resume=True)
    a, b = aeflow.load(straight).state_dict(), aeflow.load(tmp_path / "resumed").state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_reflow_trains_on_the_teachers_pairs(tmp_path):
    teacher = tiny_run(tmp_path, "flow", TINY_MLP, name="teacher")
    student = tiny_run(tmp_path, "flow", {**TINY_MLP, "reflow_from": str(teacher), "reflow_pairs": 128,
                                          "reflow_steps": 4, "time_sampling": "u_shaped",
                                          "velocity_loss": "pseudo_huber"}, name="student")
    from aeflow.files import read_tensors
    from aeflow.samplers import SAMPLERS

    pairs, _ = read_tensors(student / "training-data.safetensors")
    samples, noise = pairs["train.x"], pairs["train.noise"]
    assert samples.shape == noise.shape == (128, 1, 8, 8)
    teacher_model = aeflow.load(teacher)
    heun = SAMPLERS["heun"]  # each pair is the teacher's ODE map of its noise
    x1, _ = heun().run(teacher_model, noise[:5], heun.options({"steps": 4}))
    torch.testing.assert_close(samples[:5], (x1 + 1) / 2, rtol=1e-4, atol=1e-4)


def test_latent_flow_runs_in_a_frozen_autoencoders_code_space(tmp_path):
    ae = tiny_run(tmp_path, "vae", {"hidden": [32], "latent_dim": 4}, name="vae", epochs=2)
    run = tiny_run(tmp_path, "latent-flow", {"autoencoder_run": str(ae), "process_config": {"hidden": [32, 32]}},
                   name="latent")
    model = aeflow.load(run)
    assert model.code_dim == 4 and model.compression == 16.0
    vae = aeflow.load(ae)
    for k, v in vae.state_dict().items():  # the autoencoder was not trained further
        assert torch.equal(model.autoencoder.state_dict()[k], v)
    images, nfe = sample_with(model, 5, torch.Generator().manual_seed(0), "euler", 3)
    assert images.shape == (5, 1, 8, 8) and nfe == 3
    codes = model.encode_images(aeflow.load_dataset("digits").train_x[:256])
    torch.testing.assert_close(model.code_mean, codes.mean(0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("process, sampler, options", [("flow", "heun", ["--steps", "3"]),
                                                       ("ddpm", "ddim", ["--steps", "5", "--eta", "1"])])
def test_latent_generators_over_a_plain_autoencoders_codes_conform_and_sample(tmp_path, process, sampler, options):
    """The lineage's latent chapter: flow matching or DDPM over a deterministic autoencoder's codes (no prior of
    its own), checked as every family is, and sampled by `aeflow sample`."""
    ae = tiny_run(tmp_path, "autoencoder", {"hidden": [32], "code_dim": 4}, name="ae", epochs=2)
    run = tiny_run(tmp_path, "latent-flow", {"autoencoder_run": str(ae), "process": process,
                                             "process_config": {"hidden": [16]}}, name=f"latent-{process}")
    model = aeflow.load(run)
    codes = {k: v[:6] for k, v in saved_batches(run)[0].items()}   # what its loss trains on: the standardised codes
    assert "NoiseToData" in aeflow.check_model(model, aeflow.load_dataset("digits").test_x[:6], codes)
    main(["sample", str(run), "--sampler", sampler, *options, "--n", "20"])
    images = np.load(next(run.glob(f"samples-{sampler}-*.npy")))
    assert images.shape == (20, 1, 8, 8) and 0 <= images.min() <= images.max() <= 1


def test_cli_sample_and_steps_sweep(tmp_path, capsys):
    run = tiny_run(tmp_path, "flow", TINY_MLP)
    main(["sample", str(run), "--sampler", "midpoint", "--steps", "2", "--n", "20"])
    assert (run / "samples-midpoint-2.npy").exists() and (run / "samples-midpoint-2.png").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", str(run), "--sampler", "ddim"])
    assert exit_info.value.code == 2
    assert "cannot be sampled with ddim; its samplers: euler, midpoint, heun, adaptive" in capsys.readouterr().err
    for args, message in ((["--eta", "0.5"], "the heun sampler has no option eta (its options: churn, shift, steps"),
                          (["--prior", "gmm"], "the gmm prior does not apply to flow"),
                          (["--sampler", "adaptive", "--shift", "3", "--churn", "1"],
                           "the adaptive sampler has no option churn, shift (its options: atol, rtol"),
                          (["--shift", "0"], "shift must be > 0, got 0.0"),
                          (["--churn", "-1"], "churn must be >= 0, got -1.0"),
                          (["--steps", "0"], "Invalid value for '--steps': 0 is not in the range x>=1")):
        with pytest.raises(SystemExit) as exit_info:
            main(["sample", str(run), *args])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    vae = tiny_run(tmp_path, "vae", {"hidden": [16], "latent_dim": 2}, name="vae")
    for args, message in ((["sample", str(vae), "--sampler", "ddim"], "vae draws from its own N(0, I) prior"),
                          (["sweep", "steps", str(vae)], "the vae family, which has no samplers to sweep")):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    main(["sweep", "steps", str(run), "--steps", "1,2", "--samplers", "euler", "--n", "50"])
    rows = json.loads((run / "steps-sweep" / "steps_sweep.json").read_text())
    assert [(r["sampler"], r["nfe"]) for r in rows] == [("euler", 1), ("euler", 2)]
    from dataclasses import fields

    from aeflow.eval.rows import GeneratorRow
    assert all({f.name for f in fields(GeneratorRow)} <= set(r) for r in rows)   # the one row, as the lineage's
    assert (run / "steps-sweep" / "fd_vs_nfe.png").exists()
    main(["sweep", "steps", str(run), "--steps", "1", "--samplers", "heun", "--n", "50"])
    merged = json.loads((run / "steps-sweep" / "steps_sweep.json").read_text())
    assert [(r["sampler"], r["nfe"]) for r in merged] == [("euler", 1), ("euler", 2), ("heun", 1)]  # accumulated
    model = aeflow.load(run)
    with torch.no_grad():
        next(model.parameters()).add_(0.1)  # as if trained further: the earlier rows are stale
    save_weights(model, run / "model.safetensors")
    main(["sweep", "steps", str(run), "--steps", "1", "--samplers", "heun", "--n", "50"])
    fresh = json.loads((run / "steps-sweep" / "steps_sweep.json").read_text())
    assert [(r["sampler"], r["nfe"]) for r in fresh] == [("heun", 1)] and fresh[0]["fd"] != merged[2]["fd"]
    main(["sweep", "steps", str(run), "--steps", "2", "--samplers", "euler,adaptive", "--shift", "3", "--n", "50"])
    shifted = json.loads((run / "steps-sweep-shift3" / "steps_sweep.json").read_text())
    assert [(r["sampler"], r.get("shift")) for r in shifted] == [("euler", 3.0), ("adaptive", None)]
    assert shifted[0]["fd"] != rows[1]["fd"]  # other times, other samples
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "steps", str(run), "--samplers", "adaptive", "--shift", "3", "--n", "50"])
    assert exit_info.value.code == 2 and "none of the samplers adaptive takes it" in capsys.readouterr().err
    main(["sweep", "steps", str(run), "--steps", "2", "--samplers", "euler", "--churn", "0.5", "--n", "50"])
    churned = json.loads((run / "steps-sweep-churn0.5" / "steps_sweep.json").read_text())
    assert [(r["sampler"], r["churn"], r["nfe"]) for r in churned] == [("euler", 0.5, 2)]
    assert churned[0]["fd"] != rows[1]["fd"]  # fresh noise at each step, other samples
    main(["sample", str(run), "--sampler", "euler", "--steps", "2", "--churn", "0.5", "--n", "20"])
    assert (run / "samples-euler-2-churn0.5.npy").exists()


def test_derived_training_data_is_made_once_and_reused(tmp_path, monkeypatch):
    from aeflow.models import LatentGenerator
    from aeflow.runs.parents import derived_batches, embed_parents

    ae = tiny_run(tmp_path, "vae", {"hidden": [32], "latent_dim": 4}, name="vae")
    run = tiny_run(tmp_path, "latent-flow", {"autoencoder_run": str(ae), "process_config": {"hidden": [16]}},
                   name="latent")
    model = aeflow.load(run)

    def refuse(*args):
        raise AssertionError("derived again instead of read from the run folder")

    monkeypatch.setattr(LatentGenerator, "encode_images", refuse)
    options = {"autoencoder_run": str(ae), "process_config": {"hidden": [16]}}
    config = aeflow.make_config("latent-flow", "digits", options)
    embed_parents(config)
    fresh = build_model("latent-flow", config.model_config, (1, 8, 8))
    train_batch, test_batch = derived_batches(fresh, aeflow.load_dataset("digits").subset_train(256), run)
    train_codes, test_codes = train_batch["x"], test_batch["x"]
    assert train_codes.shape == (256, 4) and test_codes.shape[1] == 4
    torch.testing.assert_close(fresh.code_mean, model.code_mean)  # the buffers come back with the data
