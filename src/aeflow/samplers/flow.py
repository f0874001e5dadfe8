"""Samplers of a velocity field v(x, t), t in [0, 1] (t = 0 noise, t = 1 data): ODE solvers.

    euler, midpoint, heun  fixed steps (1, 2 and 2 network evaluations per step), evenly spaced in t or
                           shifted towards the noise end (`shift`); `churn` adds fresh noise before each
                           step. Heun's last step is an Euler step (2 * steps - 1 evaluations): at t = 1 the
                           data no longer tell the noise, so the network can only predict v(x, 1) = x -
                           E[noise] = x, and a corrector there would leave (dt / 2) * (x - v) of noise.
    adaptive               scipy's RK45 (Dormand-Prince 5(4), the "dopri5" of torchdiffeq) with tolerances

The clean-sample estimate of a step from x_t is x_t + (1 - t) v: where the straight path would land.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from aeflow.config import require
from aeflow.diffusion.flow import churn_back, flow_time_grid
from aeflow.protocols import VelocityField
from aeflow.samplers.base import MAX_STEPS, Sampler, Step, register_sampler


@dataclass
class FixedStepOptions:
    steps: int = 10
    shift: float = 1.0   # > 1: smaller steps near the noise end (SD3's shift, `flow_time_grid`)
    churn: float = 0.0   # > 0: fresh noise before each step, raising noise-to-signal by 1 + churn / steps (EDM)

    def validate(self) -> None:
        require(1 <= self.steps <= MAX_STEPS, f"steps must be in 1..{MAX_STEPS:,}, got {self.steps}")
        require(self.shift > 0, f"shift must be > 0, got {self.shift}")
        require(self.churn >= 0, f"churn must be >= 0, got {self.churn}")


class FixedStep(Sampler):
    """Integrate dx/dt = v(x, t) from 0 to 1 in `steps` steps on `flow_time_grid(steps, shift)`. With churn
    > 0 (EDM's S_churn), each step starts from `churn_back(x, t, churn / steps)`: a stochastic sampler with
    the ODE's marginals whose total added noise does not grow with the number of steps. It assumes the path's
    marginal t x_1 + (1 - t) noise with independent noise, which a reflowed flow's coupled pairs break: there
    churn only adds error (docs/benchmarks.md, Fashion-MNIST reflow)."""

    accepts, Options = VelocityField, FixedStepOptions

    def advance(self, velocity, x, v, t0: float, t1: float) -> tuple[torch.Tensor, int]:
        """x at t1 from x at t0 given v = v(x, t0); the extra network evaluations it made."""
        raise NotImplementedError

    @torch.no_grad()
    def iterate(self, model, x, options, generator=None) -> Iterator[Step]:
        times = flow_time_grid(options.steps, options.shift)
        nfe = 0
        for i, (t0, t1) in enumerate(zip(times[:-1], times[1:])):
            x, t0 = churn_back(x, t0, options.churn / options.steps, generator)
            v = model.velocity(x, torch.full((len(x),), t0, device=x.device))
            x0 = x + (1 - t0) * v
            x, extra = self.advance(model.velocity, x, v, t0, t1)
            nfe += 1 + extra
            yield Step(i, t1, x, x0, nfe)


@register_sampler
class Euler(FixedStep):
    name, summary = "euler", "Euler steps: 1 evaluation each"

    def advance(self, velocity, x, v, t0, t1):
        return x + (t1 - t0) * v, 0


@register_sampler
class Midpoint(FixedStep):
    name, summary = "midpoint", "explicit midpoint steps: 2 evaluations each"

    def advance(self, velocity, x, v, t0, t1):
        dt = t1 - t0
        return x + dt * velocity(x + 0.5 * dt * v, torch.full((len(x),), t0 + 0.5 * dt, device=x.device)), 1


@register_sampler
class Heun(FixedStep):
    name, summary = "heun", "Heun steps (2 evaluations each; the last is an Euler step)"

    def advance(self, velocity, x, v, t0, t1):
        dt = t1 - t0
        if t1 >= 1:  # last step: Euler, as in Karras et al. 2022 (Algorithm 1), see the module docstring
            return x + dt * v, 0
        v_next = velocity(x + dt * v, torch.full((len(x),), t1, device=x.device))
        return x + 0.5 * dt * (v + v_next), 1


@dataclass
class AdaptiveOptions:
    rtol: float = 1e-4
    atol: float = 1e-4

    def validate(self) -> None:
        require(0 < self.rtol < 1 and 0 < self.atol < 1, "rtol and atol must be in (0, 1)")


@register_sampler
class Adaptive(Sampler):
    name, accepts, Options = "adaptive", VelocityField, AdaptiveOptions
    summary = "Dormand-Prince 5(4) with step-size control (scipy's RK45); the tolerances set the steps"
    no_steps = "chooses its own steps from its tolerances (rtol, atol); for a fixed count, use euler, midpoint or heun"

    @torch.no_grad()
    def iterate(self, model, x, options, generator=None) -> Iterator[Step]:
        """The whole batch as one system, stepped by scipy's RK45 (what solve_ivp runs); a step per accepted
        step of the solver."""
        from scipy.integrate import RK45

        shape, device, dtype = x.shape, x.device, x.dtype

        def state(y: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(y)).to(device, dtype).reshape(shape)

        def rhs(t: float, y: np.ndarray) -> np.ndarray:
            v = model.velocity(state(y), torch.full((shape[0],), t, device=device, dtype=dtype))
            return v.reshape(-1).double().cpu().numpy()

        solver = RK45(rhs, 0.0, x.reshape(-1).double().cpu().numpy(), 1.0, rtol=options.rtol, atol=options.atol)
        i = 0
        while solver.status == "running":
            message = solver.step()
            if solver.status == "failed":
                raise RuntimeError(f"adaptive ODE solver failed: {message}")
            x = state(solver.y)  # solver.f is v at the new point (Dormand-Prince evaluates it anyway: FSAL)
            yield Step(i, solver.t, x, x + (1 - solver.t) * state(solver.f), int(solver.nfev))
            i += 1
