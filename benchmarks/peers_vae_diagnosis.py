"""Why aeflow's Bernoulli VAE lost to pythae's at the peers' cpu budget: the network or the training? Each line
trains a 16-d Bernoulli VAE on the peers' training split of 8x8 digits for the same number of optimiser steps and
scores 360 decoded N(0, I) codes against the test images (FD in the digits classifier's space), at several seeds:

    python benchmarks/peers_vae_diagnosis.py [--steps 7500] [--seeds 5]

- pythae's network (its default MLP, 784-512-16, ReLU) and aeflow's VAE with ReLU and with SiLU (its default),
  each under one plain loop: Adam at 1e-3, batch 100, reshuffled each epoch (pythae's recipe, no schedule);
- aeflow's VAE (ReLU) under aeflow's own training loop at the same steps (batch 128): as the peers run it
  (warm-up, a cosine to zero, clipping at 1), and at a constant rate without clipping;
- where a win could come from: aeflow's VAE under the plain loop with other networks and objectives (two hidden
  layers of 512 and 256, one of 1024, the IWAE bound with 5 samples), each timed (seconds per run: a deeper
  network takes fewer steps in the peers' equal seconds).

A diagnosis on the test images, not a choice: the peers' search chooses on held-out training images only.

    python benchmarks/peers_vae_diagnosis.py --choose

chooses aeflow's VAE network by the search's rule instead, written before its first run: candidates aeflow's
default (SiLU, 256-128), pythae's (ReLU, 512), ReLU 512-256, SiLU 512-256 and ReLU 1024, each under the plain
loop; FD of N(0, I) samples against the held-out training images (the peers' validation split, 143 images), mean
over the seeds in the digits classifier's space; the lowest wins, the cheaper per step when two are within each
other's spread. With `--likelihood gaussian` (pythae's MNIST "mse": a Gaussian of sigma 1) the same candidates and
rule choose for the Gaussian VAE row, which until then used the Bernoulli's choice; `--likelihood` sets the
likelihood of every VAE line but --choose-kl's, which tries both.

    python benchmarks/peers_vae_diagnosis.py --choose-ae

does the same for aeflow's autoencoder in the autoencoder + GMM row (squared error, 16-d code), by the same rule
on the FD of its 10-component GMM's samples (fitted to the training codes), written before its first run:
candidates aeflow's default (GELU, batch norm, 256-128), the row's network until now (ReLU, 512, batch norm),
pythae's MLP as it is (ReLU, 512, no norm) and GELU, batch norm, 512-256.

    python benchmarks/peers_vae_diagnosis.py --choose-kl

chooses aeflow's KL schedule for the two VAE rows, for each likelihood apart (the Gaussian of sigma 1, the
Bernoulli), by a rule written before its first run: aeflow's VAE network as the rows build it (its default), under
aeflow's loop as the peers run it (batch 128, lr 1e-3, warm-up, a cosine to zero, clipping at 1) for the steps'
epochs; candidates the KL weight at 1 throughout (the rows until now), and a linear KL warm-up from 0 to 1 over the
first quarter and over the first half of the epochs (Bowman et al. 2016; the lineage's warm-up chapter uses the
half); FD of N(0, I) samples against the held-out training images, mean over the seeds in the digits classifier's
space; the lowest mean wins, but the weight at 1 throughout is kept unless the lowest is below it by more than the
two standard deviations together (the peers' "within the spread").
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path

import torch

from aeflow.data import load_dataset
from aeflow.models.registry import build_model
from aeflow.peers.pythae_models import adapt, build
from aeflow.runs import feature_extractor, load
from aeflow.runs.features import measure_generator
from aeflow.runs.pipeline import ensure
from aeflow.runs.sampling import SampleRequest
from aeflow.runs.train import make_config
from aeflow.studies.peers.budgets import peer_budget
from aeflow.studies.peers.pairs import GMM
from aeflow.studies.peers.run import split

LIKELIHOODS = {"bernoulli": ({"likelihood": "bernoulli"}, "bce"),   # aeflow's options, pythae's loss
               "gaussian": ({"likelihood": "gaussian", "gaussian_std": 1.0}, "mse")}


def plain_loop(model: torch.nn.Module, loss, train_x: torch.Tensor, steps: int, seed: int) -> None:
    """pythae's recipe as a bare loop: Adam at 1e-3, batch 100, a new order each epoch."""
    order, optimiser, step = torch.Generator().manual_seed(seed), torch.optim.Adam(model.parameters(), lr=1e-3), 0
    while step < steps:
        perm = torch.randperm(len(train_x), generator=order)
        for i in range(0, len(train_x), 100):
            if step == steps:
                return
            optimiser.zero_grad()
            loss(train_x[perm[i:i + 100]]).backward()
            optimiser.step()
            step += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=7500)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--choose", action="store_true", help="choose aeflow's network on held-out images")
    parser.add_argument("--choose-ae", action="store_true", help="the same for the autoencoder + GMM row")
    parser.add_argument("--likelihood", choices=sorted(LIKELIHOODS), default="bernoulli")
    parser.add_argument("--choose-kl", action="store_true", help="choose aeflow's KL schedule for the VAE rows")
    args = parser.parse_args()
    likelihood, pythae_loss = LIKELIHOODS[args.likelihood]
    network = {"hidden": [512], "latent_dim": 16, **likelihood}
    data = load_dataset("digits")
    fit, final = split(data, peer_budget("cpu"))
    extractor = feature_extractor("digits", data, progress=False)
    folder = Path(tempfile.mkdtemp(prefix="aeflow-vae-diagnosis-"))

    def pythae_network(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        model = build("vae", data.shape, 16, reconstruction_loss=pythae_loss)
        plain_loop(model, lambda x: model({"data": x}).loss, fit.train_x, args.steps, seed)
        return adapt(model.eval(), data.shape)

    def aeflow_model(family: str, options: dict):
        def make(seed: int) -> torch.nn.Module:
            torch.manual_seed(seed)
            model = build_model(family, options, data.shape)
            plain_loop(model, lambda x: model.loss({"x": x})["loss"], fit.train_x, args.steps, seed)
            return model.eval()
        return make

    def aeflow_network(activation: str, **options):
        return aeflow_model("vae", {**network, "activation": activation, **options})

    epochs = max(1, args.steps // (len(fit.train_x) // 128))

    def aeflow_loop(name: str, options: dict | None = None, **train):
        def make(seed: int) -> torch.nn.Module:
            config = make_config("vae", "digits", options or {**network, "activation": "relu"},
                                 {"batch_size": 128, "lr": 1e-3, "epochs": epochs, "seed": seed, "progress": False,
                                  **train}, train_subset=len(fit.train_x))
            with contextlib.redirect_stderr(io.StringIO()):   # its epoch lines
                return load(ensure(config, folder / name / str(seed), dataset=fit)).eval()
        return make

    lines = {"pythae's network, plain loop": pythae_network,
             "aeflow's network (ReLU), plain loop": aeflow_network("relu"),
             "aeflow's network (SiLU, its default), plain loop": aeflow_network("silu"),
             "aeflow's network (ReLU), aeflow's loop as the peers run it": aeflow_loop("scheduled"),
             "aeflow's network (ReLU), aeflow's loop, constant rate, no clipping":
                 aeflow_loop("constant", final_lr_fraction=1.0, grad_clip=0.0),
             "aeflow's VAE, ReLU, hidden 512-256, plain loop": aeflow_network("relu", hidden=[512, 256]),
             "aeflow's VAE, ReLU, hidden 1024, plain loop": aeflow_network("relu", hidden=[1024]),
             "aeflow's VAE, ReLU, IWAE bound (k = 5), plain loop": aeflow_network("relu", iwae_k=5)}
    def aeflow_autoencoder(**options):
        return aeflow_model("autoencoder", {"code_dim": 16, "recon_loss": "mse", **options})

    against, n, source = final, 360, None
    if args.choose_ae:
        lines = {"aeflow's default (GELU, batch norm, 256-128)": aeflow_autoencoder(),
                 "the row's until now (ReLU, 512, batch norm)": aeflow_autoencoder(hidden=[512], activation="relu"),
                 "pythae's MLP (ReLU, 512, no norm)": aeflow_autoencoder(hidden=[512], activation="relu", norm="none"),
                 "GELU, batch norm, 512-256": aeflow_autoencoder(hidden=[512, 256])}
        against, n, source = fit, len(fit.test_x), "gmm"
    if args.choose:
        lines = {"aeflow's default (SiLU, 256-128)": aeflow_network("silu", hidden=[256, 128]),
                 "pythae's (ReLU, 512)": aeflow_network("relu"),
                 "ReLU, 512-256": aeflow_network("relu", hidden=[512, 256]),
                 "SiLU, 512-256": aeflow_network("silu", hidden=[512, 256]),
                 "ReLU, 1024": aeflow_network("relu", hidden=[1024])}
        against, n = fit, len(fit.test_x)
    if args.choose_kl:
        lines = {}
        for name, (options, _) in (("Gaussian, sigma 1", LIKELIHOODS["gaussian"]),
                                   ("Bernoulli", LIKELIHOODS["bernoulli"])):
            for share, label in ((0.0, "KL weight 1 throughout"), (0.25, "KL warm-up, first quarter"),
                                 (0.5, "KL warm-up, first half")):
                warm_up = {"kl": {"kind": "linear", "start": 0.0, "end": 1.0, "epochs": share * epochs}}
                lines[f"{name}: {label}"] = aeflow_loop(f"{options['likelihood']}-{share}",
                                                        {"latent_dim": 16, **options},
                                                        loss_weights=warm_up if share else {})
        against, n = fit, len(fit.test_x)
    print(f"{args.steps} steps, seeds 0-{args.seeds - 1}; FD of {n} {'GMM' if source else 'N(0, I)'} samples "
          f"against the {'test' if against is final else 'held-out training'} images")
    print("| network and loop | FD per seed | mean +/- sd | FD in the judge's space | seconds per run |\n"
          "|---|---|---:|---:|---:|")
    for label, make in lines.items():
        fds, judged, seconds = [], [], []
        for seed in range(args.seeds):
            started = time.perf_counter()
            model = make(seed)
            seconds.append(time.perf_counter() - started)
            with torch.no_grad():
                row, _, _ = measure_generator(model, None, SampleRequest(source=source, n=n, seed=seed,
                                                                           prior_options=GMM if source else {}),
                                              against, extractor, label)
            fds.append(row.fd)
            judged.append(row.fd_judge)
        print(f"| {label} | {', '.join(f'{fd:.1f}' for fd in fds)} | {statistics.mean(fds):.1f} +/- "
              f"{statistics.stdev(fds):.1f} | {statistics.mean(judged):.2f} +/- {statistics.stdev(judged):.2f} | "
              f"{statistics.mean(seconds):.1f} |", flush=True)


if __name__ == "__main__":
    main()
