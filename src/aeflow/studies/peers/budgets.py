"""How much each comparison trains and scores, per budget. Training seconds are per side (the peer and aeflow
get the same); "tiny" runs the real libraries end to end in a few minutes (CI), "cpu" is sized for 8x8 digits
on 2 CPU cores, "gpu" for MNIST on one GPU."""

from __future__ import annotations

from dataclasses import dataclass

from aeflow.errors import ConfigError

BUDGETS = ("tiny", "cpu", "gpu")


@dataclass(frozen=True)
class PeerBudget:
    name: str
    seconds: dict[str, float]          # training seconds per side, per comparison (PAIRS' keys)
    n_eval: int                        # samples scored per row at most (and test images they are scored against)
    evals: int                         # ... and as many as this many network evaluations per side draw,
    n_min: int                         # but at least this many: sampling, not training, is a UNet row's cost
    n_curve: int                       # samples scored at each snapshot along the way
    snapshots: tuple[float, ...]       # fractions of the budget at which the weights are kept
    latent_dim: int = 16               # the autoencoders' code (pythae's MLP: 784-512-d)
    unet: tuple[int, ...] = (32, 64, 64)   # the DDPM UNets' channels per level, both sides
    train_subset: int | None = None
    seeds: int = 3                     # each comparison at seeds 0.. (the two sides' order alternating)
    validation: int = 1000             # training images held out for the tuning search (a tenth at most)

    def n_samples(self, nfe: int) -> int:
        """Samples a row of `nfe` network evaluations per sample draws from each side."""
        return min(self.n_eval, max(self.n_min, self.evals // nfe))


# cpu: sized for 8x8 digits on 2 cores in about an hour and a half: each comparison trains up to 14 cells (the search's
# 3 learning rates per side, then 2 more seeds of the published and of the tuned recipes) and a UNet pair 6 more
# (the 2x2), each for its seconds; every side still sees tens of epochs. On 28x28 images these seconds hold a
# fraction of a UNet epoch (torchcfm's UNet with attention at 28x28 is slow on a CPU): the rows say so rather
# than judge (MIN_EPOCHS), and the gpu budget is MNIST's. Each UNet row draws what 40,000 evaluations per side
# allow (Euler-20: 2,000; DDIM-50: 800; dopri5, about 100: 400; ancestral-1000: 50), the MLP rows 5,000, as many
# as there are test images at most.
_BUDGETS = {
    "tiny": PeerBudget("tiny", seconds={"vae": 0.5, "vae-bce": 0.5, "ae": 0.5, "cfm": 0.5, "icfm": 0.5, "ddpm": 0.5},
                       n_eval=100, evals=2_000, n_min=8, n_curve=50, snapshots=(0.5,), unet=(16, 32),
                       train_subset=512, seeds=2, validation=100),
    "cpu": PeerBudget("cpu", seconds={"vae": 15, "vae-bce": 15, "ae": 15, "cfm": 40, "icfm": 40, "ddpm": 40},
                      n_eval=5000, evals=40_000, n_min=50, n_curve=250, snapshots=(0.25, 0.5, 0.75)),
    "gpu": PeerBudget("gpu", seconds={"vae": 300, "vae-bce": 300, "ae": 300, "cfm": 1800, "icfm": 1800,
                                      "ddpm": 1800},
                      n_eval=10_000, evals=10_000_000, n_min=10_000, n_curve=2000, snapshots=(0.125, 0.25, 0.5, 0.75)),
}


def peer_budget(name: str) -> PeerBudget:
    if name not in _BUDGETS:
        raise ConfigError(f"unknown budget {name!r}; choose one of {', '.join(BUDGETS)}")
    return _BUDGETS[name]
