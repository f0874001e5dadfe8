"""Everything a lent GPU should measure, in one go of at most 10 minutes (an H100 or H200), resumable: each part
writes its result into OUT/gpu.json as it ends, and the same command again skips the parts done.

1. Time to the Hinton autoencoder's test error of 3.36 on MNIST (aeflow's `hinton` preset, training time only).
2. Training images/s of each family's network, fp32 against bf16 autocast, channels-last and torch.compile.
3. The MNIST lineage at the gpu budget, as far as the time left allows (it resumes where it stopped).
4. The IWAE-5000 bound of the lineage's beta = 1 VAE (or of a VAE trained here when the lineage has none yet),
   over the test set in slices, each kept as it ends: a second call continues from the last slice.

    python benchmarks/gpu.py --data-dir ../shared/data --out runs/gpu-bench
    python benchmarks/gpu.py --tiny --out /tmp/gpu-tiny      # seconds on a CPU: what CI runs so this cannot rot

A GPU is never required: without one it runs on the CPU (and says so).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

import aeflow
from aeflow.eval.likelihood import likelihood_bounds
from aeflow.models.registry import build_model
from aeflow.runs import load, make_config

TARGET = 3.36
# (family, model options) at the sizes the gpu budget trains; --tiny shrinks them
FAMILIES = {
    "autoencoder (hinton)": ("autoencoder", {"hidden": [1000, 500, 250], "code_dim": 30}),
    "vae": ("vae", {"hidden": [512, 256], "latent_dim": 16}),
    "conv-ae": ("conv-ae", {"channels": [32, 64], "code_dim": 16}),
    "flow (UNet)": ("flow", {"channels": [32, 64, 64]}),
    "ddpm (UNet)": ("ddpm", {"channels": [32, 64, 64]}),
    "gan (DCGAN)": ("gan", {}),
}
TINY_FAMILIES = {
    "autoencoder": ("autoencoder", {"hidden": [32], "code_dim": 4}),
    "flow (UNet)": ("flow", {"channels": [8, 16]}),
}


class Results:
    """OUT/gpu.json: one entry per part, written as each part ends."""

    def __init__(self, out: Path) -> None:
        self.path = out / "gpu.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {}

    def part(self, name: str, work: Callable[[], dict]) -> dict:
        if name in self.data and self.data[name].get("done"):
            print(f"{name}: done earlier, kept")
            return self.data[name]
        started = time.perf_counter()
        result = {**work(), "seconds": round(time.perf_counter() - started, 1)}
        self.data[name] = result
        self.path.write_text(json.dumps(self.data, indent=2))
        return result


def time_to_target(dataset, epochs: int, device: str, out: Path) -> dict:
    """aeflow's `hinton` recipe until its test error reaches TARGET (or its epochs end)."""
    config = make_config("hinton", dataset.name, train_options={"epochs": epochs, "progress": False,
                                                                 "device": device})
    run = aeflow.train(config, out, resume=(out / "config.yaml").exists(), dataset=dataset)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    hit = next((m for m in metrics if m["test/sq_err"] <= TARGET), None)
    return {"done": True, "target": TARGET, "reached": hit is not None,
            "epochs": hit["epoch"] if hit else None, "train_time_s": hit["train_time"] if hit else None,
            "final_test_error": metrics[-1]["test/sq_err"], "epochs_run": metrics[-1]["epoch"]}


def training_rates(families: dict, shape: tuple[int, ...], batch: int, steps: int, device: str) -> dict:
    """Training images/s of each family's loss, per variant: fp32, bf16 autocast, channels-last, compile."""
    table = {}
    for name, (family, options) in families.items():
        row = {}
        for variant in ("fp32", "bf16", "channels-last", "compile"):
            try:
                row[variant] = _rate(family, options, shape, batch, steps, device, variant)
            except Exception as e:   # a variant this machine cannot run (compile without a compiler): said, not fatal
                row[variant] = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
        table[name] = row
        print(f"| {name} | " + " | ".join(f"{v:.0f}" if isinstance(v, float) else v for v in row.values()) + " |",
              flush=True)
    return {"done": True, "batch_size": batch, "steps": steps, "rates": table}


def _rate(family: str, options: dict, shape: tuple[int, ...], batch: int, steps: int, device: str,
          variant: str) -> float:
    torch.manual_seed(0)
    model = build_model(family, options, shape).to(device)
    x = torch.rand(batch, *shape, device=device)
    if variant == "channels-last" and x.ndim == 4:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    loss_of = torch.compile(model.loss) if variant == "compile" else model.loss
    optimiser = torch.optim.AdamW(model.parameters(), 1e-4)

    def step() -> None:
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=variant == "bf16"):
            loss = loss_of({"x": x})["loss"]
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    for _ in range(3):   # warm-up (and compilation)
        step()
    _sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return batch * steps / (time.perf_counter() - started)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def lineage_until(dataset: str, budget: str, out: Path, seconds: float, data_dir: str | None) -> dict:
    """The lineage in a child process, stopped (SIGINT: it keeps every finished chapter) when `seconds` run out;
    the same call again continues it."""
    command = [sys.executable, "-m", "aeflow", "lineage", "--dataset", dataset, "--budget", budget, "--out",
               str(out), "--no-progress", *(["--data-dir", data_dir] if data_dir else [])]
    child = subprocess.Popen(command)
    try:
        child.wait(timeout=max(seconds, 1))
    except subprocess.TimeoutExpired:
        child.send_signal(2)
        child.wait()
    chapters = sorted(p.stem for p in (out / "chapters").glob("*.json")) if (out / "chapters").exists() else []
    finished = (out / "report.json").exists() and child.returncode == 0
    return {"done": finished, "chapters_finished": chapters, "exit_code": child.returncode}


