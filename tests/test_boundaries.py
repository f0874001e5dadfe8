"""What a careless or hostile caller can hand aeflow, generated: every value either works or is refused with
aeflow's own error (one line, an exit code), never an exception from deep inside numpy or torch."""

import io
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import aeflow
from aeflow.errors import AeflowError, DataError
from aeflow.eval.samples import check_samples, load_samples

NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2 ** 70, 2 ** 70),
                    st.booleans(), st.text(max_size=5), st.none())
TRAIN_KEYS = ["epochs", "batch_size", "lr", "weight_decay", "warmup_epochs", "final_lr_fraction", "grad_clip",
              "seed", "ema_decay", "sample_every", "eval_batch_size"]


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(TRAIN_KEYS), value=NUMBERS)
def test_train_options_are_valid_or_refused_by_name(key, value):
    try:
        config = aeflow.make_config("autoencoder", "digits", {}, {key: value})
    except AeflowError as e:
        assert key in str(e)
        return
    number = getattr(config.train, key)
    assert isinstance(number, (int, float)) and math.isfinite(number)


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(["code_dim", "hidden", "activation", "norm", "output"]), value=NUMBERS)
def test_model_options_are_valid_or_refused_by_name(key, value):
    try:
        config = aeflow.make_config("autoencoder", "digits", {key: value})
    except AeflowError as e:
        assert key in str(e)
        return
    if config.model_config.get("code_dim", 1) <= 4096:   # the model builds from what was accepted
        aeflow.build_model("autoencoder", config.model_config, (1, 8, 8))


def _npy(array) -> io.BytesIO:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    buffer.seek(0)
    return buffer


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=hnp.arrays(dtype=st.one_of(hnp.floating_dtypes(endianness="?"), hnp.integer_dtypes(endianness="?"),
                                        hnp.unicode_string_dtypes(), hnp.datetime64_dtypes(), st.just(np.bool_)),
                        shape=hnp.array_shapes(min_dims=0, max_dims=5, max_side=9)))
def test_sample_files_are_images_or_refused(tmp_path, array):
    path = tmp_path / "samples.npy"
    path.write_bytes(_npy(array).getvalue())
    try:
        samples = check_samples(load_samples(path), (1, 8, 8), str(path))
    except DataError as e:
        assert str(path) in str(e) or "samples" in str(e)
        return
    assert samples.dtype == torch.float32 and samples.ndim == 4
    assert 0 <= float(samples.min()) <= float(samples.max()) <= 1


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY", b"PK\x03\x04 not really a zip", b"\x00" * 64])
def test_broken_sample_files_are_refused(tmp_path, content):
    path = tmp_path / "broken.npy"
    path.write_bytes(content)
    with pytest.raises(DataError):
        load_samples(path)


def test_a_header_claiming_2_to_the_40_images_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.npy"
    with open(path, "wb") as f:   # a valid header, and no data behind it
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                 "shape": (2 ** 40, 1, 8, 8)})
    with pytest.raises(DataError):
        load_samples(path)


def test_archives_and_structured_arrays_are_refused(tmp_path):
    npz = tmp_path / "a.npy"
    np.savez(npz.with_suffix(".npz"), images=np.zeros((2, 1, 8, 8)))
    npz.write_bytes(npz.with_suffix(".npz").read_bytes())
    with pytest.raises(DataError, match="archive"):
        load_samples(npz)
    structured = tmp_path / "s.npy"
    np.save(structured, np.zeros(3, dtype=[("a", "f4"), ("b", "f4")]))
    with pytest.raises(DataError, match="dtype"):
        load_samples(structured)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(type_byte=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x42]),
       dims=st.lists(st.one_of(st.integers(0, 40), st.integers(0, 2 ** 32 - 1)), max_size=5),
       rank_lie=st.integers(-1, 1), extra=st.binary(max_size=64), compress=st.booleans())
def test_idx_headers_give_their_array_or_a_data_error(tmp_path, type_byte, dims, rank_lie, extra, compress):
    """Generated IDX headers (any type, rank, dimensions up to 2^32-1, a rank that lies) over a small body:
    the array the header describes, exactly, or a DataError, never a numpy error or a huge allocation."""
    import gzip
    import struct

    from aeflow.data.idx import read_idx

    body = bytes(min(math.prod(dims), 4096) * 8) + extra if dims else extra
    rank = max(0, len(dims) + rank_lie)
    raw = bytes([0, 0, type_byte, rank]) + struct.pack(f">{len(dims)}I", *dims) + body
    path = tmp_path / "file.gz"
    path.write_bytes(gzip.compress(raw, 1) if compress else raw)
    try:
        array = read_idx(path)
    except DataError:
        return
    # what the file's own header describes, exactly (a lying rank can still make a self-consistent file)
    assert array.shape == tuple(dims) or rank != len(dims)


