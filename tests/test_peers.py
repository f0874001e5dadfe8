"""The peers' adapters behave as the protocols they declare, aeflow's samplers on them agree with the peers' own,
and `aeflow peers --budget tiny` runs the real libraries end to end, resumes, and refuses bad input in one line."""

import json

import numpy as np
import pytest
import torch

from aeflow import check_model
from aeflow.cli import main
from aeflow.data import load_dataset
from aeflow.studies.peers import PAIRS

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


# Each peer's recipe as its cited source publishes it, copied here by hand from the files named in `sources`
# (the values, not aeflow's reading of them): a recipe edited away from its source fails here.
PUBLISHED = {
    "pythae": ("examples/scripts/configs/mnist/base_training_config.json",
               {"learning_rate": 1e-3, "per_device_train_batch_size": 100, "num_epochs": 100, "latent_dim": 16,
                "reconstruction_loss": "mse", "optimizer_cls": "Adam"}),
    "torchcfm": ("examples/images/mnist_example.ipynb",
                 {"num_channels": 32, "num_res_blocks": 1, "lr": 1e-3, "batch_size": 128, "sigma": 0.0, "epochs": 3,
                  "solver": "dopri5", "atol": 1e-4, "rtol": 1e-4}),
    "diffusers": ("examples/unconditional_image_generation/train_unconditional.py",
                  {"lr": 1e-4, "betas": (0.95, 0.999), "weight_decay": 1e-6, "eps": 1e-8, "warmup_steps": 500,
                   "batch_size": 16, "grad_clip": 1.0, "ema_inv_gamma": 1.0, "ema_power": 0.75,
                   "ema_max_decay": 0.9999, "timesteps": 1000, "beta_schedule": "linear"}),
}


def test_each_peers_recipe_is_its_published_one():
    from aeflow.peers import diffusers_models, pythae_models, torchcfm_models
    from aeflow.studies.peers import PAIRS

    modules = {"pythae": pythae_models, "torchcfm": torchcfm_models, "diffusers": diffusers_models}
    for library, (source, values) in PUBLISHED.items():
        assert {k: modules[library].RECIPE[k] for k in values} == values, library
        pairs = [p for p in PAIRS.values() if p.library == library]
        assert pairs and all(source in p.sources and p.deviations for p in pairs), library
    assert torchcfm_models.MATCHERS["ot"].__name__ == "ExactOptimalTransportConditionalFlowMatcher"
    assert {p.key: p.rows[0].sampler for p in PAIRS.values() if p.library == "torchcfm"} == \
        {"cfm": "adaptive", "icfm": "adaptive"}   # dopri5 at the example's tolerances
    assert PAIRS["cfm"].rows[0].options == {"rtol": 1e-4, "atol": 1e-4}


def test_a_cell_is_reused_only_for_its_budget_and_recipe(tmp_path):
    from aeflow.studies.peers.cells import _finished

    weights = tmp_path / "weights.safetensors"
    info = {"budget_seconds": 40, "recipe": "r", "seconds": 40.1}
    assert not _finished(info, weights, 40, "r")            # no weights: not finished
    weights.write_bytes(b"x")
    assert _finished(info, weights, 40, "r")
    assert not _finished(info, weights, 15, "r")            # another budget
    assert not _finished(info, weights, 40, "another")      # another recipe
    assert not _finished({"budget_seconds": 40, "seconds": 40.3}, weights, 40, "r")   # no recipe recorded
    assert not _finished({"seconds": 40.3}, weights, 40, "r")   # an older record: its recipe cannot be checked


def test_a_cells_recipe_holds_aeflows_options_where_aeflow_is_in_the_cell(monkeypatch):
    from aeflow.data import load_dataset
    from aeflow.studies.peers.budgets import peer_budget
    from aeflow.studies.peers.cells import Cell, cell_recipe

    pair, budget, data = PAIRS["ddpm"], peer_budget("tiny"), load_dataset("digits")
    cells = [Cell(network, recipe, 1.0, 0) for network in ("peer", "aeflow") for recipe in ("peer", "aeflow")]
    before = [cell_recipe(pair, c, budget, data) for c in cells]
    options = pair.aeflow_options(budget, data)
    monkeypatch.setattr(type(pair), "aeflow_options", lambda self, b, d: ({**options[0], "channels": [8, 16]},
                                                                        options[1]))
    after = [cell_recipe(pair, c, budget, data) for c in cells]
    assert [a == b for a, b in zip(before, after)] == [True, False, False, False]   # only peer/peer is unaffected


