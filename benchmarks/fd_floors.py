"""The evaluation protocol's reference points, per dataset: the feature classifier's test accuracy, the
real-vs-real FD floor, and two bad "generators" for scale (uniform noise, blurred training images).

    python benchmarks/fd_floors.py --data-dir ../shared/data      # mnist, fashion-mnist and digits
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import aeflow
from aeflow.runs import score
from aeflow.runs.features import extractor_accuracy, extractor_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="folder holding mnist/ and fashion-mnist/ IDX folders")
    parser.add_argument("--datasets", default="digits,mnist,fashion-mnist")
    args = parser.parse_args()

    rows = []
    for name in args.datasets.split(","):
        data_dir = str(Path(args.data_dir) / name) if args.data_dir and name != "digits" else None
        data = aeflow.load_dataset(name, data_dir)
        real = score(data.train_x, data, progress=False)  # builds the extractor on first use
        seconds = json.loads((extractor_dir(name) / "summary.json").read_text())["train_time_s"]
        noise = torch.rand((real["n"], *data.shape), generator=torch.Generator().manual_seed(0))
        blurred = torch.nn.functional.avg_pool2d(data.train_x, 3, stride=1, padding=1, count_include_pad=False)
        rows.append((name, extractor_accuracy(name), real, score(noise, data)["fd"],
                     score(blurred, data), seconds))

    print("| dataset | classifier test accuracy | N | FD floor (train vs test) | FD train images | "
          "precision / recall (train) | FD blurred train | FD uniform noise | classifier training (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, acc, real, noise_fd, blurred, seconds in rows:
        print(f"| {name} | {acc:.4f} | {real['n']} | {real['fd_real_floor']:.3f} | {real['fd']:.3f} | "
              f"{real['precision']:.3f} / {real['recall']:.3f} | {blurred['fd']:.2f} | {noise_fd:.1f} | "
              f"{seconds:.0f} |")


if __name__ == "__main__":
    main()
