"""Flow matching on the straight path (Lipman et al. 2023; Liu et al. 2023, rectified flow).

aeflow's convention, everywhere: t = 0 is noise, t = 1 is data,
    x_t = (1 - t) * noise + t * data,    target velocity u_t = data - noise,
and sampling integrates dx/dt = v(x, t) from t = 0 to t = 1.

diffusers / Stable Diffusion 3 use the opposite direction: sigma = 1 - t is the noise level, the same
point is x = (1 - sigma) * data + sigma * noise, and the network is trained on noise - data. The two
converters below map times and velocities between the conventions.
"""

from __future__ import annotations

import math

import torch


def interpolate(noise: torch.Tensor, data: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t on the straight path (t has one value per example)."""
    t = t.reshape(-1, *([1] * (data.ndim - 1)))
    return (1 - t) * noise + t * data


def target_velocity(noise: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    return data - noise


def to_sd3(t: torch.Tensor, velocity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigma, noise - data) in the diffusers/SD3 convention from aeflow's (t, data - noise)."""
    return 1 - t, -velocity


def from_sd3(sigma: torch.Tensor, velocity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """aeflow's (t, data - noise) from the diffusers/SD3 (sigma, noise - data)."""
    return 1 - sigma, -velocity


TIME_SAMPLINGS = ("uniform", "logit_normal", "u_shaped")
U_SHAPE = 4.0  # Lee et al. 2024's a: the density at either end is (1 + e^4) / (2 e^2) ~ 3.8 times that at t = 1/2


def sample_times(n: int, kind: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training times in [0, 1]: uniform; logit-normal (Esser et al. 2024: more weight on the middle of the
    path); or U-shaped, density proportional to exp(a t) + exp(a (1 - t)) (Lee et al. 2024, for reflow: a
    straightened flow's few large steps start at the noise end and land at the data end)."""
    if kind == "uniform":
        return torch.rand(n, generator=generator)
    if kind == "logit_normal":
        return torch.sigmoid(torch.randn(n, generator=generator))
    if kind == "u_shaped":  # inverse CDF of exp(a t) on [0, 1], mirrored for half the draws
        u, mirror = torch.rand(2, n, generator=generator)
        t = torch.log1p(u * math.expm1(U_SHAPE)) / U_SHAPE
        return torch.where(mirror < 0.5, t, 1 - t)
    raise ValueError(f"time sampling must be one of {', '.join(TIME_SAMPLINGS)}, got {kind!r}")


def ot_pair(noise: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """Mini-batch optimal transport (Tong et al. 2024; Pooladian et al. 2023): the noise reordered so that
    the total squared distance to the data is minimal, by an exact assignment (scipy's Hungarian solver)."""
    from scipy.optimize import linear_sum_assignment

    cost = torch.cdist(noise.reshape(len(noise), -1).float(), data.reshape(len(data), -1).float()).pow(2)
    rows, cols = linear_sum_assignment(cost.cpu().numpy())
    order = torch.empty(len(cols), dtype=torch.long)
    order[torch.as_tensor(cols)] = torch.as_tensor(rows)
    return noise[order.to(noise.device)]


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
    return scale * x + added_std * torch.randn(x.shape, generator=generator).to(x.device, x.dtype), t_hat
