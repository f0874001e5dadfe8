"""How much each comparison trains and scores, per budget. Training seconds are per side (the peer and aeflow
get the same); "tiny" runs the real libraries end to end in seconds (CI), "cpu" is sized for 2 CPU cores in
about two hours, "gpu" for one GPU."""

from __future__ import annotations

from dataclasses import dataclass, field

from aeflow.errors import ConfigError

BUDGETS = ("tiny", "cpu", "gpu")


@dataclass(frozen=True)
class PeerBudget:
    name: str
    seconds: dict[str, float]          # training seconds per side, per comparison (vae, ae, cfm, ddpm)
    n_eval: int                        # samples scored per row (and test images they are scored against)
    n_ancestral: int                   # ... for 1,000-step ancestral DDPM, the costliest row
    n_curve: int                       # samples scored at each snapshot along the way
    snapshots: tuple[float, ...]       # fractions of the budget at which the weights are kept
    latent_dim: int = 16               # the autoencoders' code (pythae's MLP: 784-512-d)
    unet: tuple[int, ...] = (32, 64, 64)   # the DDPM UNets' channels per level, both sides
    train_subset: int | None = None
    sample_seconds: dict[str, float] = field(default_factory=dict)


_BUDGETS = {
    "tiny": PeerBudget("tiny", seconds={"vae": 3, "ae": 3, "cfm": 4, "ddpm": 4}, n_eval=200, n_ancestral=32,
                       n_curve=100, snapshots=(0.5,), unet=(16, 32), train_subset=512),
    "cpu": PeerBudget("cpu", seconds={"vae": 240, "ae": 180, "cfm": 1200, "ddpm": 1200}, n_eval=5000,
                      n_ancestral=500, n_curve=1000, snapshots=(0.25, 0.5, 0.75)),
    "gpu": PeerBudget("gpu", seconds={"vae": 300, "ae": 300, "cfm": 1800, "ddpm": 1800}, n_eval=10_000,
                      n_ancestral=10_000, n_curve=2000, snapshots=(0.125, 0.25, 0.5, 0.75)),
}


def peer_budget(name: str) -> PeerBudget:
    if name not in _BUDGETS:
        raise ConfigError(f"unknown budget {name!r}; choose one of {', '.join(BUDGETS)}")
    return _BUDGETS[name]
