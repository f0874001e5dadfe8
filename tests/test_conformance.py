"""One conformance test over every name `aeflow models` lists: each family trains into a run folder, follows
the calling convention, behaves as its declared capabilities say, and loads back from a copy of its folder
alone, from another working directory (scikit-learn's check_estimator, for aeflow's families)."""

import os
import shutil

import pytest
import torch

import aeflow
from aeflow.models import FittedModel
from aeflow.models.registry import MODELS, PRESETS, resolve
from aeflow.protocols import NoiseToData, Reconstructs
from aeflow.runs.parents import DERIVED_DATA, saved_batches

# Small enough for seconds on a CPU; every other field is the family's default.
TINY = {
    "autoencoder": {"hidden": [32], "code_dim": 4},
    "classifier": {"channels": [8, 16], "feature_dim": 16},
    "contractive-ae": {"hidden": [32], "code_dim": 4},
    "conv-ae": {"channels": [8, 16], "code_dim": 4},
    "ddpm": {"channels": [8, 16], "timesteps": 20, "schedule": "cosine"},
    "denoising-ae": {"hidden": [32], "code_dim": 4},
    "flow": {"channels": [8, 16]},
    "gan": {"channels": [16, 8], "latent_dim": 8},
    "judge": {"network": "mlp", "widths": [16], "feature_dim": 8},
    "kernel-pca": {"n_components": 4, "fit_subset": 200},
    "latent-flow": {"process_config": {"hidden": [16]}},
    "logistic-pca": {"n_components": 4, "iterations": 2},
    "mae": {},
    "onestep": {"network": "mlp", "hidden": [32]},
    "ordered-ae": {"hidden": [32], "code_dim": 4},
    "pca": {"n_components": 4},
    "ppca": {"n_components": 4},
    "sparse-ae": {"code_dim": 32, "k": 4},
    "vae": {"hidden": [32], "latent_dim": 3},
    "vq-vae": {"channels": [8, 16], "codebook_size": 16},
}
NAMES = sorted(MODELS) + sorted(PRESETS)
TRAIN = {"epochs": 1, "batch_size": 64, "progress": False}


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A trained VAE for the latent generators."""
    config = aeflow.make_config("vae", "digits", TINY["vae"], TRAIN, train_subset=256)
    return aeflow.train(config, tmp_path_factory.mktemp("parent") / "vae")


def test_every_listed_name_is_covered():
    assert set(NAMES) == set(aeflow.model_names())
    assert {resolve(name)[0] for name in NAMES} <= set(TINY)


@pytest.mark.parametrize("name", NAMES)
def test_family_conforms(name, parent, tmp_path, monkeypatch):
    family = resolve(name)[0]
    options = dict(TINY[family]) if name in MODELS else {}
    if family == "latent-flow":
        options.update(TINY["latent-flow"], autoencoder_run=str(parent))
    fitted = issubclass(MODELS[family], FittedModel)   # fitted by its own solver: training options are refused
    train = {"progress": False} if fitted else TRAIN
    run = aeflow.train(aeflow.make_config(name, "digits", options, train, train_subset=256), tmp_path / "run")
    model = aeflow.load(run)
    x = aeflow.load_dataset("digits").test_x[:8]
    derived = (run / DERIVED_DATA).exists()   # the loss on what the run trains on: images, labels or derived data
    batch = saved_batches(run)[0] if derived else {"x": x, "y": torch.arange(8) % 10}
    checked = aeflow.check_model(model, x, {k: v[:8] for k, v in batch.items()})
    assert checked and (not isinstance(model, NoiseToData) or "NoiseToData" in checked)

    # The run folder alone, copied elsewhere and loaded from another working directory, is the same model.
    copy = tmp_path / "elsewhere" / "copied-run"
    shutil.copytree(run, copy)
    monkeypatch.chdir(tmp_path / "elsewhere")
    again = aeflow.load("copied-run")
    monkeypatch.chdir(tmp_path)
    assert os.path.isdir(copy)
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    if isinstance(model, Reconstructs):
        torch.testing.assert_close(model.reconstruct(x), again.reconstruct(x))


def test_runs_made_from_other_runs_stand_alone(parent, tmp_path, monkeypatch):
    """A latent flow and a reflowed flow, copied away from the parents they were trained from (which are then
    gone), load and sample from the copy."""
    teacher = aeflow.train(aeflow.make_config("flow", "digits", TINY["flow"], TRAIN, train_subset=256),
                           tmp_path / "teacher")
    student = aeflow.train(aeflow.make_config("flow", "digits", {**TINY["flow"], "reflow_from": str(teacher),
                                                                 "reflow_pairs": 64, "reflow_steps": 2}, TRAIN),
                           tmp_path / "student")
    latent = aeflow.train(aeflow.make_config("latent-flow", "digits", {**TINY["latent-flow"],
                                                                       "autoencoder_run": str(parent)}, TRAIN,
                                             train_subset=256), tmp_path / "latent")
    elsewhere = tmp_path / "elsewhere"
    for run in (student, latent):
        shutil.copytree(run, elsewhere / run.name)
    shutil.rmtree(teacher)
    monkeypatch.chdir(elsewhere)
    for name in ("student", "latent"):
        images, made = aeflow.draw(aeflow.load(name), name, aeflow.SampleRequest(n=4, options={"steps": 2}))
        assert images.shape == (4, 1, 8, 8) and made["nfe"] >= 2
    assert aeflow.load("latent").config.autoencoder["model"] == "vae"  # the parent's spec travels with the run


def test_check_model_names_what_misbehaves():
    """The public check fails a model whose behaviour contradicts what it declares, naming the capability."""
    model = aeflow.build_model("vae", TINY["vae"], (1, 8, 8))
    x = aeflow.load_dataset("digits").test_x[:4]
    assert {"HasLoss", "Encodes", "Samples", "HasLikelihood"} <= set(aeflow.check_model(model, x))
    model.sample = lambda n, generator=None: torch.zeros(n, 1, 4, 4)   # the wrong shape
    with pytest.raises(aeflow.ConformanceError, match="Samples"):
        aeflow.check_model(model, x)
    flow = aeflow.build_model("flow", TINY["flow"], (1, 8, 8))
    flow.default_sampler = "ddpm"   # a sampler that does not take a velocity field
    with pytest.raises(aeflow.ConformanceError, match="default_sampler"):
        aeflow.check_model(flow, x)


def test_the_protocols_load_no_family():
    """A library adapting its models to aeflow imports the protocols alone: no family, sampler or dataset."""
    import subprocess
    import sys

    code = ("import sys, aeflow.protocols; loaded = [m for m in sys.modules if m.startswith(('aeflow.models', "
            "'aeflow.samplers', 'aeflow.diffusion', 'aeflow.data'))]; print(loaded); assert not loaded")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_draw_writes_nothing_and_samples_a_model_without_a_folder(tmp_path):
    run = aeflow.train(aeflow.make_config("autoencoder", "digits", {"hidden": [16], "code_dim": 2},
                                          {"epochs": 1, "progress": False}), tmp_path / "run")
    files = lambda: {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in run.rglob("*")}  # noqa: E731
    before = files()
    model, data = aeflow.load(run), aeflow.load_dataset("digits")
    in_run, made = aeflow.draw(model, run, aeflow.SampleRequest(source="gmm", n=8), data)
    assert files() == before and made["source"] == "gmm"
    without, _ = aeflow.draw(model, None, aeflow.SampleRequest(source="gmm", n=8), data)   # fitted in memory
    assert torch.equal(in_run, without)
    with pytest.raises(aeflow.ConfigError, match="give the run folder, or the dataset"):
        aeflow.draw(model, None, aeflow.SampleRequest(source="gmm", n=8))
