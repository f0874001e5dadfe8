"""Training throughput of one run in 1 and in N processes (torchrun, gloo on the CPU; nccl on GPUs), the same
global batch, measured in one invocation as ratios to the one-process run (the machine's load printed beside).

    python benchmarks/ddp.py [--processes 2] [--workloads "mlp autoencoder,flow unet"]

Each run's images/s is its summary.json's (training steps only, evaluations excluded). One process takes every
core (AEFLOW_THREADS = cores); N processes take cores / N threads each: the same cores, split.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

WORKLOADS = {
    "mlp autoencoder": ["hinton", "-m", "hidden=[256,128,64]", "-m", "code_dim=10", "--batch-size", "128",
                        "--epochs", "60"],
    "flow unet": ["flow", "-m", "channels=[32,64]", "--batch-size", "64", "--epochs", "4"],
}


def train(workload: list[str], processes: int, out: Path) -> dict:
    cores = os.cpu_count() or 1
    env = {**os.environ, "AEFLOW_THREADS": str(max(1, cores // processes))}
    launcher = ([sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={processes}"] if processes > 1
                else [sys.executable])
    subprocess.run([*launcher, "-m", "aeflow", "train", *workload, "--no-progress", "--out", str(out)], env=env,
                   check=True, capture_output=True, text=True)
    return json.loads((out / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f}   cores: {os.cpu_count()}")
    print("| workload | processes | images/s | ratio to 1 process | final test loss |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.workloads.split(","):
            one = None
            for processes in (1, args.processes):
                summary = train(WORKLOADS[name], processes, Path(tmp) / f"{name.replace(' ', '-')}-{processes}")
                one = one or summary["images_per_s"]
                print(f"| {name} | {processes} | {summary['images_per_s']:.0f} | {summary['images_per_s'] / one:.2f} | "
                      f"{summary['final']['test/loss']:.4f} |", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