def test_aeflows_kl_warm_up_spans_its_share_of_the_planned_epochs_and_is_part_of_the_comparisons_identity():
    from aeflow.studies.peers.budgets import peer_budget
    from aeflow.studies.peers.cells import Cell, _aeflow_config
    from aeflow.studies.peers.run import comparison_identity

    budget, data, cell = peer_budget("tiny"), load_dataset("digits"), Cell("aeflow", "aeflow", 1.0, 0)
    gaussian, bernoulli = PAIRS["vae"], PAIRS["vae-bce"]
    warm_up = _aeflow_config(gaussian, cell, budget, data, 40).train.loss_weights["kl"]
    assert (warm_up["start"], warm_up["end"], warm_up["epochs"]) == (0.0, 1.0, gaussian.aeflow_kl_warmup * 40)
    assert _aeflow_config(bernoulli, cell, budget, data, 40).train.loss_weights == {}
    identity = comparison_identity(gaussian, budget, data)
    assert identity["aeflow"]["kl_warmup"] == gaussian.aeflow_kl_warmup > 0


def test_each_flow_rows_aeflow_side_trains_with_the_peers_coupling():
    from aeflow.studies.peers.budgets import peer_budget
    from aeflow.studies.peers.cells import Cell, _aeflow_config

    budget, data, cell = peer_budget("tiny"), load_dataset("digits"), Cell("aeflow", "aeflow", 1.0, 0)
    couplings = {key: _aeflow_config(PAIRS[key], cell, budget, data, 2).model_config["ot_coupling"]
                 for key in ("cfm", "icfm")}
    assert couplings == {"cfm": True, "icfm": False}
    assert (PAIRS["cfm"].coupling, PAIRS["icfm"].coupling) == ("ot", "independent")


def test_diffusers_warm_up_keeps_the_examples_share_of_its_run():
    """500 warm-up steps of the 51,200 its README's run schedules: the same share of a budget's run (at least the
    steps timed before the share is known)."""
    from aeflow.peers.diffusers_models import STEPS_TO_TIME, scaled_warmup

    assert scaled_warmup(51_200) == 500 and scaled_warmup(102_400) == 1000
    assert scaled_warmup(900) == STEPS_TO_TIME


def test_a_row_is_won_only_beyond_the_spread_in_both_feature_spaces():
    from aeflow.studies.peers.run import side_order, spread

    def seeds(peer: list[float], ours: list[float], peer_judge: list[float], ours_judge: list[float]) -> list:
        return [{"peer": {"fd": a, "fd_judge": c}, "aeflow": {"fd": b, "fd_judge": d}}
                for a, b, c, d in zip(peer, ours, peer_judge, ours_judge)]

    apart = spread(seeds([10, 11, 12], [5, 5.5, 6], [3, 3.1, 3.2], [2, 2.1, 2.2]))
    assert apart["verdict"] == "won" and apart["stats"]["fd"]["peer"]["mean"] == pytest.approx(11)
    overlapping = spread(seeds([10, 11, 12], [9, 10.5, 11.5], [3, 3.1, 3.2], [2, 2.1, 2.2]))
    assert overlapping["verdict"] == "within the spread"          # ahead on the mean, not beyond the spread
    one_space = spread(seeds([10, 11, 12], [5, 5.5, 6], [3, 3.1, 3.2], [3, 3.2, 3.1]))
    assert one_space["verdict"] == "within the spread"            # won in one feature space only
    behind = spread(seeds([5, 5.5, 6], [10, 11, 12], [2, 2.1, 2.2], [2, 2.1, 2.2]))
    assert behind["verdict"] == "lost"
    assert spread(seeds([10], [5], [3], [2]))["verdict"] == "within the spread"   # one seed: no spread to judge by
    assert [side_order(s)[0] for s in range(4)] == ["peer", "aeflow", "peer", "aeflow"]


def test_rows_are_not_judged_when_a_side_saw_under_two_epochs():
    from aeflow.studies.peers.run import unjudged_when_short

    rows = [{"row": "gmm", "verdict": "won"}]
    sides = [{"seed": 0, "sides": {"peer": {"epochs": 2.5}, "aeflow": {"epochs": 30.0}}},
             {"seed": 1, "sides": {"peer": {"epochs": 1.9}, "aeflow": {"epochs": 31.0}}}]
    assert unjudged_when_short(rows, sides)[0]["verdict"] == "too short to judge (a side saw 1.9 epochs)"
    sides[1]["sides"]["peer"]["epochs"] = 2.0
    assert unjudged_when_short(rows, sides) == rows