YAML_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(),
                                     st.text(max_size=8)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                           max_leaves=8)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    config = aeflow.make_config("autoencoder", "digits", {"hidden": [8], "code_dim": 2},
                                {"epochs": 1, "batch_size": 64, "progress": False}, train_subset=128)
    return aeflow.train(config, tmp_path_factory.mktemp("boundaries") / "run")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(section=st.sampled_from([None, "model", "model_config", "data", "train", "model_config.code_dim",
                                "train.epochs", "data.name"]), value=YAML_VALUES)
def test_hand_edited_configs_load_or_are_refused_by_name(run_folder, tmp_path, section, value):
    """config.yaml with any one part replaced by any YAML value: the run loads (the edit was valid) or aeflow
    says what is wrong, never an exception from deep inside."""
    import shutil

    import yaml

    from aeflow.runs import load_config

    folder = tmp_path / "edited"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(run_folder, folder)
    config = yaml.safe_load((folder / "config.yaml").read_text())
    if section is None:
        config = value
    else:
        *parents, key = section.split(".")
        target = config
        for parent in parents:
            target = target[parent]
        target[key] = value
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    try:
        load_config(folder)
        aeflow.load(folder)
    except AeflowError:
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=YAML_VALUES)
def test_damaged_summaries_read_as_objects_or_are_refused(run_folder, tmp_path, value):
    import json

    from aeflow.runs import read_summary

    path = tmp_path / "summary.json"
    path.write_text(json.dumps(value))
    try:
        summary = read_summary(tmp_path)
    except DataError:
        return
    assert isinstance(summary, dict)


@pytest.mark.parametrize("call, message", [
    (lambda: aeflow.load_dataset(["mnist"]), "load_dataset(): name must be str, got list"),
    (lambda: aeflow.load_dataset("mnist", data_dir=5), "data_dir must be str or None, got int"),
    (lambda: aeflow.make_config(5), "make_config(): model must be str, got int"),
    (lambda: aeflow.make_config("autoencoder", model_options=[1]), "model_options must be dict or None"),
    (lambda: aeflow.train(None, "run"), "train() needs a RunConfig (aeflow.make_config) unless it resumes"),
    (lambda: aeflow.train("autoencoder", "run"), "train(): config must be RunConfig or None, got str"),
    (lambda: aeflow.train({"model": "pca"}, "run"), "train(): config must be RunConfig or None, got dict"),
    (lambda: aeflow.ensure(None, "run"), "ensure(): config must be RunConfig"),
    (lambda: aeflow.load(None), "load(): run_dir must be str or Path, got NoneType"),
    (lambda: aeflow.extend("run", "3"), "extend(): epochs must be int, got str"),
    (lambda: aeflow.build_model("autoencoder", [], (1, 8, 8)), "build_model(): fields must be dict, got list"),
    (lambda: aeflow.build_model("nosuch", {}, (1, 8, 8)), "unknown model 'nosuch'; choose one of autoencoder"),
    (lambda: aeflow.draw(None, None, aeflow.SampleRequest()), "draw(): model must be Module, got NoneType"),
    (lambda: aeflow.draw(aeflow.build_model("pca", {}, (1, 8, 8)), None, "x"), "request must be SampleRequest"),
    (lambda: aeflow.SampleRequest(n="5").validate(), "request.n must be an integer, got '5'"),
    (lambda: aeflow.SampleRequest(temperature=float("nan")).validate(), "temperature must be a finite number"),
])
def test_the_python_api_refuses_wrong_types_by_name(call, message):
    """The public functions check their arguments first: aeflow's error naming the argument, not an
    AttributeError from deep inside."""
    with pytest.raises(AeflowError, match=re.escape(message)):
        call()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from([None, "epoch", "batch_index", "train_time", "epoch_sums", "steps_per_epoch", "epochs"]),
       value=YAML_VALUES, drop_rng=st.booleans())
def test_damaged_checkpoint_states_resume_or_are_refused(run_folder, tmp_path, key, value, drop_rng):
    """checkpoint.safetensors with its loop state (or one key of it) replaced by any JSON value, or its random
    number generator states gone: `--resume` continues or says the checkpoint is damaged, nothing from inside."""
    import json
    import shutil

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "damaged"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(run_folder, folder)
    path = folder / "checkpoint.safetensors"
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = {k: v for k, v in load_file(path).items() if not (drop_rng and k.startswith("rng."))}
    state = json.loads(meta["state"])
    if key is None:
        state = value
    else:
        state[key] = value
    save_file(tensors, path, metadata={**meta, "state": json.dumps(state)})
    try:
        aeflow.train(aeflow.RunConfig(), folder, resume=True)
    except AeflowError:
        pass


