"""Choosing how aeflow's flow draws its training times in the two flow-matching rows of `aeflow peers` (OT-CFM and
I-CFM), by a rule written before its first run:

    python benchmarks/peers_flow_choice.py [--seeds 3]

aeflow's side of each row as `aeflow peers --budget cpu` trains it (its UNet, recipe and coupling, the budget's 40
seconds, the published learning rate), its training times drawn uniformly (the rows until now) or logit-normal
(Esser et al. 2024, which aeflow's Fashion-MNIST flow gained by); each row's selection sampler (Euler, 20 steps) on
the weights' moving average, FD of 143 samples against the 143 held-out training images in the digits classifier's
space, seeds 0-2. Uniform is kept unless logit-normal's mean is below it by more than the two standard deviations
together; each coupling chooses apart.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from aeflow.data import load_dataset
from aeflow.runs import feature_extractor
from aeflow.studies.peers.budgets import peer_budget
from aeflow.studies.peers.cells import standard
from aeflow.studies.peers.pairs import PAIRS, Pair
from aeflow.studies.peers.run import Study, split


def with_time_sampling(pair: Pair, sampling: str) -> Pair:
    """`pair` with aeflow's flow drawing its training times by `sampling`."""
    return type(f"{type(pair).__name__}Sampled", (type(pair),), {"aeflow_time_sampling": sampling})()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", default="cpu", help="the peers' budget whose seconds each training gets")
    args = parser.parse_args()
    data, budget = load_dataset("digits"), peer_budget(args.budget)
    fit, final = split(data, budget)
    extractor = feature_extractor("digits", data, progress=False)
    folder = Path(tempfile.mkdtemp(prefix="aeflow-flow-choice-"))
    print(f"{budget.seconds['cfm']} s of training each, seeds 0-{args.seeds - 1}; FD of Euler-20 samples against the "
          f"{len(fit.test_x)} held-out training images")
    print("| row: training times | FD per seed | mean +/- sd | FD in the judge's space | epochs |\n"
          "|---|---|---:|---:|---:|")
    for key in ("cfm", "icfm"):
        for sampling in ("uniform", "logit_normal"):
            pair = with_time_sampling(PAIRS[key], sampling)
            study = Study(pair, budget, fit, final, extractor, folder / key / sampling, progress=False)
            cells = [standard("aeflow", 1.0, seed) for seed in range(args.seeds)]
            found = [study.score(cell, True, pair.selection_row, "validation") for cell in cells]
            fds, judged = [f["fd"] for f in found], [f["fd_judge"] for f in found]
            epochs = statistics.mean(study.cell(cell).info["epochs"] for cell in cells)
            print(f"| {pair.title}: {sampling} | {', '.join(f'{fd:.2f}' for fd in fds)} | {statistics.mean(fds):.2f} "
                  f"+/- {statistics.stdev(fds):.2f} | {statistics.mean(judged):.3f} +/- {statistics.stdev(judged):.3f} "
                  f"| {epochs:.1f} |", flush=True)


if __name__ == "__main__":
    main()
