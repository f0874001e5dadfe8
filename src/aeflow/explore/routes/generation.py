"""Noise to data: a sampler's every step from one noise, a GAN's discriminator, a latent generator's stages."""

from typing import Annotated, Any

import torch
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from aeflow import protocols as cap
from aeflow.eval import panels
from aeflow.eval.discriminator import duel, judged
from aeflow.progress import check_cancelled
from aeflow.samplers import choose_sampler
from aeflow.training import read_metrics

from ..params import (
    PNG,
    Columns,
    Few,
    Frame,
    Index,
    SamplerName,
    Seed,
    TrajectorySteps,
    image_data,
    png,
    registry,
    run_that,
)
from ..runs import Run
from ..work import while_wanted
from .runs import check_cost

router = APIRouter()
Latent = Annotated[Run, Depends(run_that(cap.LatentPipeline))]


def trajectory_frames(request: Request, run_id: str, sampler: SamplerName | None, steps: int | None, seed: int,
                      columns: int, frame: int | None) -> tuple[Run, list, list[int]]:
    """Every step of the sampler from one noise (kept for the next requests: the page asks for a trajectory's
    picture, its times, then single frames), and the steps shown: `columns` evenly chosen, or `frame`."""
    run = run_that(cap.NoiseToData)(request, run_id)
    choice = choose_sampler(run.model, sampler and sampler.value, {"steps": steps})   # steps None: the sampler's own
    check_cost(run, choice.name, 1)

    def every_step() -> list:
        noise = run.model.noise(1, torch.Generator().manual_seed(seed))
        frames = []
        for step in choice.sampler.iterate(run.model, noise, choice.options, torch.Generator().manual_seed(seed)):
            check_cancelled()
            frames.append(step)
        return frames

    frames = registry(request).trajectories.get((run.id, choice.name, steps, seed), every_step)
    keep = [min(frame, len(frames) - 1)] if frame is not None else sorted(
        {round(i * (len(frames) - 1) / (columns - 1)) for i in range(columns)})
    return run, frames, keep


@router.get("/api/runs/{run_id}/trajectory.png", response_class=Response, responses=PNG,
            summary="Every step of a sampler from one noise: x_t (top row) and the clean-image estimate (bottom)")
async def trajectory(request: Request, run_id: str, sampler: SamplerName | None = None,
                     steps: TrajectorySteps | None = None, seed: Seed = 0, columns: Columns = 10,
                     frame: Frame | None = None) -> Response:
    def compute() -> Response:
        run, frames, keep = trajectory_frames(request, run_id, sampler, steps, seed, columns, frame)
        with torch.no_grad():
            xt = torch.cat([run.model.to_data_space(frames[i].x) for i in keep])
            x0 = torch.cat([run.model.to_data_space(frames[i].x0) for i in keep])
        return png(torch.cat([xt, x0]), columns=len(keep), size=128 if frame is not None else 64)

    return await while_wanted(request, compute)


@router.get("/api/runs/{run_id}/trajectory",
            summary="The steps trajectory.png shows: each one's index, time t (flow: 0 noise to 1 data; DDPM: "
                    "the timestep reached, -1 at the end) and network evaluations so far; and how many steps")
async def trajectory_times(request: Request, run_id: str, sampler: SamplerName | None = None,
                           steps: TrajectorySteps | None = None, seed: Seed = 0, columns: Columns = 10,
                           frame: Frame | None = None) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        _, frames, keep = trajectory_frames(request, run_id, sampler, steps, seed, columns, frame)
        return {"steps": len(frames), "shown": [{"index": frames[i].index, "t": float(frames[i].t),
                                                 "nfe": frames[i].nfe} for i in keep]}

    return await while_wanted(request, compute)


def judged_by(request: Request, run: Run, start: int, n: int, seed: int) -> dict[str, torch.Tensor]:
    test = image_data(request, run).test_x
    if start + n > len(test):
        raise HTTPException(409, f"start + n must be <= {len(test)} (the test split)")
    return judged(run.model, test[start:start + n], torch.Generator().manual_seed(seed))


Gan = Annotated[Run, Depends(run_that(cap.Discriminates, cap.MapsNoise))]


@router.get("/api/runs/{run_id}/discriminator",
            summary="A GAN's discriminator: its mean output on test images and on fakes by epoch, and its "
                    "probability of real for n test images and n samples")
def discriminator(request: Request, run: Gan, start: Index = 0, n: Few = 8, seed: Seed = 0) -> dict[str, Any]:
    view = judged_by(request, run, start, n, seed)
    return {**duel(read_metrics(run.path / "metrics.jsonl")), "real_scores": view["real_scores"].tolist(),
            "fake_scores": view["fake_scores"].tolist()}


@router.get("/api/runs/{run_id}/discriminator.png", response_class=Response, responses=PNG,
            summary="The n test images (top row) and n samples (bottom row) the discriminator scores")
def discriminator_png(request: Request, run: Gan, start: Index = 0, n: Few = 8, seed: Seed = 0) -> Response:
    view = judged_by(request, run, start, n, seed)
    return png(torch.cat([view["real"], view["fake"]]), columns=n)


@router.get("/api/runs/{run_id}/pipeline", summary="A latent generator's stages with their real tensor shapes")
def pipeline(run: Latent) -> dict[str, Any]:
    model = run.model
    return {"noise": [model.code_dim], "latent": [model.code_dim], "image": list(model.input_shape),
            "compression": model.compression, "autoencoder": model.autoencoder_family}


@router.get("/api/runs/{run_id}/pipeline.png", response_class=Response, responses=PNG,
            summary="Noise latent, denoised latent (as grey bars), and the decoded image")
def pipeline_png(run: Latent, seed: Seed = 0, steps: TrajectorySteps = 10) -> Response:
    choice = choose_sampler(run.model, None, {"steps": steps})
    noise = run.model.noise(1, torch.Generator().manual_seed(seed))
    latent, _ = choice.sampler.run(run.model, noise, choice.options, torch.Generator().manual_seed(seed))
    return png(panels.latent_stages(run.model, noise, latent), size=128)