@pytest.fixture(scope="module")
def generators(tmp_path_factory) -> dict:
    """Tiny runs of every kind of source: a flow (fixed-step and adaptive samplers), a DDPM of T = 20 (ancestral
    and DDIM), a VAE (its own prior, code priors) and an autoencoder (code priors only)."""
    root = tmp_path_factory.mktemp("generators")
    specs = {"flow": ("flow", {"network": "mlp", "hidden": [16]}),
             "ddpm": ("ddpm", {"network": "mlp", "hidden": [16], "timesteps": 20, "schedule": "cosine"}),
             "vae": ("vae", {"hidden": [16], "latent_dim": 2}), "ae": ("autoencoder", {"hidden": [16], "code_dim": 2})}
    runs = {}
    for name, (family, options) in specs.items():
        run = aeflow.train(aeflow.make_config(family, "digits", options, {"epochs": 1, "batch_size": 32,
                                                                          "progress": False}, train_subset=128),
                           root / name)
        runs[name] = (run, aeflow.load(run))
    return runs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=st.sampled_from(["flow", "ddpm", "vae", "ae"]),
       source=st.sampled_from([None, "model", "normal", "gmm", "categorical"]),
       sampler=st.sampled_from([None, "euler", "midpoint", "heun", "adaptive", "ddpm", "ddim", "direct"]),
       options=st.dictionaries(st.sampled_from(["steps", "eta", "shift", "churn", "rtol"]),
                               st.sampled_from([1, 3, 20, 50, 0.5, 2.0]), max_size=2),
       temperature=st.sampled_from([1.0, 0.5, 0.0]),
       prior_options=st.dictionaries(st.sampled_from(["n_components", "covariance_type"]),
                                     st.sampled_from([2, "diag"]), max_size=1))
def test_every_sampling_request_is_honoured_or_refused(generators, run, source, sampler, options, temperature,
                                                       prior_options):
    """Every request is refused with aeflow's one-line error, or honoured: and then each option it carries
    changes the images (an option that changed nothing would have been silently ignored)."""
    if "n_components" in prior_options:
        prior_options = {"n_components": prior_options["n_components"], "covariance_type": "diag"}
    folder, model = generators[run]
    request = aeflow.SampleRequest(source, sampler, dict(options), 6, 0, temperature, dict(prior_options))
    try:
        images, made = aeflow.draw(model, folder, request)
    except AeflowError as e:
        assert "\n" not in str(e) and "Traceback" not in str(e)
        return
    assert images.shape == (6, 1, 8, 8) and torch.isfinite(images).all()
    defaults = {"steps": None, "eta": 0.0, "shift": 1.0, "churn": 0.0, "rtol": 1e-4}
    for key, value in options.items():   # the same request with this option at its default gives other images
        if key == "steps" and value == made["options"].get("steps") and value == getattr(model, "default_steps", 0):
            continue   # the model's own step count, asked for by name
        if key in ("eta", "churn") and value == 0 or key == "shift" and value == 1:
            continue
        plain = {k: v for k, v in options.items() if k != key}
        if defaults[key] is not None:
            plain[key] = defaults[key]
        other, _ = aeflow.draw(model, folder, aeflow.SampleRequest(source, sampler, plain, 6, 0, temperature,
                                                                   dict(prior_options)))
        assert not torch.equal(images, other), f"option {key}={value} changed nothing"
    if temperature != 1:
        other, _ = aeflow.draw(model, folder, aeflow.SampleRequest(source, sampler, dict(options), 6, 0, 1.0,
                                                                   dict(prior_options)))
        assert not torch.equal(images, other), f"temperature {temperature} changed nothing"


def test_the_api_refuses_mismatched_arguments(generators, tmp_path):
    """Another run's folder beside a model, a dataset other than the config's, a finished folder holding another
    run, a file as the output folder, a batch size of 0: each refused by name, and nothing written."""
    flow_run, flow = generators["flow"]
    vae_run, vae = generators["vae"]
    ae_run, _ = generators["ae"]
    before = sorted(p.name for p in ae_run.iterdir())
    with pytest.raises(aeflow.ConfigError, match="not the model of"):
        aeflow.draw(vae, ae_run, aeflow.SampleRequest("gmm", n=4))
    assert sorted(p.name for p in ae_run.iterdir()) == before   # no prior written into the other run
    with pytest.raises(aeflow.ConfigError, match="batch_size must be in"):
        aeflow.draw(flow, flow_run, aeflow.SampleRequest(n=4), batch_size=0)
    config = aeflow.make_config("vae", "digits", {"hidden": [16], "latent_dim": 2},
                                {"epochs": 1, "batch_size": 32, "progress": False}, train_subset=128)
    with pytest.raises(aeflow.ConfigError, match="holds another run"):
        aeflow.ensure(config, ae_run)
    swiss = aeflow.load_dataset("swissroll")
    with pytest.raises(aeflow.ConfigError, match="the dataset given is swissroll"):
        aeflow.ensure(config, tmp_path / "other-data", dataset=swiss)
    assert not (tmp_path / "other-data").exists()   # a refused start leaves no folder behind
    (tmp_path / "a-file").write_text("mine")
    with pytest.raises(aeflow.ConfigError, match="is a file"):
        aeflow.train(config, tmp_path / "a-file")
    assert (tmp_path / "a-file").read_text() == "mine"
    replaced = aeflow.ensure(config, tmp_path / "copy", rerun=False)
    again = aeflow.ensure(config, replaced)   # the same config: reused, not retrained
    assert again == replaced
