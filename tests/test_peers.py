"""The peers' adapters behave as the protocols they declare, aeflow's samplers on them agree with the peers' own,
and `aeflow peers --budget tiny` runs the real libraries end to end, resumes, and refuses bad input in one line."""

import json

import numpy as np
import pytest
import torch

from aeflow import check_model
from aeflow.cli import main
from aeflow.data import load_dataset

pytestmark = pytest.mark.usefixtures("peers_installed")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_every_adapter_passes_the_conformance_check(digits):
    from aeflow.peers import diffusers_models, pythae_models, torchcfm_models

    torch.manual_seed(0)
    x = digits.test_x[:6]
    adapters = {
        "pythae vae": pythae_models.adapt(pythae_models.build("vae", digits.shape, 4), digits.shape),
        "pythae ae": pythae_models.adapt(pythae_models.build("ae", digits.shape, 4), digits.shape),
        "torchcfm": torchcfm_models.TorchCFMVelocity(torchcfm_models.build(digits.shape), digits.shape),
        "diffusers": diffusers_models.DiffusersNoisePredictor(diffusers_models.build(digits.shape, (8, 16)),
                                                              diffusers_models.scheduler(), digits.shape),
    }
    checked = {name: check_model(model.eval(), x) for name, model in adapters.items()}
    assert checked == {"pythae vae": ["Encodes", "Reconstructs", "HasPosterior", "Samples"],
                       "pythae ae": ["Encodes", "Reconstructs"], "torchcfm": ["NoiseToData"],
                       "diffusers": ["NoiseToData"]}


def test_aeflow_ddim_on_the_diffusers_adapter_matches_diffusers_own_ddim(digits):
    """The adapter's schedule is the scheduler's: aeflow's DDIM (eta 0) on it gives diffusers' DDIMScheduler
    (without clipping x0, where the two differ by design: aeflow recomputes epsilon from the clipped x0)."""
    from diffusers import DDIMScheduler

    from aeflow.peers import diffusers_models
    from aeflow.samplers import choose_sampler, generate

    torch.manual_seed(0)
    unet = diffusers_models.build(digits.shape, (8, 16)).eval()
    model = diffusers_models.DiffusersNoisePredictor(unet, diffusers_models.scheduler(), digits.shape)
    model.clip = None
    ours, _ = generate(model, 3, choose_sampler(model, "ddim", {"steps": 10}), torch.Generator().manual_seed(1))
    ddim = DDIMScheduler.from_config(diffusers_models.scheduler().config, timestep_spacing="trailing",
                                     clip_sample=False)
    ddim.set_timesteps(10)
    x = torch.randn(3, *digits.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for t in ddim.timesteps:
            x = ddim.step(unet(x, t).sample, t, x, eta=0.0).prev_sample
    assert torch.allclose(ours, ((x + 1) / 2).clamp(0, 1), atol=1e-4)


def test_a_missing_peer_library_is_one_line_naming_the_install(monkeypatch, tmp_path, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchcfm" else real(name, *a))
    with pytest.raises(SystemExit) as e:
        main(["peers", "--budget", "tiny", "--only", "cfm", "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 3 and len(err) == 1 and "torchcfm is not installed" in err[0] and "--no-deps" in err[0]
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("args, message", [(["--only", "gan"], "--only"), (["--budget", "huge"], "--budget"),
                                          (["--dataset", "cifar"], "--dataset")])
def test_bad_options_are_refused_in_one_line(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["peers", *args, "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and message in err[0]


def test_tiny_peers_run_end_to_end_and_is_reused(tmp_path, capsys):
    out = tmp_path / "peers"
    main(["peers", "--budget", "tiny", "--out", str(out), "--no-progress"])
    report = json.loads((out / "report.json").read_text())
    rows = [(c["key"], r["row"]) for c in report["comparisons"] for r in c["rows"]]
    assert rows == [("vae", "prior"), ("vae", "gmm"), ("ae", "gmm"), ("cfm", "euler-20"), ("cfm", "euler-100"),
                    ("ddpm", "ddim-50"), ("ddpm", "ancestral-1000")]
    for c in report["comparisons"]:
        # The peer trains until its clock passes the budget; aeflow plans no more steps than the budget holds at
        # its measured pace (rounded down) and ends at the budget should it run slower: one step past it at most
        # (a tiny step takes milliseconds; 2 s leaves room for a loaded machine).
        assert c["sides"]["peer"]["seconds"] >= c["budget_seconds"] and c["sides"]["peer"]["steps"] > 0
        plan = json.loads((out / c["key"] / "aeflow-plan.json").read_text())
        assert 0 < c["sides"]["aeflow"]["steps"] <= c["sides"]["aeflow"]["planned_steps"] <= plan["measured_steps"]
        assert c["sides"]["aeflow"]["seconds"] < c["budget_seconds"] + 2
        assert len(c["curves"]["peer"]) == len(c["curves"]["aeflow"]) == 2   # a snapshot at half, and the end
        for row in c["rows"]:
            assert row["ratio"] == pytest.approx(row["aeflow"]["fd"] / row["peer"]["fd"])
            for side in ("peer", "aeflow"):
                samples = np.load(out / c["key"] / side / f"samples-{row['row']}.npy")
                assert samples.shape == (row[side]["n"], 1, 8, 8) and 0 <= samples.min() <= samples.max() <= 1
        for figure in c["figures"]:
            assert (out / figure["file"]).stat().st_size > 1000
    assert "ratio" in (out / "report.md").read_text() and (out / "report.html").exists()
    capsys.readouterr()
    main(["peers", "--budget", "tiny", "--out", str(out), "--no-progress"])   # everything reused
    assert capsys.readouterr().err.count("finished earlier, reused") == 4
    with pytest.raises(SystemExit) as e:
        main(["peers", "--budget", "cpu", "--out", str(out), "--no-progress"])
    assert e.value.code == 2
