"""What README's examples cost on this machine: each digits example of "Using it" run as written (in a
scratch folder, in order, since later ones use earlier runs), its wall time printed. The MNIST examples'
costs come from docs/benchmarks.md's measured runs.

    python benchmarks/readme_costs.py [--work DIR]
"""

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = [
    "aeflow datasets",
    "aeflow models",
    "aeflow train autoencoder -d digits -m hidden=[128,64] -m code_dim=8 --lr 3e-3 --bf16 --out runs/ae",
    "aeflow eval runs/ae",
    "aeflow train vae -d digits -m latent_dim=2 --epochs 50 --out runs/vae2 "
    "-t 'loss_weights={kl: {kind: linear, start: 0, end: 1, epochs: 10}}'",
    "aeflow latent runs/vae2",
    "aeflow sample runs/ae --prior gmm --n 10000",
    "aeflow sweep beta --values 0.5,1,4 -d digits",
    "aeflow train flow -d digits --epochs 50 --batch-size 64 --lr 2e-3 -t ema_decay=0.999 --out runs/flow",
    "aeflow sample runs/flow --sampler euler --steps 10 --n 1000",
    "aeflow sweep steps runs/flow --steps 1,2,4,10,20,50",
    "aeflow train ddpm -d digits -m prediction=v -m schedule=cosine --out runs/ddpm",
    "aeflow train flow -d digits -m reflow_from=runs/flow --out runs/reflow",
    "aeflow train latent-flow -d digits -m autoencoder_run=runs/vae2 --out runs/latent-flow",
    "aeflow train sparse-ae -d digits -m sparsity=topk -m k=16",
    "aeflow train vq-vae -d digits",
    "aeflow reproduce swissroll",
    "aeflow reproduce hinton",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="aeflow-costs-"))
    work.mkdir(parents=True, exist_ok=True)
    aeflow = str(Path(sys.executable).parent / "aeflow")
    print("| example | wall time | exit |\n| --- | ---: | ---: |", flush=True)
    for example in EXAMPLES:
        argv = [aeflow, *shlex.split(example)[1:], *(["--no-progress"] if " train " in f" {example} " else [])]
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=work, capture_output=True, text=True)
        print(f"| `{example}` | {time.perf_counter() - started:.0f} s | {done.returncode} |", flush=True)
        if done.returncode:
            print(done.stderr[-500:], file=sys.stderr)


if __name__ == "__main__":
    main()
