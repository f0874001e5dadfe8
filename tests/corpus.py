"""The cases of the reliability corpus (see tests/reliability.py), built under one folder: a few tiny reference
runs, then broken copies of data files, sample files, run folders and checkpoints, generated from a seeded
random source and by hand, and the commands that meet them."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import socket
import struct
from pathlib import Path

import numpy as np

from aeflow.studies.lineage.chapters import CHAPTERS
from tests.reliability import Case, Result

TINY_TRAIN = ["--epochs", "2", "--batch-size", "32", "--train-subset", "128", "--no-progress"]
AE = ["train", "autoencoder", "-m", "hidden=[16]", "-m", "code_dim=2", *TINY_TRAIN]
LISTENING: list[socket.socket] = []   # sockets the port-in-use cases meet
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz")


def reference_runs(root: Path) -> dict[str, Path]:
    """Tiny trained runs the cases read and copy: an autoencoder, a VAE (with a GMM prior fitted) and a flow."""
    import aeflow
    from aeflow.runs import SampleRequest, draw, feature_extractor
    from aeflow.runs.sampling import fitted_prior

    specs = {"ae": ("autoencoder", {"hidden": [16], "code_dim": 2}),
             "ae3": ("autoencoder", {"hidden": [16], "code_dim": 3}),
             "vae": ("vae", {"hidden": [16], "latent_dim": 2}),
             "flow": ("flow", {"channels": [8, 16]}),
             "ddpm": ("ddpm", {"network": "mlp", "hidden": [16], "timesteps": 20, "schedule": "cosine"}),
             "pca": ("pca", {"n_components": 2})}
    runs = {}
    for name, (model, options) in specs.items():
        train = {"progress": False} if model == "pca" else {"epochs": 2, "batch_size": 32, "progress": False}
        if name in ("ae", "ae3"):   # a constant rate after warm-up: `--resume --epochs 3` extends it, and so
            train["final_lr_fraction"] = 1.0   # reaches the damaged file a case is about
        config = aeflow.make_config(model, "digits", options, train, train_subset=128)
        runs[name] = aeflow.ensure(config, root / "runs" / name)
    vae = aeflow.load(runs["vae"])
    data = aeflow.load_dataset("digits")
    fitted_prior(vae, runs["vae"], "gmm", {"n_components": 3}, data)
    draw(vae, runs["vae"], SampleRequest("gmm", n=4), data)
    feature_extractor("digits", data)   # built once here, not by the first case that scores samples
    return runs


def copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to, ignore=shutil.ignore_patterns(".aeflow.lock"))
    return to


def idx_bytes(dims: tuple[int, ...], data: bytes, type_byte: int = 0x08) -> bytes:
    return bytes([0, 0, type_byte, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + data


# ---------------------------------------------------------------------------------------------------- data files
def data_file_cases(root: Path, mnist: Path) -> list[Case]:
    """MNIST folders with one file replaced by a broken one; the command trains a tiny autoencoder on them."""
    rng = random.Random(0)
    cases = []
    (root / "data-runs").mkdir(parents=True, exist_ok=True)
    (root / "data-runs").chmod(0o777)   # the permission cases run as nobody: they must reach the data, not --out

    def folder(name: str, replace: dict[str, bytes | None], gz: bool = True) -> Path:
        path = root / "data" / name
        path.mkdir(parents=True)
        for file in MNIST_FILES:
            if file in replace:
                if replace[file] is not None:
                    content = replace[file]
                    (path / file).write_bytes(gzip.compress(content, 1) if gz else content)
            else:
                os.symlink(mnist / file, path / file)
        return path

    def case(name: str, data_dir: Path | str, expect: str = "error", **kw) -> None:
        cases.append(Case("data files", name, ["train", "autoencoder", "-d", "mnist", "--data-dir", str(data_dir),
                                               "--no-download", "-m", "hidden=[8]", "-m", "code_dim=2",
                                               "--epochs", "1", "--train-subset", "64", "--batch-size", "32",
                                               "--no-progress",
                                               "--out", str(root / "data-runs" / name)], expect, **kw))

    images = gzip.decompress((mnist / "t10k-images-idx3-ubyte.gz").read_bytes())
    labels = gzip.decompress((mnist / "t10k-labels-idx1-ubyte.gz").read_bytes())
    test_images, test_labels = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
    case("the real files", mnist, "ok")
    case("a missing folder", root / "data" / "nowhere")
    case("a folder that is a file", mnist / MNIST_FILES[0])
    case("an empty folder", folder("empty", dict.fromkeys(MNIST_FILES)))
    case("a file named longer than 255 characters", root / ("d" * 300))
    for file in MNIST_FILES:
        case(f"{file} missing", folder(f"missing-{file}", {file: None}))
    for cut in (0, 3, 7, 15, 16, 1000, len(images) // 2, len(images) - 1):
        case(f"test images cut at {cut} bytes", folder(f"cut-{cut}", {test_images: images[:cut]}))
    for cut in (5, 9, len(labels) - 1):
        case(f"test labels cut at {cut} bytes", folder(f"labels-cut-{cut}", {test_labels: labels[:cut]}))
    case("test images with bytes after the data", folder("long", {test_images: images + b"\0" * 10}))
    case("test images of 28 x 29", folder("29", {test_images: idx_bytes((10000, 28, 29), bytes(10000 * 28 * 29))}))
    case("test images as floats", folder("floats", {test_images: idx_bytes((10000, 28, 28), bytes(10000 * 784 * 4),
                                                                           0x0D)}))
    case("labels with 3 dimensions", folder("labels3", {test_labels: idx_bytes((10000, 1, 1), bytes(10000))}))
    case("a label out of range", folder("label200", {test_labels: labels[:-1] + bytes([200])}))
    case("5 labels for 10000 images", folder("fewlabels", {test_labels: idx_bytes((5,), bytes(5))}))
    case("a header claiming 2^32-1 x 2^32-1 x 2^32-1 images",
         folder("overflow", {test_images: idx_bytes((2**32 - 1,) * 3, bytes(100))}))
    case("a header claiming 10^9 images", folder("billion", {test_images: idx_bytes((10**9, 28, 28), bytes(784))}))
    case("a gzip file decompressing to 400 MB (a bomb)",
         folder("bomb", {test_images: idx_bytes((10000, 28, 28), bytes(400 * 2**20))}))
    corrupt = bytearray(gzip.compress(images, 1))
    corrupt[len(corrupt) // 2: len(corrupt) // 2 + 64] = bytes(64)
    case("a corrupt gzip stream", folder("badgzip", {}, gz=False))
    (root / "data" / "badgzip" / test_images).unlink()
    (root / "data" / "badgzip" / test_images).write_bytes(bytes(corrupt))
    case("a gzip file cut short", folder("gzipcut", {test_images: gzip.compress(images, 1)[:5000]}, gz=False))
    case("a gzip header only", folder("gzipheader", {test_images: gzip.compress(b"")[:10]}, gz=False))
    for i in range(30):   # seeded random headers: magic, type, rank and dimensions
        dims = tuple(rng.choice([0, 1, 28, 10000, 2**31, 2**32 - 1, rng.randrange(2**32)])
                     for _ in range(rng.randrange(0, 6)))
        header = bytes([rng.choice([0, 0, 1]), rng.choice([0, 0, 8]), rng.choice([8, 9, 0x0B, 0x0D, 0x0E, 0x42]),
                        rng.choice([len(dims), len(dims), rng.randrange(256)])])
        body = header + struct.pack(f">{len(dims)}I", *dims) + os.urandom(rng.choice([0, 10, 784]))
        case(f"random header {i}: {body[:4].hex()} dims {dims}", folder(f"random-{i}", {test_images: body}))
    case("random bytes", folder("random-bytes", {test_images: os.urandom(5000)}, gz=False))
    unreadable = folder("unreadable", {})
    (unreadable / test_images).unlink()
    shutil.copy(mnist / test_images, unreadable / test_images)
    (unreadable / test_images).chmod(0o000)
    case("an unreadable file (permission denied)", unreadable, as_nobody=True)
    closed = folder("closed", {})
    closed.chmod(0o000)
    case("an unreadable folder (permission denied)", closed, as_nobody=True)
    raw = root / "data" / "raw"
    raw.mkdir()
    for file in MNIST_FILES:   # un-gzipped copies, with the dotted names some mirrors use
        (raw / file[:-3].replace("-idx", ".idx")).write_bytes(gzip.decompress((mnist / file).read_bytes()))
    case("un-gzipped files with dotted names", raw, "ok")
    fashion = mnist.parent / "fashion-mnist"
    if fashion.exists():
        case("Fashion-MNIST's files given as MNIST", fashion)
    cache_file = root / "data" / "cache-is-a-file"
    cache_file.write_text("not a folder")
    cases.append(Case("data files", "$AEFLOW_CACHE is a file", ["train", "autoencoder", "-d", "mnist", "--no-download",
                                                               "--out", str(root / "data-runs" / "cachefile")],
                      env={"AEFLOW_CACHE": str(cache_file)}))
    cases.append(Case("data files", "$AEFLOW_CACHE under a file",
                      ["train", "autoencoder", "-d", "mnist", "--out", str(root / "data-runs" / "cachefile2")],
                      env={"AEFLOW_CACHE": str(cache_file / "sub")}))
    cases.append(Case("data files", "$AEFLOW_DATA_DIR missing",
                      ["train", "autoencoder", "-d", "fashion-mnist", "--no-download",
                       "--out", str(root / "data-runs" / "envdir")],
                      env={"AEFLOW_DATA_DIR": str(root / "nowhere"), "AEFLOW_CACHE": str(root / "empty-cache")}))
    return cases


# -------------------------------------------------------------------------------------------------- sample files
def sample_file_cases(root: Path) -> list[Case]:
    """`aeflow eval --samples FILE -d digits`: generated arrays of every dtype, shape and range, and broken files."""
    rng = np.random.default_rng(0)
    folder = root / "samples"
    folder.mkdir()
    cases = []

    def case(name: str, path: Path, expect: str = "error", n: str | None = None, **kw) -> None:
        argv = ["eval", "--samples", str(path), "-d", "digits"] + (["--n", n] if n else [])
        cases.append(Case("sample files", name, argv, expect, check=_scored if expect == "ok" else None, **kw))

    def saved(name: str, array, **kw) -> Path:
        path = folder / f"{name}.npy"
        np.save(path, array, **kw)
        return path

    good = rng.random((40, 1, 8, 8))
    for dtype in ("<f2", ">f2", "<f4", ">f4", "<f8", ">f8"):
        case(f"floats {dtype}", saved(f"float-{dtype}", good.astype(dtype)), "ok")
    case("Fortran order", saved("fortran", np.asfortranarray(good.astype(np.float32))), "ok")
    case("two images", saved("two", good[:2].astype(np.float32)))
    case("four images", saved("four", good[:4].astype(np.float32)), "ok")
    for dtype in ("u1", "i1", "<i4", ">i8", "?", "c8", "U3", "S3", "M8[s]", "m8[s]", "V8"):
        case(f"dtype {dtype}", saved(f"dtype-{dtype}", np.zeros((40, 1, 8, 8), dtype=dtype)))
    case("a structured array", saved("structured", np.zeros((40, 1, 8, 8), dtype=[("a", "f4"), ("b", "f4")])))
    case("pickled objects", saved("objects", np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True))
    for shape in [(), (40,), (40, 64), (40, 8, 8), (40, 1, 8, 9), (40, 3, 8, 8), (40, 1, 28, 28), (0, 1, 8, 8),
                  (1, 1, 8, 8), (40, 1, 8, 8, 1), (2, 0, 8, 8)]:
        case(f"shape {shape}", saved(f"shape-{'x'.join(map(str, shape))}", rng.random(shape).astype(np.float32)))
    for label, value in [("a NaN", np.nan), ("an infinity", np.inf), ("-0.1", -0.1), ("1.5", 1.5), ("255", 255.0),
                         ("1e300 in float64", 1e300)]:
        array = good.copy()
        array[3, 0, 2, 2] = value
        case(f"a value of {label}", saved(f"value-{label}", array))
    case("a .npz archive", _written(folder / "archive.npy", lambda p: np.savez(open(p, "wb"), x=good)))
    header = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1, 8, 8), }"
    case("a header claiming 2^40 images", _written(folder / "huge.npy", lambda p: Path(p).write_bytes(
        header.ljust(128 - 1, b" ") + b"\n" + bytes(256))))
    case("a header with a bad dict", _written(folder / "badheader.npy", lambda p: Path(p).write_bytes(
        b"\x93NUMPY\x01\x00\x10\x00{'descr': <f4}  \n")))
    data = saved("cut", good.astype(np.float32)).read_bytes()
    for cut in (0, 6, 10, 60, 200, len(data) - 1):
        case(f"a file cut at {cut} bytes", _written(folder / f"cut-{cut}.npy",
                                                    lambda p, cut=cut: Path(p).write_bytes(data[:cut])))
    for i in range(12):   # random bytes after a valid magic, and random bytes
        blob = (b"\x93NUMPY" if i % 2 else b"") + rng.bytes(int(rng.integers(1, 400)))
        case(f"random bytes {i}", _written(folder / f"random-{i}.npy", lambda p, b=blob: Path(p).write_bytes(b)))
    case("a text file", _written(folder / "text.npy", lambda p: Path(p).write_text("0.5, 0.5\n")))
    case("a gzip file", _written(folder / "gz.npy", lambda p: Path(p).write_bytes(gzip.compress(data))))
    case("a missing file", folder / "nowhere.npy")
    case("a folder", folder)
    case("a name longer than 255 characters", folder / ("s" * 300 + ".npy"))
    locked = saved("unreadable", good.astype(np.float32))
    locked.chmod(0o000)
    case("an unreadable file (permission denied)", locked, as_nobody=True)
    fine = saved("fine", good.astype(np.float32))
    for n in ("0", "1", "-1"):
        case(f"--n {n}", fine, n=n)
    case("--n 2", fine, n="2")
    case("--n 4", fine, "ok", n="4")
    case("--n 10^12 (more than the file holds: all of them)", fine, "ok", n="1000000000000")
    return cases


def _written(path: Path, write) -> Path:
    write(path)
    return path


def _scored(result: Result) -> str | None:
    import re

    match = re.search(r"FD ([0-9.]+)", result.out)
    return None if match and np.isfinite(float(match.group(1))) else f"no finite FD in the output: {result.out[-200:]}"


# -------------------------------------------------------------------------------------------------------- options
def option_cases(root: Path, runs: dict[str, Path]) -> list[Case]:
    """Bad values of every option of every command, and a few valid edge values that must work."""
    cases = []
    out = root / "option-runs"

    def case(name: str, argv: list[str], expect: str = "error", **kw) -> None:
        # every case its own output: one that wrongly succeeded must not change what the next one meets
        argv = [str(out / f"never-{len(cases)}") if a == str(out / "never") else a for a in argv]
        cases.append(Case("options", name, argv, expect, **kw))

    bad_numbers = {"--epochs": ["0", "-1", "2.5", "abc", "99999999999999999999", ""],
                   "--batch-size": ["0", "-4", "1e3", "10000000000000"],
                   "--lr": ["nan", "inf", "-1", "0", "1e309", "abc"],
                   "--weight-decay": ["nan", "-1", "inf"],
                   "--warmup-epochs": ["inf", "nan", "-1", "1e309"],
                   "--grad-clip": ["nan", "-1", "inf"],
                   "--seed": ["-1", str(2**64), str(2**70)],
                   "--train-subset": ["0", "-1"],
                   "--device": ["tpu", "cuda:99", "cpu:x", ""],
                   "--dataset": ["cifar", "", "MNIST "]}
    for option, values in bad_numbers.items():
        for value in values:
            case(f"train {option} {value!r}", [*AE, option, value, "--out", str(out / "never")])
    bad_model = ["code_dim=100000000", "code_dim=0", "code_dim=-3", "code_dim=2.5", "code_dim=nan", "code_dim=true",
                 "code_dim=[1", "hidden=[-1]", "hidden=[1000000000]", "hidden=abc", "hidden={a: 1}",
                 "activation=swish", "activation=[relu]", "width=3", "=3", "code_dim", "input_shape=[1,2,3]",
                 "dropout=2", "norm=nosuch"]
    for value in bad_model:
        case(f"train -m {value}", ["train", "autoencoder", "-m", value, *TINY_TRAIN, "--out", str(out / "never")])
    bad_train = ["loss_weights={kll: 1}", "loss_weights=3", "loss_weights={kl: nan}", "loss_weights={kl: -1}",
                 "loss_weights={kl: {kind: linear, epochs: -1}}", "loss_weights={kl: {kind: cosine}}",
                 "loss_weights={kl: {kind: linear, start: 0, end: inf, epochs: 2}}", "ema_decay=nan",
                 "betas=[nan, 0.9]", "progress=maybe", "epochs=[3]", "sample_every=-1", "eval_every=0", "nosuch=1",
                 "lr=1e400", "batch_size=0"]
    for value in bad_train:   # no flags beside: a flag would override the -t value
        case(f"train vae -t {value}", ["train", "vae", "-t", value, "--train-subset", "128", "--out",
                                       str(out / "never")])
    case("train vae -t loss_weights={kl: 5} (a constant weight)",
         ["train", "vae", "-m", "hidden=[8]", "-t", "loss_weights={kl: 5}", *TINY_TRAIN, "--out", str(out / "kl5")],
         "ok", check=_trained(out / "kl5"))
    case("train with a bad -m into an existing default folder", ["train", "autoencoder", "-m", "nosuch=1"],
         cwd=runs["ae"].parent.parent)
    case("train --resume of a folder that is not a run", ["train", "autoencoder", "--resume", "--out", str(root)])
    case("train --resume --epochs 1 (fewer than done)", ["train", "--resume", "--out", str(runs["ae"]),
                                                          "--epochs", "1", "autoencoder"], keep=[runs["ae"]])

    ae, vae, flow = (str(runs[k]) for k in ("ae", "vae", "flow"))
    sample_bad = {"--n": ["0", "-1", "1000000000000"], "--temperature": ["nan", "inf", "-1", "1e300", "101"],
                  "--components": ["0", "-1", "100000"], "--covariance": ["nosuch"], "--prior": ["nosuch"],
                  "--seed": ["-1", str(2**64)]}
    for option, values in sample_bad.items():
        for value in values:
            case(f"sample {option} {value}", ["sample", vae, "--prior", "gmm", option, value, "--refit",
                                              "--out", str(out / "never.npy")], keep=[runs["vae"]])
    flow_bad = {"--steps": ["0", "-1", "1000000000"], "--eta": ["nan", "-1"], "--shift": ["0", "nan", "-2"],
                "--churn": ["-1", "nan", "inf"], "--sampler": ["nosuch", "ddpm"], "--n": ["0", "-5"]}
    for option, values in flow_bad.items():
        for value in values:
            case(f"sample flow {option} {value}", ["sample", flow, option, value, "--out", str(out / "never.npy")],
                 keep=[runs["flow"]])
    case("sample --prior categorical on an autoencoder", ["sample", ae, "--prior", "categorical"], keep=[runs["ae"]])
    case("sample a flow with --prior gmm", ["sample", flow, "--prior", "gmm"], keep=[runs["flow"]])
    case("sample --out into a missing folder", ["sample", vae, "--n", "4", "--out", str(root / "nowhere" / "s.npy")],
         keep=[runs["vae"]])
    case("sample --out x.txt", ["sample", vae, "--n", "4", "--out", str(out / "x.txt")], keep=[runs["vae"]])
    case("sample --out s.npy", ["sample", vae, "--n", "4", "--out", str(out / "s.npy")], "ok",
         check=_says_the_file_it_wrote, keep=[runs["vae"]])
    case("sample --temperature 0 (the mode)", ["sample", vae, "--prior", "normal", "--n", "4", "--temperature", "0",
                                               "--out", str(out / "t0.npy")], "ok", keep=[runs["vae"]])
    for value in ("0", "1", "-1"):
        case(f"eval --n {value}", ["eval", ae, "--n", value], keep=[runs["ae"]])
    for value in ("0", "-3"):
        case(f"eval --k {value}", ["eval", vae, "--k", value], keep=[runs["vae"]])
    case("eval --json into a missing folder", ["eval", ae, "--json", str(root / "nowhere" / "r.json")],
         keep=[runs["ae"]])
    case("eval --json onto a folder", ["eval", ae, "--json", str(root)], keep=[runs["ae"]])
    case("eval with neither a run nor samples", ["eval"])
    case("eval with both a run and samples", ["eval", ae, "--samples", "x.npy"])
    case("eval --samples without --dataset", ["eval", "--samples", "x.npy"])
    case("eval of a path that is a file", ["eval", str(runs["ae"] / "config.yaml")])
    for value in ("", "a", "0", "-1", "1,,x", "1e3"):
        case(f"sweep steps --steps {value!r}", ["sweep", "steps", flow, "--steps", value], keep=[runs["flow"]])
    case("sweep steps --n 1", ["sweep", "steps", flow, "--n", "1"], keep=[runs["flow"]])
    case("sweep steps --samplers nosuch", ["sweep", "steps", flow, "--samplers", "nosuch", "--steps", "2"],
         keep=[runs["flow"]])
    case("sweep steps of an autoencoder", ["sweep", "steps", ae, "--steps", "2"], keep=[runs["ae"]])
    for value in ("", "nan", "-1", "inf", "a,b"):
        case(f"sweep beta --values {value!r}", ["sweep", "beta", "--values", value, "--out", str(out / "beta")])
    case("lineage --budget nosuch", ["lineage", "--budget", "nosuch"])
    case("lineage --dataset cifar", ["lineage", "--dataset", "cifar"])
    for value in ("-1", "two", ""):
        case(f"lineage --workers {value!r}", ["lineage", "--budget", "test", "--workers", value])
    case("lineage --out onto a file", ["lineage", "--budget", "test", "--out", str(runs["ae"] / "config.yaml")],
         keep=[runs["ae"]])
    case("explore --port 70000", ["explore", "--port", "70000", "--no-browser", str(root)])
    case("explore of a missing folder", ["explore", "--no-browser", str(root / "nowhere")])
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    LISTENING.append(busy)   # held open while the corpus runs
    case("explore on a port in use", ["explore", "--no-browser", "--port", str(busy.getsockname()[1]),
                                      str(runs["ae"].parent)])
    case("explore on an unknown host", ["explore", "--no-browser", "--host", "nosuch.invalid",
                                        str(runs["ae"].parent)])
    case("reproduce nosuch", ["reproduce", "nosuch"])
    case("reproduce hinton --epochs 0", ["reproduce", "hinton", "--epochs", "0", "--out", str(out / "never")])
    case("reproduce hinton --kernel-subset 0", ["reproduce", "hinton", "--kernel-subset", "0", "--out",
                                                str(out / "never")])
    case("features build -d swissroll", ["features", "build", "-d", "swissroll"])
    case("features build -d nosuch", ["features", "build", "-d", "nosuch"])
    case("latent of a flow (no encoder)", ["latent", flow], keep=[runs["flow"]])
    case("an unknown command", ["nosuch"])
    case("an unknown option", ["train", "autoencoder", "--nosuch"])
    case("a missing argument", ["sample"])
    environments = {"AEFLOW_THREADS='²'": {"AEFLOW_THREADS": "²"}, "AEFLOW_THREADS=1e3": {"AEFLOW_THREADS": "1e3"},
                    "WORLD_SIZE=2 alone": {"WORLD_SIZE": "2"}, "WORLD_SIZE=abc": {"WORLD_SIZE": "abc"},
                    "WORLD_SIZE=2 RANK=0 without MASTER_ADDR": {"WORLD_SIZE": "2", "RANK": "0"},
                    "WORLD_SIZE=2 RANK=5": {"WORLD_SIZE": "2", "RANK": "5", "MASTER_ADDR": "127.0.0.1",
                                            "MASTER_PORT": "29511"}}
    for timeout in ("nan", "inf", "-1", "1e300"):
        environments[f"AEFLOW_DDP_TIMEOUT={timeout}"] = {"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1",
                                                         "MASTER_PORT": "29511", "AEFLOW_DDP_TIMEOUT": timeout}
    for name, env in environments.items():   # a new interpreter: a forked child has its parent's world cached
        case(f"train with {name}", [*AE, "--out", str(out / "never")], env=env,
             fresh=name.startswith(("WORLD", "AEFLOW_DDP")))
    for command in (["sweep", "beta", "--values", "1", "--epochs", "1", "--out", str(out / "never")],
                    ["lineage", "--budget", "test", "--out", str(out / "never")],
                    ["peers", "--budget", "tiny", "--out", str(out / "never")]):
        case(f"{command[0]} --launcher slurm without Slurm", [*command, "--launcher", "slurm"])
    return cases


def _trained(run: Path):
    def check(result: Result) -> str | None:
        summary = json.loads((run / "summary.json").read_text())
        return None if np.isfinite(summary.get("test_recon_error", np.nan)) else f"no finite error in {summary}"
    return check


def _says_the_file_it_wrote(result: Result) -> str | None:
    import re

    named = re.search(r"samples: (\S+) \(grid", result.out)
    return None if named and Path(named.group(1)).is_file() else f"reported a file that is not there: {result.out}"


# ---------------------------------------------------------------------------------------------------- run folders
def run_folder_cases(root: Path, runs: dict[str, Path]) -> list[Case]:
    """Copies of the reference runs with one file hand-edited or damaged, met by every command that reads it."""
    cases = []
    n = 0

    def damaged(run: str, file: str, content: str | bytes | None) -> Path:
        nonlocal n
        n += 1
        path = copy_run(runs[run], root / "folders" / f"{run}-{n}")
        if content is None:
            (path / file).unlink()
        elif isinstance(content, bytes):
            (path / file).write_bytes(content)
        else:
            (path / file).write_text(content)
        return path

    commands = {"eval": lambda p: ["eval", str(p), "--no-likelihood"],
                "sample": lambda p: ["sample", str(p), "--n", "4", "--out", str(p / "s.npy")],
                "latent": lambda p: ["latent", str(p), "--no-fd"],
                "resume": lambda p: ["train", "--resume", "--out", str(p), "--epochs", "3"]}
    config = (runs["ae"] / "config.yaml").read_text()
    config_edits = {
        "empty": "", "a list": "- 1\n- 2\n", "a number": "3\n", "binary": "\x00\x01\x02\xff", "unclosed": "{model: [",
        "tabs": "model:\tautoencoder\n", "unknown model": config.replace("model: autoencoder", "model: nosuch"),
        "model_config a string": config.replace("model_config:", "model_config: x\nold_model_config:"),
        "code_dim changed": config.replace("code_dim: 2", "code_dim: 3"),
        "code_dim a string": config.replace("code_dim: 2", "code_dim: two"),
        "input_shape changed": config.replace("- 8\n  - 8", "- 28\n  - 28"),
        "dataset changed to mnist": config.replace("name: digits", "name: mnist"),
        "epochs -1": config.replace("epochs: 2", "epochs: -1"),
        "an unknown key": config + "nosuch: 1\n",
        "lr nan": config.replace("lr: ", "lr: .nan #"),
    }
    for label, text in config_edits.items():
        for command in ("eval", "sample", "resume"):
            cases.append(Case("run folders", f"config.yaml {label} / {command}",
                              commands[command](damaged("ae", "config.yaml", text))))
    deleted = damaged("ae", "config.yaml", None)
    cases.append(Case("run folders", "config.yaml deleted / eval", commands["eval"](deleted)))
    for label, text in {"garbage": "{not json", "a list": "[1, 2]", "empty": "", "binary": b"\xff\xfe\x00"}.items():
        for command in ("eval", "latent"):
            cases.append(Case("run folders", f"summary.json {label} / {command}",
                              commands[command](damaged("ae", "summary.json", text)), "either"))
    metrics = (runs["ae"] / "metrics.jsonl").read_text()
    for label, text in {"garbage line": metrics + "{oops\n", "cut mid-line": metrics[:-20], "empty": "",
                        "a list per line": "[1]\n[2]\n", "deleted": None}.items():
        path = damaged("ae", "metrics.jsonl", text)
        cases.append(Case("run folders", f"metrics.jsonl {label} / resume", commands["resume"](path), "either",
                          check=_metrics_have_epochs(path, 3)))
    prior = sorted(p.name for p in runs["vae"].iterdir() if p.name.startswith("prior-gmm"))
    for file in prior:
        for label, content in {"garbage": b"\x00garbage", "empty": b"", "text": "components: -3\n"}.items():
            path = damaged("vae", file, content)
            cases.append(Case("run folders", f"{file} {label} / sample --prior gmm",
                              ["sample", str(path), "--prior", "gmm", "--n", "4", "--out", str(path / "s.npy")]))
    decaying = (runs["vae"] / "config.yaml").read_text()   # the VAE's rate decays (the autoencoder's is constant)
    edited = damaged("vae", "config.yaml", decaying.replace("epochs: 2", "epochs: 4"))
    cases.append(Case("run folders", "epochs edited in config.yaml (a decaying rate) / resume",
                      ["train", "--resume", "--out", str(edited)]))
    rebatched = damaged("ae", "config.yaml", config.replace("batch_size: 32", "batch_size: 16"))
    cases.append(Case("run folders", "batch_size edited in config.yaml / resume",
                      ["train", "--resume", "--out", str(rebatched)]))
    other_prior = copy_run(runs["ae3"], root / "folders" / "prior-of-another-code-size")
    for prior in runs["vae"].glob("prior-gmm.*"):
        shutil.copy(prior, other_prior / prior.name)
    cases.append(Case("run folders", "a GMM prior of 2-D codes in a run of 3-D codes / sample",
                      ["sample", str(other_prior), "--prior", "gmm", "--n", "4", "--out", str(other_prior / "s.npy")]))
    for name in ("model.safetensors", "summary.json", "config.yaml"):
        path = copy_run(runs["ae"], root / "folders" / f"dir-{name}")
        (path / name).unlink()
        (path / name).mkdir()
        cases.append(Case("run folders", f"{name} is a folder / eval", commands["eval"](path)))
    readonly = copy_run(runs["ae"], root / "folders" / "readonly")
    for p in [readonly, *readonly.iterdir()]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    for command in ("eval", "sample", "latent"):
        cases.append(Case("run folders", f"a read-only run folder / {command}", commands[command](readonly),
                          as_nobody=True, keep=[readonly]))
    return cases


def _metrics_have_epochs(run: Path, epochs: int):
    """One line per epoch, or (for a log whose lines were lost) the epochs trained since, with a warning."""
    def check(result: Result) -> str | None:
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        got = [line.get("epoch") for line in lines]
        warned = "lacks the lines of epoch" in result.err and got == sorted(set(got)) and got[-1:] == [epochs]
        return None if got == list(range(1, epochs + 1)) or warned else \
            f"metrics.jsonl epochs {got}, expected 1..{epochs}"
    return check


# ---------------------------------------------------------------------------------------------------- checkpoints
def checkpoint_cases(root: Path, runs: dict[str, Path]) -> list[Case]:
    """model.safetensors and checkpoint.safetensors replaced by broken, foreign or poisoned files."""
    import torch
    from safetensors.torch import load_file, save_file

    cases = []
    weights = (runs["ae"] / "model.safetensors").read_bytes()
    tensors = load_file(runs["ae"] / "model.safetensors")
    n = 0

    def with_weights(file: str, content: bytes) -> Path:
        nonlocal n
        n += 1
        path = copy_run(runs["ae"], root / "checkpoints" / f"ae-{n}")
        (path / file).write_bytes(content)
        return path

    def saved(transform) -> bytes:
        tmp = root / "checkpoints" / "tmp.safetensors"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        save_file(transform({k: v.clone() for k, v in tensors.items()}), tmp)
        return tmp.read_bytes()

    first = next(k for k, v in tensors.items() if v.ndim and len(v) > 1)
    poisoned = {
        "empty": b"", "8 bytes": weights[:8], "cut in the header": weights[:40], "cut in the data": weights[:-100],
        "cut by one byte": weights[:-1], "random bytes": os.urandom(len(weights)),
        "a header length of 2^60": struct.pack("<Q", 2**60) + weights[8:],
        "a header that is not JSON": struct.pack("<Q", 10) + b"{not json}" + weights[8:],
        "a pickle (torch.save)": _pickled(tensors),
        "a tensor renamed": saved(lambda t: {("x" + k if k == first else k): v for k, v in t.items()}),
        "a tensor missing": saved(lambda t: {k: v for k, v in t.items() if k != first}),
        "an extra tensor": saved(lambda t: {**t, "extra": torch.zeros(3)}),
        "a tensor of another shape": saved(lambda t: {k: (v[:1] if k == first else v) for k, v in t.items()}),
        "float64 tensors": saved(lambda t: {k: v.double() for k, v in t.items()}),
        "int32 tensors": saved(lambda t: {k: v.int() for k, v in t.items()}),
        "a NaN weight": saved(lambda t: {k: (v.fill_(float("nan")) if k == first else v) for k, v in t.items()}),
        "an infinite weight": saved(lambda t: {k: (v.fill_(float("inf")) if k == first else v) for k, v in t.items()}),
        "a VAE's weights": (runs["vae"] / "model.safetensors").read_bytes(),
        "a flow's weights": (runs["flow"] / "model.safetensors").read_bytes(),
    }
    for label, content in poisoned.items():
        for command in ("eval", "sample"):
            path = with_weights("model.safetensors", content)
            argv = (["eval", str(path), "--no-likelihood"] if command == "eval"
                    else ["sample", str(path), "--prior", "normal", "--n", "4", "--out", str(path / "s.npy")])
            cases.append(Case("checkpoints", f"model.safetensors: {label} / {command}", argv))
    checkpoint = (runs["ae"] / "checkpoint.safetensors").read_bytes()
    foreign = {
        "empty": b"", "cut": checkpoint[: len(checkpoint) // 2], "random bytes": os.urandom(len(checkpoint)),
        "the model weights only": weights, "a VAE's checkpoint": (runs["vae"] / "checkpoint.safetensors").read_bytes(),
        "a flow's checkpoint": (runs["flow"] / "checkpoint.safetensors").read_bytes(),
        "a pickle": _pickled(tensors),
    }
    for label, content in foreign.items():
        path = with_weights("checkpoint.safetensors", content)
        cases.append(Case("checkpoints", f"checkpoint.safetensors: {label} / resume",
                          ["train", "--resume", "--out", str(path), "--epochs", "3"], keep=[path]))
    other = copy_run(runs["ae"], root / "checkpoints" / "other-code-size")
    shutil.copy(runs["ae3"] / "checkpoint.safetensors", other / "checkpoint.safetensors")
    cases.append(Case("checkpoints", "checkpoint.safetensors of another code size / resume",
                      ["train", "--resume", "--out", str(other), "--epochs", "3"], keep=[other]))
    return cases


def _pickled(tensors) -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------- processes and disks
def process_cases(root: Path, runs: dict[str, Path]) -> list[Case]:
    """Kills (SIGKILL and Ctrl-C) at seeded random moments then a resume that must match the uninterrupted run
    bitwise; a disk that fills at every stage of a run; two writers at once; outputs that cannot be written."""
    import aeflow

    rng = random.Random(1)
    cases = []
    train = ["train", "autoencoder", "-m", "hidden=[32]", "-m", "code_dim=4", "--epochs", "6", "--batch-size", "32",
             "--train-subset", "512", "--no-progress", "--seed", "3"]
    reference = root / "processes" / "reference"
    aeflow.ensure(aeflow.make_config("autoencoder", "digits", {"hidden": [32], "code_dim": 4},
                                     {"epochs": 6, "batch_size": 32, "progress": False, "seed": 3}, train_subset=512),
                  reference)

    def killed_then_resumed(name: str, kills: int, kill_signal: int) -> None:
        out = root / "processes" / name
        first = [*train, "--out", str(out)]
        # After each stop, what a user runs: --resume once the run exists; the first command again while a stop
        # came before it wrote its config (a slow start on a loaded machine), which leaves nothing to resume.
        again = lambda: _continue(out, first)  # noqa: E731
        for i in range(kills):
            cases.append(Case("processes and disks", f"{name}: stopped after {i + 1} of {kills}",
                              first if i == 0 else again, "either", kill_after=rng.uniform(0.05, 1.2),
                              kill_signal=kill_signal))
        cases.append(Case("processes and disks", f"{name}: resumed after {kills} stops", again, "ok",
                          check=_same_weights(out, reference)))

    for i in range(4):
        killed_then_resumed(f"kill-9-{i}", 5, signal.SIGKILL)
    killed_then_resumed("ctrl-c", 5, signal.SIGINT)
    for i in range(12):   # Ctrl-C in a new interpreter, while it imports click, numpy, scipy or torch, or trains
        delay = rng.uniform(0.02, 4.0)
        cases.append(Case("processes and disks", f"Ctrl-C {delay:.2f} s after a fresh start",
                          [*train, "--out", str(root / "processes" / f"fresh-{i}")], "either", fresh=True,
                          kill_after=delay, kill_signal=signal.SIGINT))

    for limit in (0, 1, 200, 2_000, 10_000, 30_000, 100_000, 300_000):
        out = root / "processes" / f"full-{limit}"
        first = [*train, "--out", str(out)]
        cases.append(Case("processes and disks", f"disk full at {limit} bytes per file / train", first, "either",
                          check=_same_weights(out, reference), file_limit=limit))
        cases.append(Case("processes and disks", f"disk full at {limit} bytes / then continued",
                          lambda out=out, first=first: _continue(out, first), "ok",
                          check=_same_weights(out, reference)))
    constant = aeflow.ensure(aeflow.make_config("autoencoder", "digits", {"hidden": [32], "code_dim": 4},
                                                {"epochs": 2, "batch_size": 32, "progress": False,
                                                 "final_lr_fraction": 1.0}, train_subset=512),
                             root / "processes" / "constant-rate")
    finished = copy_run(constant, root / "processes" / "finished")
    for limit in (0, 1_000, 50_000):
        cases.append(Case("processes and disks", f"disk full at {limit} bytes / extending a finished run",
                          ["train", "--resume", "--out", str(finished), "--epochs", "8"], keep=[finished],
                          file_limit=limit))
        cases.append(Case("processes and disks", f"disk full at {limit} bytes / extended run continued",
                          ["train", "--resume", "--out", str(finished)], "ok"))
        cases.append(Case("processes and disks", f"disk full at {limit} bytes / eval",
                          ["eval", str(finished), "--json", str(root / "processes" / "eval.json")], "either",
                          keep=[finished], file_limit=limit))
        cases.append(Case("processes and disks", f"disk full at {limit} bytes / sample",
                          ["sample", str(finished), "--prior", "gmm", "--n", "500", "--out",
                           str(root / "processes" / "s.npy")], "either", keep=[finished], file_limit=limit))
    cases.append(Case("processes and disks", "eval after the full disks", ["eval", str(finished)], "ok",
                      keep=[finished]))
    busy = root / "processes" / "busy"   # long enough to be under way when the second command comes
    long = [*train[:train.index("--epochs")], "--epochs", "150", *train[train.index("--epochs") + 2:], "-t",
            "final_lr_fraction=1", "--out", str(busy)]
    cases.append(Case("processes and disks", "a second train into a folder being trained", long, alongside=long))
    commands = (["eval", str(busy)], ["sample", str(busy), "--n", "4"], ["latent", str(busy), "--no-fd"],
                ["train", "--resume", "--out", str(busy)])
    for i, command in enumerate(commands):
        cases.append(Case("processes and disks", f"{command[0]} of a folder being extended", command,
                          alongside=["train", "--resume", "--out", str(busy), "--epochs", str(300 + 150 * i)]))
    cases.append(Case("processes and disks", "two samples of one run at once",
                      ["sample", str(finished), "--n", "8", "--prior", "normal"], "either", keep=[finished],
                      alongside=["sample", str(finished), "--n", "8", "--prior", "normal"]))
    blocker = root / "processes" / "a-file"
    blocker.write_text("x")
    targets = {"a file": blocker, "under a file": blocker / "run", "a 300-character name": root / ("r" * 300),
               "a path of 5000 characters": root / "/".join(["p" * 200] * 25)}
    for label, target in targets.items():
        cases.append(Case("processes and disks", f"train --out {label}", [*train, "--out", str(target)]))
    closed = root / "processes" / "closed"
    closed.mkdir()
    closed.chmod(0o555)
    cases.append(Case("processes and disks", "train --out in a read-only folder", [*train, "--out",
                                                                                   str(closed / "run")],
                      as_nobody=True))
    cases.append(Case("processes and disks", "sample --out in a read-only folder",
                      ["sample", str(finished), "--n", "4", "--out", str(closed / "s.npy")], as_nobody=True,
                      keep=[finished]))
    return cases


def _continue(out: Path, first: list[str]) -> list[str]:
    """What a user runs after a failed start: --resume if the run got as far as its config, else the same command."""
    return ["train", "--resume", "--out", str(out)] if (out / "config.yaml").exists() else first


def _same_weights(run: Path, reference: Path):
    def check(result: Result) -> str | None:
        import torch

        import aeflow

        got, want = aeflow.load(run).state_dict(), aeflow.load(reference).state_dict()
        differ = [k for k in want if not torch.equal(got[k], want[k])]
        lines = [line for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        if differ:
            return f"weights differ from the uninterrupted run: {differ}"
        if len(lines) != 6 or list(run.glob("*.aeflow-tmp")):
            return f"{len(lines)} metrics lines, temp files {list(run.glob('*.aeflow-tmp'))}"
        return None
    return check


# ---------------------------------------------------------------------------------------------- reuse and ownership
USER_FILES = {"config.yaml": "model: my own notes, not aeflow's\n", "notes.tmp": "a user's temp-named file\n",
              "sub/draft.tmp": "deeper\n", "sub/data.npy": "not an array\n", "summary.json": "{}\n",
              "model.safetensors": "mine\n"}


def plant_user_files(root: Path) -> dict[Path, bytes]:
    """A user's files, in a folder of their own (met as --out below) and beside the folders the corpus's
    commands write: after every case each must be byte for byte what it was (tests/reliability.py)."""
    planted = {}
    for folder in ("user-folder", "user-folder-2", ".", "option-runs", "processes", "folders", "reuse",
                   "reuse/lineages"):
        for name, text in USER_FILES.items():
            if folder != "user-folder" and "/" in name:
                continue
            path = root / folder / (name if folder.startswith("user-folder") else f"USER-{name.replace('/', '-')}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            planted[path] = path.read_bytes()
    return planted


def reuse_cases(root: Path, runs: dict[str, Path], lineage: Path | None = None) -> list[Case]:
    """What is reused must be what was asked for, every option is taken or refused, and aeflow touches only its
    own folders: --out into a user's folder, runs swapped inside a sweep or a lineage, lineage folders of another
    budget or edited by hand, sampling and training options their model does not take, existing user files as
    outputs."""
    from aeflow.studies.lineage.run import run_lineage

    cases = []
    out = root / "reuse"
    user = root / "user-folder"

    def case(name: str, argv, expect: str = "error", **kw) -> None:
        cases.append(Case("reuse and ownership", name, argv, expect, **kw))

    for command in (["train", "autoencoder", *TINY_TRAIN[2:]], ["sweep", "beta", "--values", "1", "--epochs", "1"],
                    ["reproduce", "swissroll", "--epochs", "1"], ["lineage", "--budget", "test"]):
        case(f"{command[0]} --out a user's folder", [*command, "--out", str(user)])
        case(f"{command[0]} --out a user's folder, --rerun", [*command, "--out", str(user), "--rerun"]
             if command[0] != "train" else [*command, "--out", str(root / "user-folder-2")])
    case("train --out a lineage folder", ["train", "autoencoder", *TINY_TRAIN[2:], "--out", str(out / "lin-kind")],
         setup=lambda: _made(out / "lin-kind", "lineage"))
    case("train --out a file", ["train", "autoencoder", *TINY_TRAIN[2:], "--out", str(user / "notes.tmp")])
    case("a refused train leaves no folder behind", ["train", "autoencoder", *TINY_TRAIN[2:], "-d", "mnist",
                                                     "--data-dir", str(root / "nowhere"), "--no-download",
                                                     "--out", str(out / "left" / "behind")],
         check=lambda r: None if not (out / "left").exists() else f"{out / 'left'} was left behind")

    # runs swapped inside a sweep: another finished run under the name of the one asked for
    sweep = out / "sweep"
    def swept_with(epochs: str) -> list[str]:
        return ["sweep", "beta", "--values", "1", "-m", "hidden=[8]", "-m", "latent_dim=2", "--epochs", epochs,
                "--no-fd", "--no-progress", "--out", str(sweep)]

    swept = swept_with("1")
    case("sweep beta (made)", swept, "ok")
    case("sweep beta with its run swapped for an autoencoder", swept,
         setup=lambda: _swap(runs["ae"], sweep / "beta-1"))
    mine = {sweep / "beta-1" / "my-plot.png": b"a user's plot", sweep / "beta-1" / "samples-from-colab.npy": b"mine",
            sweep / "beta-1" / "latent" / "README.txt": b"my notes"}
    case("sweep beta with the swapped run, --rerun", [*swept, "--rerun"], "ok",
         setup=lambda: _plant(mine), check=lambda r: _family_is(sweep / "beta-1", "vae") or _kept(mine))
    case("sweep beta again (reused)", swept, "ok", keep=[sweep / "beta-1"])
    case("sweep beta with another epochs into the same folder", swept_with("2"), keep=[sweep / "beta-1"])

    # a lineage at the test budget, then edited, swapped and asked at another budget
    lineages = out / "lineages"
    original = lineages / "original"
    if lineage is not None:   # one the test session made already: copied, then reused here (which checks it)
        shutil.copytree(lineage, original, ignore=shutil.ignore_patterns(".aeflow.lock"))
    run_lineage("digits", "test", original, progress=False)
    lineage = ["lineage", "--budget", "test", "--no-progress"]

    def copied(name: str, edit=None) -> Path:
        path = lineages / name
        shutil.copytree(original, path, ignore=shutil.ignore_patterns(".aeflow.lock"))
        if edit:
            edit(path)
        return path

    case("lineage --budget cpu on a test-budget folder", ["lineage", "--budget", "cpu", "--out", str(original)])
    case("lineage --dataset mnist on a digits folder", ["lineage", "--budget", "test", "-d", "mnist", "--out",
                                                        str(original)])
    case("lineage again (every chapter reused)", [*lineage, "--out", str(original)], "ok",
         check=_lineage_reused(len(CHAPTERS)))
    for label, text in {"{}": "{}", "[]": "[]", "runs: 5": '{"runs": 5}', "not JSON": "{oops",
                        "a number changed": None, "empty": ""}.items():
        path = copied(f"edited-{len(cases)}", lambda p, text=text: _edit_record(p / "chapters" / "05-vae.json", text))
        case(f"lineage with a chapter record edited to {label}", [*lineage, "--out", str(path)], "ok",
             check=_lineage_reused(len(CHAPTERS) - 1))
    swapped = copied("swapped", lambda p: _swap(runs["ae"], p / "05-vae" / "beta-1"))
    case("lineage with a chapter's run swapped for another finished run", [*lineage, "--out", str(swapped)])
    theirs = {swapped / "05-vae" / "beta-1" / "my-comparison.png": b"a user's figure",
              swapped / "chapters" / "my-notes.json": b"{}", swapped / "05-vae" / "mine.png": b"theirs"}
    case("lineage with the swapped run, --rerun", [*lineage, "--out", str(swapped), "--rerun"], "ok",
         setup=lambda: _plant(theirs),
         check=lambda r: _family_is(swapped / "05-vae" / "beta-1", "vae") or _kept(theirs))
    older = copied("older", lambda p: (p / ".aeflow.json").unlink())
    case("a lineage folder from an earlier version", [*lineage, "--out", str(older)])

    # options a sampler or a source does not take; training options a family does not take
    flow, ddpm, vae, ae, pca = (str(runs[k]) for k in ("flow", "ddpm", "vae", "ae", "pca"))
    for name, argv in {"a flow with --temperature 0.5": [flow, "--temperature", "0.5"],
                       "ddpm's ancestral sampler with --steps 5": [ddpm, "--sampler", "ddpm", "--steps", "5"],
                       "ddim with more steps than T = 20": [ddpm, "--sampler", "ddim", "--steps", "50"],
                       "adaptive with --steps 5": [flow, "--sampler", "adaptive", "--steps", "5"],
                       "a flow with --components 3": [flow, "--components", "3"],
                       "a flow with --refit": [flow, "--refit"],
                       "a flow with --data-dir": [flow, "--data-dir", str(root)],
                       "a VAE's own prior with --components 3": [vae, "--components", "3"],
                       "a VAE's own prior with --temperature 0.5": [vae, "--temperature", "0.5"],
                       "the normal prior with --components 3": [ae, "--prior", "normal", "--components", "3"],
                       "the normal prior with --eta 1": [ae, "--prior", "normal", "--eta", "1"]}.items():
        case(f"sample {name}", ["sample", *argv, "--n", "4", "--out", str(out / "never.npy")],
             keep=[Path(argv[0])])
    case("sample ddim --steps 20 (T): taken", ["sample", ddpm, "--sampler", "ddim", "--steps", "20", "--n", "4",
                                               "--out", str(out / "ddim20.npy")], "ok", keep=[runs["ddpm"]])
    for name, argv in {"pca --epochs 5": ["pca", "--epochs", "5"], "pca -t ema_decay=0.9": ["pca", "-t",
                                                                                           "ema_decay=0.9"],
                       "pca --compile": ["pca", "--compile"],
                       "pca -t max_train_seconds=5": ["pca", "-t", "max_train_seconds=5"],
                       "autoencoder -t sample_every=1": ["autoencoder", *TINY_TRAIN[2:], "-t", "sample_every=1"],
                       "ddpm -m timesteps=20 (a linear schedule)": ["ddpm", "-m", "timesteps=20", "-m",
                                                                    "network=mlp", *TINY_TRAIN[2:]]}.items():
        case(f"train {name}", ["train", *argv, "--out", str(out / "never-trained")])
    case("sample --out a user's existing file", ["sample", vae, "--n", "4", "--out", str(user / "sub" / "data.npy")],
         keep=[runs["vae"]])
    case("eval --json a user's existing file", ["eval", ae, "--no-samples", "--json", str(user / "summary.json")],
         keep=[runs["ae"]])
    case("train pca (fitted: no training options)", ["train", "pca", "-m", "n_components=2", "--out",
                                                     str(out / "pca")], "ok")
    return cases


def _plant(files: dict[Path, bytes]) -> None:
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _kept(files: dict[Path, bytes]) -> str | None:
    changed = [str(path) for path, content in files.items() if not path.is_file() or path.read_bytes() != content]
    return f"a user's files removed or changed: {', '.join(changed)}" if changed else None


def _made(folder: Path, kind: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".aeflow.json").write_text(json.dumps({"made_by": "aeflow", "kind": kind}))


def _swap(run: Path, into: Path) -> None:
    """`into` replaced by a copy of another finished run (as a careless copy or an old folder would)."""
    shutil.rmtree(into, ignore_errors=True)
    shutil.copytree(run, into, ignore=shutil.ignore_patterns(".aeflow.lock"))


def _edit_record(path: Path, text: str | None) -> None:
    if text is None:   # one number changed, the rest of the record as aeflow wrote it
        record = json.loads(path.read_text())
        record["seconds"] = record["seconds"] + 1000
        text = json.dumps(record)
    path.write_text(text)


def _family_is(run: Path, family: str) -> str | None:
    from aeflow.runs import load_config

    model = load_config(run).model
    return None if model == family else f"{run} holds a {model}, not a {family}"


def _lineage_reused(reused: int):
    def check(result: Result) -> str | None:
        count = result.err.count("finished earlier, reused")
        return None if count == reused else f"{count} chapters reused, expected {reused}: {result.err[-600:]}"
    return check


def build(root: Path, mnist: Path | None, lineage: Path | None = None) -> tuple[list[Case], dict[Path, bytes]]:
    """Every case, in an order where each category's setup precedes its commands, and the user's files planted
    among them (each must survive every case unchanged). `lineage`: a finished digits lineage at the test budget
    to start the lineage cases from (made here without one)."""
    root.mkdir(parents=True, exist_ok=True)
    planted = plant_user_files(root)
    runs = reference_runs(root)
    cases = data_file_cases(root, mnist) if mnist else []
    return [*cases, *sample_file_cases(root), *option_cases(root, runs), *run_folder_cases(root, runs),
            *checkpoint_cases(root, runs), *process_cases(root, runs), *reuse_cases(root, runs, lineage)], planted
