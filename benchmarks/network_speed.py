"""How fast the time-conditioned networks train and run on this machine, per image size: the numbers that
decide how large a diffusion / flow model can be trained here in a given time.

    python benchmarks/network_speed.py --threads 2

Prints, for each network, parameters and images/s for one training step (forward, backward, Adam) and
for a forward pass alone, at batch 128 (best of 3 timed repetitions after one warm-up); then forward
images/s per batch size, the figure behind `aeflow.samplers.sampling_batch_size`.
"""

from __future__ import annotations

import argparse
import time

import torch

from aeflow.nn.unet import TimeMLP, UNet


def best_of(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--sampling-batches", default="32,128,256,1000",
                        help="batch sizes for the forward-only (sampling) table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    networks = {
        "UNet (32, 64), 28x28": ((1, 28, 28), UNet((1, 28, 28), (32, 64))),
        "UNet (16, 32), 28x28": ((1, 28, 28), UNet((1, 28, 28), (16, 32))),
        "UNet (16, 32, 32), 28x28": ((1, 28, 28), UNet((1, 28, 28), (16, 32, 32))),
        "TimeMLP 1024 x 3, 28x28": ((1, 28, 28), TimeMLP((1, 28, 28), (1024, 1024, 1024))),
        "UNet (32, 64), 8x8": ((1, 8, 8), UNet((1, 8, 8), (32, 64))),
    }
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch_size}\n")
    print("| network | parameters | train images/s | forward images/s |")
    print("| --- | ---: | ---: | ---: |")
    for name, (shape, net) in networks.items():
        train_rate, forward = rates(net, shape, args.batch_size)
        params = sum(p.numel() for p in net.parameters())
        print(f"| {name} | {params:,} | {train_rate:.0f} | {forward:.0f} |", flush=True)

    batches = [int(b) for b in args.sampling_batches.split(",")]
    print("\nforward images/s by batch size (sampling)\n")
    print("| network | " + " | ".join(f"batch {b}" for b in batches) + " |")
    print("| --- |" + " ---: |" * len(batches))
    for name, (shape, net) in networks.items():
        cells = [f"{forward_rate(net, shape, b):.0f}" for b in batches]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def rates(net: torch.nn.Module, shape: tuple[int, ...], batch_size: int) -> tuple[float, float]:
    """(training images/s, forward images/s) of `net` on random inputs of `shape`."""
    x, t = torch.randn(batch_size, *shape), torch.rand(batch_size)
    optimizer = torch.optim.Adam(net.parameters())

    def step() -> None:
        loss = net(x, t).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return batch_size / best_of(step), forward_rate(net, shape, batch_size)


def forward_rate(net: torch.nn.Module, shape: tuple[int, ...], batch_size: int) -> float:
    x, t = torch.randn(batch_size, *shape), torch.rand(batch_size)

    def forward() -> None:
        with torch.no_grad():
            net(x, t)

    return batch_size / best_of(forward)

if __name__ == "__main__":
    main()
