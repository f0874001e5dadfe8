"""Samplers: each turns a trained network's predictions into samples, chosen at sampling time.

DDPM family: `predict(x_t, t) -> (x0_hat, eps_hat)` with integer timesteps.
    ddpm  ancestral sampling through all T steps with the posterior variance (Ho et al. 2020)
    ddim  any number of steps, eta = 0 deterministic, eta = 1 the ancestral noise level (Song et al. 2021)
Flow matching: `velocity(x, t) -> v` with t in [0, 1] (t = 0 noise, t = 1 data).
    euler, midpoint, heun  fixed steps (1, 2 and 2 network evaluations per step), evenly spaced in t or
                           shifted towards the noise end (`shift`). Heun's last step is an Euler step
                           (2 * steps - 1 evaluations): at t = 1 the data no longer tell the noise, so the
                           network can only predict v(x, 1) = x - E[noise] = x, and a corrector there
                           would leave (dt / 2) * (x - v) of noise in the sample.
    adaptive               scipy's RK45 (Dormand-Prince 5(4), the "dopri5" of torchdiffeq) with tolerances

Every sampler returns (samples, number of network evaluations).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from aeflow.diffusion.ddpm import DDPMSchedule

Predict = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator).to(like.device, like.dtype)


def _clip(x0: torch.Tensor, clip: float | None) -> torch.Tensor:
    return x0.clamp(-clip, clip) if clip else x0


@torch.no_grad()
def ddpm_ancestral(predict: Predict, schedule: DDPMSchedule, x: torch.Tensor, generator: torch.Generator | None = None,
                   clip: float | None = None) -> tuple[torch.Tensor, int]:
    for step in reversed(range(schedule.steps)):
        t = torch.full((len(x),), step, dtype=torch.long, device=x.device)
        x0, _ = predict(x, t)
        mean, variance = schedule.posterior(_clip(x0, clip), x, t)
        x = mean + variance.sqrt() * _noise(x, generator) if step > 0 else mean
    return x, schedule.steps


def ddim_timesteps(total: int, steps: int) -> list[int]:
    """`steps` timesteps from T-1 down, evenly spaced ("trailing" spacing: the first is always T-1)."""
    return sorted({int(round(total - i * total / steps)) - 1 for i in range(steps)}, reverse=True)


@torch.no_grad()
def ddim(predict: Predict, schedule: DDPMSchedule, x: torch.Tensor, steps: int, eta: float = 0.0,
         generator: torch.Generator | None = None, clip: float | None = None) -> tuple[torch.Tensor, int]:
    timesteps = ddim_timesteps(schedule.steps, steps)
    alpha_bar = schedule.alpha_bar.to(x.device)
    for i, step in enumerate(timesteps):
        t = torch.full((len(x),), step, dtype=torch.long, device=x.device)
        x0, eps = predict(x, t)
        if clip:  # keep epsilon consistent with the clipped x0
            x0 = _clip(x0, clip)
            eps = (x - alpha_bar[step].sqrt() * x0) / (1 - alpha_bar[step]).sqrt()
        ab = alpha_bar[step]
        ab_prev = alpha_bar[timesteps[i + 1]] if i + 1 < len(timesteps) else torch.ones((), device=x.device)
        sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt()
        x = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma ** 2).clamp(min=0).sqrt() * eps
        if eta > 0 and i + 1 < len(timesteps):
            x = x + sigma * _noise(x, generator)
    return x, len(timesteps)


def flow_time_grid(steps: int, shift: float = 1.0) -> list[float]:
    """`steps` + 1 times from 0 (noise) to 1 (data). shift > 1 takes smaller steps near the noise end: the
    noise level sigma = 1 - t of the uniform grid becomes shift * sigma / (1 + (shift - 1) * sigma), the
    "shift" of SD3 (Esser et al. 2024) and of diffusers' FlowMatchEulerDiscreteScheduler."""
    sigma = 1 - torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    return (1 - shift * sigma / (1 + (shift - 1) * sigma)).tolist()


