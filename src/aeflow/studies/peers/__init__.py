"""`aeflow peers`: aeflow against pythae, torchcfm and diffusers at an equal wall-clock training budget on the
same machine, in one run, every side scored with the one scoring row."""

from aeflow.studies.peers.budgets import BUDGETS, PeerBudget, peer_budget
from aeflow.studies.peers.pairs import PAIRS

__all__ = ["BUDGETS", "PAIRS", "PeerBudget", "peer_budget"]
