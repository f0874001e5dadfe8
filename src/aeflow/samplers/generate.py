"""Sampling a generator in batches: any n, from one random generator (the result depends only on its seed
and the batch size), in eval mode."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm

from aeflow.errors import ConfigError
from aeflow.progress import announce_from_first
from aeflow.protocols import NoiseToData
from aeflow.samplers.base import Sampler, get_sampler, samplers_for
from aeflow.threads import sharing


def sampling_batch_size(device: torch.device) -> int:
    """Images per sampler call. On a CPU, small batches keep the activations in cache: the 28x28 UNet
    (16, 32, 32) samples about twice as many images/s in batches of 128 as in batches of 1,000."""
    return 128 if device.type == "cpu" else 1024


@dataclass
class SamplerChoice:
    """A sampler and its validated options for one model."""

    sampler: Sampler
    options: Any

    @property
    def name(self) -> str:
        return self.sampler.name

    def label(self) -> str:
        """e.g. "euler-10-shift3": the sampler, its steps, and the options that differ from the defaults."""
        defaults = type(self.options)()
        parts = [self.name] + ([str(self.options.steps)] if hasattr(self.options, "steps") else [])
        parts += [f"{k}{v:g}" for k, v in vars(self.options).items() if k != "steps" and v != getattr(defaults, k)]
        return "-".join(parts)


def choose_sampler(model, name: str | None = None, options: dict[str, Any] | None = None) -> SamplerChoice:
    """The named sampler (default: the model's own) with `options` validated against it and the model."""
    if not isinstance(model, NoiseToData) or not samplers_for(model):
        raise ConfigError(f"{model.registry_name} is not sampled by a sampler (it has no noise-to-data process)")
    name = name or model.default_sampler
    cls = get_sampler(name)
    cls.check_model(model)
    return SamplerChoice(cls(), cls.options(options, model))


@torch.no_grad()
def generate_endpoints(model, n: int, choice: SamplerChoice, generator: torch.Generator | None = None,
                       batch_size: int | None = None, progress: str = "") -> tuple[torch.Tensor, torch.Tensor, int]:
    """(noise, final states in the model's space, network evaluations per sample) for n samples; a progress
    bar labelled `progress` when it is given."""
    batch_size = batch_size or sampling_batch_size(next(model.parameters()).device)
    was_training = model.training
    model.eval()
    noises, finals, nfe = [], [], 0
    started = time.perf_counter()
    batches = tqdm(range(0, n, batch_size), desc=progress, unit="batch", disable=not (progress and sys.stderr.isatty()),
                   leave=False)
    cores = sharing()
    with cores.taking_turns():
        for i in batches:
            cores.give_way()   # another aeflow job may compute between two batches (aeflow.threads)
            noise = model.noise(min(batch_size, n - i), generator)
            x, nfe = choice.sampler.run(model, noise, choice.options, generator)
            noises.append(noise)
            finals.append(x)
            if i == 0 and n > batch_size:
                announce_from_first(f"sampling {n:,} images ({choice.label()})", started, len(noise), n, "images",
                                    "--n or --steps")
    model.train(was_training)
    return torch.cat(noises), torch.cat(finals), nfe


def generate(model, n: int, choice: SamplerChoice, generator: torch.Generator | None = None,
             batch_size: int | None = None) -> tuple[torch.Tensor, int]:
    """n samples in data space ([0, 1]) and the network evaluations per sample."""
    _, x, nfe = generate_endpoints(model, n, choice, generator, batch_size)
    with torch.no_grad():
        return model.to_data_space(x), nfe
