"""diffusers (von Platen et al. 2022) as an aeflow model: `DiffusersNoisePredictor` wraps a UNet2DModel and
the DDPMScheduler it was trained with as aeflow's NoisePredictor (the schedule's own betas, integer timesteps,
epsilon prediction), so that aeflow's DDPM and DDIM samplers and metrics run on it; `train_diffusers` trains
one as diffusers' examples/unconditional_image_generation/train_unconditional.py does (AdamW at 1e-4, betas
(0.95, 0.999), weight decay 1e-6, cosine learning rate after its share of 500 warm-up steps, batch 16, gradient norm
clipped at 1, EMA with warm-up (inv_gamma 1, power 3/4, max 0.9999), 1,000 linear-beta timesteps, the MSE of
epsilon) for a wall-clock budget. Its UNet is sized for the image (below), not the example's 64x64 one.
`AsUNet2D` and `ScaledTime` swap the two calling conventions of a noise-prediction network, so that each side's
network can be trained by the other side's loop (the comparison's 2x2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel
from diffusers.models.unets.unet_2d import UNet2DOutput
from diffusers.training_utils import EMAModel

from aeflow.diffusion.ddpm import DDPMSchedule
from aeflow.peers.clock import Clock

RECIPE = {"lr": 1e-4, "betas": (0.95, 0.999), "weight_decay": 1e-6, "eps": 1e-8, "warmup_steps": 500,
          "batch_size": 16, "grad_clip": 1.0, "ema_inv_gamma": 1.0, "ema_power": 0.75, "ema_max_decay": 0.9999,
          "timesteps": 1000, "beta_schedule": "linear"}
STEPS_TO_TIME = 20   # optimiser steps timed before the cosine's length (steps in the budget) is fixed
# The example's warm-up is 500 of the 51,200 steps its README's run schedules (huggan/flowers-102-categories: 8,189
# images in batches of 16, 100 epochs): the budget's run keeps that share (at least the timed steps), rather
# than spend most of a short run warming up.
EXAMPLE_STEPS = 51_200


def scaled_warmup(total: int) -> int:
    return max(STEPS_TO_TIME, round(RECIPE["warmup_steps"] * total / EXAMPLE_STEPS))


def scheduler() -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=RECIPE["timesteps"], beta_schedule=RECIPE["beta_schedule"])


def build(input_shape: tuple[int, ...], channels: tuple[int, ...]) -> torch.nn.Module:
    """A UNet2DModel with `channels` per level (two resnet blocks each, as the example; attention at the
    lowest level)."""
    levels = len(channels)
    return UNet2DModel(sample_size=input_shape[-1], in_channels=input_shape[0], out_channels=input_shape[0],
                       layers_per_block=2, block_out_channels=tuple(channels), norm_num_groups=8,
                       down_block_types=("DownBlock2D",) * (levels - 1) + ("AttnDownBlock2D",),
                       up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (levels - 1))


class DiffusersNoisePredictor(torch.nn.Module):
    """A diffusers UNet2DModel (epsilon on pixels in [-1, 1]) and its DDPMScheduler, as aeflow's NoisePredictor."""

    default_sampler, default_steps = "ddim", 50

    def __init__(self, unet: torch.nn.Module, scheduler: DDPMScheduler, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.unet = unet
        self.schedule = DDPMSchedule(scheduler.config.beta_schedule, betas=scheduler.betas)
        self.clip = 1.0   # the scheduler's clip_sample default
        self.input_shape = tuple(input_shape)
        self.registry_name = "diffusers-unet2d"

    def predict(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.schedule.to_x0_eps(self.unet(x, t).sample, x, t, "epsilon")

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, *self.input_shape, generator=generator).to(next(self.parameters()).device)

    def to_data_space(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2).clamp(0, 1)


def cosine_with_warmup(step: int, warmup: int, total: int) -> float:
    """diffusers' get_cosine_schedule_with_warmup (half a cosine after a linear warm-up), as a factor of lr."""
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))


def train_diffusers(unet: torch.nn.Module, scheduler: DDPMScheduler, train_x: torch.Tensor, clock: Clock,
                    seed: int, lr: float = RECIPE["lr"]) -> tuple[dict[str, int], dict[str, torch.Tensor]]:
    """The example's loop (its learning rate `lr`) until `clock` says the budget is spent; the cosine's length
    is the number of steps the budget holds at the pace of the first STEPS_TO_TIME steps (warmed up at the
    example's pace until then), its warm-up the example's share of it (`scaled_warmup`). Returns the schedule it
    planned and the EMA weights (what the example samples); the trained weights stay in `unet`."""
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=lr, betas=RECIPE["betas"],
                                  weight_decay=RECIPE["weight_decay"], eps=RECIPE["eps"])
    plan = {"total": 10 ** 9, "warmup": RECIPE["warmup_steps"]}
    lr_schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_with_warmup(step, plan["warmup"], plan["total"]))
    ema = EMAModel(unet.parameters(), decay=RECIPE["ema_max_decay"], use_ema_warmup=True,
                   inv_gamma=RECIPE["ema_inv_gamma"], power=RECIPE["ema_power"])
    data = 2 * train_x - 1
    unet.train()
    while True:
        for batch in data[torch.randperm(len(data))].split(RECIPE["batch_size"]):
            clock.start()
            noise = torch.randn_like(batch)
            t = torch.randint(0, scheduler.config.num_train_timesteps, (len(batch),))
            loss = F.mse_loss(unet(scheduler.add_noise(batch, noise, t), t).sample, noise)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), RECIPE["grad_clip"])
            optimizer.step()
            lr_schedule.step()
            ema.step(unet.parameters())
            if clock.steps + 1 == STEPS_TO_TIME:
                plan["total"] = int(STEPS_TO_TIME * clock.seconds / max(clock.elapsed(), 1e-9))
                plan["warmup"] = scaled_warmup(plan["total"])
            if clock.tick(lambda: _ema_weights(unet, ema)):
                unet.eval()
                return ({"warmup_steps": plan["warmup"], "cosine_steps": plan["total"],
                         "timed_steps": STEPS_TO_TIME}, _ema_weights(unet, ema))


def _ema_weights(unet: torch.nn.Module, ema: EMAModel) -> dict[str, torch.Tensor]:
    ema.store(unet.parameters())
    ema.copy_to(unet.parameters())
    state = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    ema.restore(unet.parameters())
    return state


class AsUNet2D(torch.nn.Module):
    """aeflow's noise-prediction network `net(x, t / T)` called as diffusers' loop calls a UNet2DModel:
    `net(x, t).sample`, t the integer timestep."""

    def __init__(self, net: torch.nn.Module, timesteps: int = RECIPE["timesteps"]) -> None:
        super().__init__()
        self.net, self.timesteps = net, timesteps

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> UNet2DOutput:
        t = t.expand(len(x)) if t.dim() == 0 else t
        return UNet2DOutput(sample=self.net(x, t.float() / self.timesteps))


class ScaledTime(torch.nn.Module):
    """A UNet2DModel called as aeflow's DDPM calls its network: `net(x, t / T)`, the output tensor itself."""

    def __init__(self, unet: torch.nn.Module, timesteps: int = RECIPE["timesteps"]) -> None:
        super().__init__()
        self.unet, self.timesteps = unet, timesteps

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t * self.timesteps).sample
