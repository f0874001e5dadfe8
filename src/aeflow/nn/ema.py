"""An exponential moving average of a model's weights (and buffers), used for evaluation and sampling.

The decay warms up as min(decay, (1 + step) / (10 + step)) so that early averages are not dominated
by the random initialisation (the schedule of TensorFlow's ExponentialMovingAverage with num_updates).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
        # Frozen weights (a latent model's autoencoder) never change: their average is their initial copy.
        self.averaged = [k for k, v in self.shadow.items() if v.is_floating_point() and k not in frozen]
        self.copied = [k for k, v in self.shadow.items() if not v.is_floating_point()]

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        weight = 1 - self.decay_at(step)
        current = model.state_dict()
        torch._foreach_lerp_([self.shadow[k] for k in self.averaged], [current[k] for k in self.averaged], weight)
        for k in self.copied:  # counters such as BatchNorm's num_batches_tracked
            self.shadow[k].copy_(current[k])

    @contextmanager
    def applied(self, model: torch.nn.Module):
        """The averaged weights in `model` for the duration of the block, the trained ones after it."""
        trained = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield model
        finally:
            model.load_state_dict(trained)
