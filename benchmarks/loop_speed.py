"""Training-loop speed of this code against another checkout of aeflow, on the same machine in turns: the way
to check that a change to the loop made nothing slower (one process each, one thread, alternating, so that the
machine's drift lands on both sides).

    git worktree add --detach /tmp/before <commit>
    python benchmarks/loop_speed.py --before /tmp/before/src --rounds 3

Prints, per job, the training seconds (summary.json's train_time_s: the steps and the per-epoch evaluation) of
each round on each side and the ratio of the medians (after / before; below 1 is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "src"
JOBS = {   # the MLP loop (many small steps) and a UNet (few large ones), both on digits
    "vae, 30 epochs": ["vae", "--epochs", "30"],
    "flow UNet (32, 64), 2 epochs of 512 images": ["flow", "-m", "channels=[32,64]", "--epochs", "2",
                                                    "--train-subset", "512"],
}


def train_seconds(src: Path, args: list[str], out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src), "AEFLOW_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "aeflow", "train", *args, "--no-progress", "--out", str(out)], env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((out / "summary.json").read_text())["train_time_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the other checkout's src folder")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sides = {"before": Path(args.before).resolve(), "after": HERE}
    times = {(job, side): [] for job in JOBS for side in sides}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            for side, src in sides.items():
                for job, job_args in JOBS.items():
                    seconds = train_seconds(src, job_args, Path(folder) / f"{side}-{round_}-{job_args[0]}")
                    times[job, side].append(seconds)
                    print(f"round {round_ + 1}, {side}, {job}: {seconds:.2f} s", file=sys.stderr, flush=True)
    print("| job | before (s) | after (s) | after / before (medians) |\n| --- | --- | --- | ---: |")
    for job in JOBS:
        before, after = times[job, "before"], times[job, "after"]
        print(f"| {job} | {', '.join(f'{t:.2f}' for t in before)} | {', '.join(f'{t:.2f}' for t in after)} | "
              f"{statistics.median(after) / statistics.median(before):.2f} |")


if __name__ == "__main__":
    main()