def test_tiny_peers_run_end_to_end_and_is_reused(tmp_path, capsys):
    out = tmp_path / "peers"
    main(["peers", "--budget", "tiny", "--out", str(out), "--no-progress"])
    report = json.loads((out / "report.json").read_text())
    for c in report["comparisons"]:
        # the same search for both sides: every learning-rate factor (with and without the moving average for
        # the UNets), and the tuned recipe is the one of lowest validation FD
        for side, found in c["search"].items():
            grid = {(f["variant"]["lr_factor"], f["variant"]["averaged"]) for f in found}
            assert {g[0] for g in grid} == {0.3, 1.0, 3.0} and len(grid) == (6 if c["crossed"] else 3), side
            best = min(found, key=lambda f: f["fd"])["variant"]
            assert c["comparisons"]["tuned"]["recipes"][side] == best
        assert c["comparisons"]["published"]["recipes"]["peer"]["lr_factor"] == 1.0
        assert c["validation"]["images"] == 51 and c["training_images"] == 461
        for compared in c["comparisons"].values():
            assert [r["row"] for r in compared["rows"]] == [r.key for r in PAIRS[c["key"]].rows]
            assert [s["order"][0] for s in compared["by_seed"]] == ["peer", "aeflow"]
            for seeded in compared["by_seed"]:
                sides = seeded["sides"]
                # The peer trains until its clock passes the budget; aeflow plans no more steps than the budget
                # holds at its measured pace (rounded down) and ends at the budget should it run slower: one step
                # past it at most (a tiny step takes milliseconds; 2 s leaves room for a loaded machine).
                assert sides["peer"]["seconds"] >= c["budget_seconds"] and sides["peer"]["steps"] > 0
                assert 0 < sides["aeflow"]["steps"] <= sides["aeflow"]["planned_steps"]
                assert sides["aeflow"]["seconds"] < c["budget_seconds"] + 2
                assert sides["peer"]["threads"] == sides["aeflow"]["threads"] >= 1
                assert sides["peer"]["images_seen"] > 0 and sides["aeflow"]["epochs"] > 0
            short = min(i["epochs"] for seeded in compared["by_seed"] for i in seeded["sides"].values()) < 2
            for row in compared["rows"]:
                assert len(row["seeds"]) == 2
                assert row["verdict"].startswith("too short") if short else \
                    row["verdict"] in ("won", "lost", "within the spread")
                for space in ("fd", "fd_judge"):
                    assert len(row["stats"][space]["peer"]["values"]) == 2
                assert row["ratio"] == pytest.approx(row["aeflow"]["fd"] / row["peer"]["fd"])
        if c["crossed"]:   # the 2x2: each network under each recipe, at every seed
            cells = {(x["network"], x["recipe"]): x for x in c["crossed"]["cells"]}
            assert set(cells) == {(n, r) for n in ("peer", "aeflow") for r in ("peer", "aeflow")}
            assert all(len(x["stats"]["fd"]["values"]) == 2 for x in cells.values())
            published = c["comparisons"]["published"]["rows"]
            selection = next(r for r in published if r["label"] == c["crossed"]["row"])
            assert cells["peer", "peer"]["stats"]["fd"]["values"] == selection["stats"]["fd"]["peer"]["values"]
        assert len(c["curves"]["peer"]) == len(c["curves"]["aeflow"]) == 2   # a snapshot at half, and the end
        samples = sorted((out / c["key"] / "samples").glob("*.npy"))
        assert samples and all(np.load(f).shape[1:] == (1, 8, 8) for f in samples)
        for figure in c["figures"]:
            assert (out / figure["file"]).stat().st_size > 1000
    ddpm = next(c for c in report["comparisons"] if c["key"] == "ddpm")
    assert ddpm["comparisons"]["published"]["sides"]["peer"]["schedule"]["cosine_steps"] > 0   # recorded
    assert "tuned" in (out / "report.md").read_text() and (out / "report.html").exists()
    capsys.readouterr()
    main(["peers", "--budget", "tiny", "--out", str(out), "--no-progress"])   # everything reused
    assert capsys.readouterr().err.count("finished earlier, reused") == len(PAIRS)
    with pytest.raises(SystemExit) as e:
        main(["peers", "--budget", "cpu", "--out", str(out), "--no-progress"])
    assert e.value.code == 2
