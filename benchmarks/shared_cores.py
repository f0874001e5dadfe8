"""Two aeflow jobs on one machine: each job's training throughput alone and beside an identical job, under
each thread setting, as ratios measured in one run (the machine's other load is printed beside them).

    python benchmarks/shared_cores.py [--settings torch,1,2-passive,auto] [--workloads "flow unet"]

A setting is the environment a job starts with: `torch` leaves torch's default threads (one per core, spinning
while they wait), `N` sets AEFLOW_THREADS=N, `N-passive` adds OMP_WAIT_POLICY=PASSIVE (waiting threads sleep), `N-spinK`
GOMP_SPINCOUNT=K (waiting threads spin K times, then sleep),
`auto` is aeflow's policy (aeflow/threads.py). Two workloads: the Hinton MLP autoencoder and the flow UNet, on
digits.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOADS = {   # each about 10-20 s alone on 2 cores
    "mlp autoencoder": ["hinton", "-m", "hidden=[256,128,64]", "-m", "code_dim=10", "--batch-size", "128",
                        "--epochs", "150"],
    "flow unet": ["flow", "-m", "channels=[32,64]", "--batch-size", "64", "--epochs", "8"],
}


def environment(setting: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("AEFLOW_THREADS", "OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT")}
    threads, _, wait = setting.partition("-")
    env["AEFLOW_THREADS"] = threads
    if wait == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    elif wait.startswith("spin"):
        env["GOMP_SPINCOUNT"] = wait.removeprefix("spin")
    return env


def start(workload: list[str], setting: str, out: Path) -> subprocess.Popen:
    started = time.perf_counter()
    job = subprocess.Popen([sys.executable, "-m", "aeflow", "train", *workload, "--no-progress", "--out", str(out)],
                            env=environment(setting),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    job.started = started
    return job


def images_per_s(job: subprocess.Popen, out: Path) -> tuple[float, float]:
    """(training images/s over the job's training time, the whole command's seconds from its start)."""
    _, err = job.communicate()
    if job.returncode:
        raise SystemExit(f"a job failed: {err.decode()[-500:]}")
    return json.loads((out / "summary.json").read_text())["images_per_s"], time.perf_counter() - job.started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default="torch,1,2-passive,auto")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated: " + ", ".join(WORKLOADS))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aeflow-shared-cores-"))
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}")
    print("| workload | threads | alone (img/s) | each of two (img/s) | each of two / alone | each of two / best "
          "alone | whole command alone (s) | each of two (s) | alone / each of two |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.workloads.split(","):
        workload = WORKLOADS[name]
        rows = []
        for setting in args.settings.split(","):
            alone_out = work / f"{name}-{setting}-alone"
            alone, alone_s = images_per_s(start(workload, setting, alone_out), alone_out)
            outs = [work / f"{name}-{setting}-pair-{i}" for i in range(2)]
            jobs = [start(workload, setting, out) for out in outs]
            time.sleep(0.1)
            pair = [images_per_s(job, out) for job, out in zip(jobs, outs)]
            rows.append((setting, alone, min(rate for rate, _ in pair), alone_s, max(s for _, s in pair)))
        best = max(row[1] for row in rows)
        for setting, alone, each, alone_s, each_s in rows:
            print(f"| {name} | {setting} | {alone:,.0f} | {each:,.0f} | {each / alone:.2f} | {each / best:.2f} | "
                  f"{alone_s:.1f} | {each_s:.1f} | {alone_s / each_s:.2f} |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
