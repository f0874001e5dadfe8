"""Samplers: how a trained generator's learned process becomes samples, chosen at sampling time.

A sampler is one registered class with a dataclass of options (validated in one place) and one loop,
`iterate`, that yields every step (x_t, t and the model's clean-image estimate); `run` is its last step
(smalldiffusion's yielding loop). Which samplers fit a model follows from what it exposes: a noise
predictor on a DDPM schedule (ancestral, ddim), a velocity field (euler, midpoint, heun, adaptive), or a
one-pass map from noise (direct). A new sampler is one class with `@register_sampler` and its test.
"""

from aeflow.samplers.base import SAMPLERS, Sampler, Step, get_sampler, register_sampler, samplers_for
from aeflow.samplers.diffusion import DDIM, Ancestral
from aeflow.samplers.direct import Direct
from aeflow.samplers.flow import Adaptive, Euler, Heun, Midpoint
from aeflow.samplers.generate import SamplerChoice, choose_sampler, generate, generate_endpoints, sampling_batch_size

__all__ = ["DDIM", "SAMPLERS", "Adaptive", "Ancestral", "Direct", "Euler", "Heun", "Midpoint", "Sampler",
           "SamplerChoice", "Step", "choose_sampler", "generate", "generate_endpoints", "get_sampler",
           "register_sampler", "samplers_for", "sampling_batch_size"]