def iwae(run: Path, dataset, k: int, images: int, slice_size: int, progress_file: Path, deadline: float) -> dict:
    """IWAE-k over the first `images` test images in slices (on the CPU, as aeflow computes it), each slice's sums
    kept in `progress_file`, until `deadline` (perf_counter): the same call again continues."""
    state = json.loads(progress_file.read_text()) if progress_file.exists() else {"done": 0, "elbo": 0.0, "iwae": 0.0}
    model = load(run)
    x = dataset.test_x[:images]
    while state["done"] < len(x):
        if time.perf_counter() > deadline:
            return {"done": False, "images_so_far": state["done"]}
        part = x[state["done"]:state["done"] + slice_size]
        bounds = likelihood_bounds(model, part, k=k)
        state = {"done": state["done"] + len(part), "elbo": state["elbo"] + bounds["elbo"] * len(part),
                 "iwae": state["iwae"] + bounds[f"iwae_{k}"] * len(part)}
        progress_file.write_text(json.dumps(state))
        print(f"IWAE-{k}: {state['done']:,} of {len(x):,} test images", flush=True)
    return {"done": True, "run": str(run), "k": k, "images": len(x), "elbo": state["elbo"] / len(x),
            f"iwae_{k}": state["iwae"] / len(x)}


def vae_run(lineage: Path, dataset, device: str, tiny: bool, out: Path) -> Path:
    """The lineage's beta = 1 VAE where it has trained one, else one trained here."""
    found = sorted(lineage.glob("*-vae/beta-1/model.safetensors"))
    if found:
        return found[0].parent
    options = {"hidden": [32], "latent_dim": 4} if tiny else {"hidden": [512, 256], "latent_dim": 16}
    config = make_config("vae", dataset.name, options, {"epochs": 1 if tiny else 20, "progress": False,
                                                        "device": device})
    return aeflow.train(config, out, resume=(out / "config.yaml").exists(), dataset=dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="a folder for the runs and gpu.json (kept between calls)")
    parser.add_argument("--data-dir", default=None, help="MNIST IDX files (else $AEFLOW_DATA_DIR / cache)")
    parser.add_argument("--minutes", type=float, default=9.5, help="wall-clock limit for all parts together")
    parser.add_argument("--tiny", action="store_true", help="digits, tiny models, the test budget: seconds on a CPU")
    args = parser.parse_args()
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device: {torch.cuda.get_device_name(0) if device == 'cuda' else 'cpu (no GPU here)'}; torch "
          f"{torch.__version__}", flush=True)
    name = "digits" if args.tiny else "mnist"
    dataset = aeflow.load_dataset(name, None if args.tiny else args.data_dir)
    results = Results(out)
    hinton = results.part("hinton", lambda: time_to_target(dataset, 1 if args.tiny else 30, device,
                                                                 out / "hinton"))
    print(f"time to test error {TARGET}: {hinton['train_time_s']} s (epoch {hinton['epochs']}; final "
          f"{hinton['final_test_error']:.3f})")
    print("training images/s:\n| network | fp32 | bf16 | channels-last | compile |\n| --- | ---: | ---: | ---: | ---: |"
          )
    results.part("rates", lambda: training_rates(TINY_FAMILIES if args.tiny else FAMILIES, dataset.shape,
                                                 16 if args.tiny else 256, 2 if args.tiny else 50, device))
    lineage = out / f"lineage-{name}"
    left = args.minutes * 60 - (time.perf_counter() - started) - (20 if args.tiny else 120)   # the IWAE's share
    results.part("lineage", lambda: lineage_until(name, "test" if args.tiny else "gpu", lineage, left,
                                                  None if args.tiny else args.data_dir))
    k, images = (10, 40) if args.tiny else (5000, 10_000)
    run = vae_run(lineage, dataset, device, args.tiny, out / "vae")
    deadline = started + args.minutes * 60
    bound = results.part("iwae", lambda: iwae(run, dataset, k, images, 20 if args.tiny else 500,
                                              out / "iwae-progress.json", deadline))
    if bound["done"]:
        print(f"IWAE-{k} over {bound['images']:,} test images: {bound[f'iwae_{k}']:.2f} nats (ELBO "
              f"{bound['elbo']:.2f})")
    else:
        print(f"IWAE-{k}: {bound['images_so_far']:,} test images so far; the same command continues it")
    print(f"\nall parts in {time.perf_counter() - started:.0f} s; results in {results.path}")


if __name__ == "__main__":
    main()