def churn_back(x: torch.Tensor, t: float, gamma: float, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, float]:
    """Move x_t back to the earlier time t_hat whose noise-to-signal ratio (1 - t) / t is (1 + gamma) times
    larger, by scaling x and adding fresh noise so that x_t_hat = t_hat x_1 + (1 - t_hat) noise exactly as on
    the path: EDM's sigma_hat = (1 + gamma) sigma (Karras et al. 2022) in flow time. Returns (x, t_hat)."""
    if gamma <= 0 or t <= 0 or t >= 1:  # t = 0 is pure noise already; t = 1 would scale by 1 / 0 noise
        return x, t
    t_hat = 1 / (1 + (1 + gamma) * (1 - t) / t)
    scale = t_hat / t
    added_std = ((1 - t_hat) ** 2 - (scale * (1 - t)) ** 2) ** 0.5
    return scale * x + added_std * _noise(x, generator), t_hat


@torch.no_grad()
def ode_fixed_steps(velocity: Velocity, x: torch.Tensor, steps: int, method: str = "euler", shift: float = 1.0,
                    churn: float = 0.0, generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """Integrate dx/dt = v(x, t) from 0 to 1 in `steps` steps on `flow_time_grid(steps, shift)`. With
    `churn` > 0 (EDM's S_churn), each step starts from `churn_back(x, t, churn / steps)`: a stochastic sampler
    with the ODE's marginals whose total added noise does not grow with the number of steps. It assumes the
    path's marginal t x_1 + (1 - t) noise with independent noise, which a reflowed flow's coupled pairs break:
    there churn only adds error (docs/benchmarks.md, Fashion-MNIST reflow)."""
    times = flow_time_grid(steps, shift)
    nfe = 0
    for t0, t1 in zip(times[:-1], times[1:]):
        x, t0 = churn_back(x, t0, churn / steps, generator)
        dt = t1 - t0
        t = torch.full((len(x),), t0, device=x.device)
        v = velocity(x, t)
        if method == "euler":
            x, nfe = x + dt * v, nfe + 1
        elif method == "midpoint":
            x, nfe = x + dt * velocity(x + 0.5 * dt * v, t + 0.5 * dt), nfe + 2
        elif method == "heun" and t1 < 1:
            v_next = velocity(x + dt * v, torch.full((len(x),), t1, device=x.device))
            x, nfe = x + 0.5 * dt * (v + v_next), nfe + 2
        elif method == "heun":  # last step: Euler, as in Karras et al. 2022 (Algorithm 1), see module docstring
            x, nfe = x + dt * v, nfe + 1
        else:
            raise ValueError(f"method must be euler, midpoint or heun; got {method!r}")
    return x, nfe


@torch.no_grad()
def ode_adaptive(velocity: Velocity, x: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-4
                 ) -> tuple[torch.Tensor, int]:
    """Dormand-Prince 5(4) with step-size control (scipy.integrate.solve_ivp, method RK45) on the whole
    batch as one system; returns the number of network evaluations it needed."""
    from scipy.integrate import solve_ivp

    shape, device, dtype = x.shape, x.device, x.dtype

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        state = torch.from_numpy(y).to(device, dtype).reshape(shape)
        v = velocity(state, torch.full((shape[0],), t, device=device, dtype=dtype))
        return v.reshape(-1).double().cpu().numpy()

    result = solve_ivp(rhs, (0.0, 1.0), x.reshape(-1).double().cpu().numpy(), method="RK45", rtol=rtol, atol=atol)
    if not result.success:
        raise RuntimeError(f"adaptive ODE solver failed: {result.message}")
    return torch.from_numpy(result.y[:, -1]).to(device, dtype).reshape(shape), int(result.nfev)


DIFFUSION_SAMPLERS = ("ddpm", "ddim")
FLOW_SAMPLERS = ("euler", "midpoint", "heun", "adaptive")
FIXED_STEP_SAMPLERS = ("euler", "midpoint", "heun")  # the ones that take `shift` and `churn`
