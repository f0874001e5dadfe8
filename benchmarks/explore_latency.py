"""Explorer latency, measured the way a browser sees it: `aeflow explore` started as its own process, and a
loopback client sending each slider request a bounded number of times (after one warm-up request, which
loads the model), reporting p50 and p95 per endpoint; and the gallery of 64 flow samples at 10 steps.

    python benchmarks/explore_latency.py RUNS_FOLDER [--requests 40] [--busy]

--busy: the same with another aeflow job on the machine all the while (`aeflow train flow` on digits, as many
epochs as the measurement lasts, into a temporary folder), as on a machine shared with a training run.

The folder's runs measured: a VAE, an ordered autoencoder, a denoising autoencoder, a masked autoencoder and a
flow (the first run of each family found; a family it lacks is left out): a lineage's folder holds them all.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per endpoint (after one warm-up)")
    parser.add_argument("--busy", action="store_true", help="with an aeflow training job running beside it")
    args = parser.parse_args()
    with another_job(args.busy):
        rows = measure(args)
    print(f"{'with an aeflow training job beside it' if args.busy else 'nothing else started'}\n")
    print("| request | N | p50 (ms) | p95 (ms) |\n| --- | ---: | ---: | ---: |")
    for name, times in rows:
        ms = sorted(t * 1000 for t in times)
        p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
        print(f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {p95:.1f} |")


@contextmanager
def another_job(busy: bool):
    """A flow training on digits for as long as the block runs (nothing when not `busy`)."""
    if not busy:
        yield
        return
    with tempfile.TemporaryDirectory() as folder:
        job = subprocess.Popen([sys.executable, "-m", "aeflow", "train", "flow", "--epochs", "10000", "--no-progress",
                                "--out", f"{folder}/flow"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(5)   # under way: loaded, training
            assert job.poll() is None, "the training job beside the measurement stopped"
            yield
            assert job.poll() is None, "the training job beside the measurement stopped before the end"
        finally:
            job.terminate()
            job.wait(60)


def measure(args) -> list[tuple[str, list[float]]]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "aeflow", "explore", args.folder, "--no-browser", "--port",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(600):
                try:
                    runs = client.get("/api/runs").json()
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            first = {}
            for r in runs:
                first.setdefault(r["family"], r["id"])
            slider = {
                "decode (VAE)": ("vae", "decode.png?z=" + ",".join(["0.3"] * _dim(runs, "vae"))),
                "traversal (VAE)": ("vae", "traverse.png?index={i}&dim=1"),
                "prefix (ordered AE)": ("ordered-ae", "prefix.png?index={i}&k=5"),
                "denoise (denoising AE)": ("denoising-ae", "denoise.png?index={i}&kind=gaussian&level=0.3"),
                "mask (MAE)": ("mae", "mask.png?index={i}&ratio=0.75"),
                "perturb (VAE)": ("vae", "perturb.png?index={i}&scale=0.5"),
            }
            rows = []
            for name, (family, path) in slider.items():
                if family not in first:
                    continue
                rows.append((name, timed(client, f"/api/runs/{first[family]}/{path}", args.requests)))
            for sampler, evaluations in (("heun", 19), ("euler", 10)) if "flow" in first else ():
                rows.append((f"gallery: 64 flow samples, 10 {sampler.title()} steps ({evaluations} evaluations)",
                             timed(client, f"/api/runs/{first['flow']}/samples.png?n=64&sampler={sampler}&steps=10"
                                           "&seed={i}", min(args.requests, 10))))
    finally:
        server.terminate()
        server.wait(10)
    return rows


def _dim(runs: list[dict], family: str) -> int:
    return next((r["code_dim"] for r in runs if r["family"] == family), 0) or 1


def timed(client: httpx.Client, path: str, count: int) -> list[float]:
    client.get(path.format(i=0)).raise_for_status()   # warm-up: loads the model and the dataset
    times = []
    for i in range(count):
        start = time.perf_counter()
        client.get(path.format(i=i % 200)).raise_for_status()
        times.append(time.perf_counter() - start)
    return times


if __name__ == "__main__":
    main()
