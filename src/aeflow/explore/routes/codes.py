"""The code space: the plane of 2-D codes, decoding a code, its nearest training images, interpolation,
perturbation, traversal, active units, and a VAE's posterior and reparameterisation."""

from typing import Annotated, Any

import torch
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from aeflow import protocols as cap
from aeflow.eval import panels
from aeflow.eval.latent import active_units, interpolate, plane_grid
from aeflow.eval.sample_quality import nearest_training_images

from ..params import (
    PNG,
    Code,
    Dimension,
    Dims,
    Epsilon,
    Few,
    Index,
    Indices,
    Path2,
    Seed,
    Steps,
    bounded,
    image_data,
    ints,
    numbers,
    png,
    run_that,
    test_image,
)
from ..runs import Run

router = APIRouter()
Encoder = Annotated[Run, Depends(run_that(cap.Encodes))]
Posterior = Annotated[Run, Depends(run_that(cap.HasPosterior))]


@router.get("/api/runs/{run_id}/codes", summary="Test codes (first two dimensions) and labels, for the plane")
def codes(request: Request, run: Encoder, n: Annotated[int, Query(ge=1, le=2000)] = 500) -> dict[str, Any]:
    data = image_data(request, run)
    z = panels.codes_of(run.model, data.test_x[:n])
    labels = data.test_y[:n].tolist() if data.test_y is not None else [0] * len(z)
    return {"points": z[:, :2].tolist(), "labels": labels, "code_dim": int(z.shape[1]),
            "classes": list(data.classes) or sorted(set(labels))}


def decoded(request: Request, run: Run, z: str) -> torch.Tensor:
    image_data(request, run)
    with torch.no_grad():
        return run.model.decode(panels.vector("z", numbers(z), run.code_dim)).clamp(0, 1)


@router.get("/api/runs/{run_id}/decode.png", response_class=Response, responses=PNG, summary="Decode one code z")
def decode(request: Request, run: Encoder, z: Code) -> Response:
    return png(decoded(request, run, z), size=160)


@router.get("/api/runs/{run_id}/nearest", summary="The k training images nearest a decoded code (pixel L2)")
def nearest(request: Request, run: Encoder, z: Code, k: Few = 6) -> dict[str, Any]:
    data = image_data(request, run)
    indices, distances = nearest_training_images(decoded(request, run, z), data.train_x, k)
    return {"indices": indices.tolist(), "distances": distances.tolist(),
            "labels": data.train_y[indices].tolist() if data.train_y is not None else None}


@router.get("/api/runs/{run_id}/nearest.png", response_class=Response, responses=PNG,
            summary="A decoded code, then the k training images nearest it, nearest first")
def nearest_png(request: Request, run: Encoder, z: Code, k: Few = 6) -> Response:
    image = decoded(request, run, z)
    train = image_data(request, run).train_x
    return png(torch.cat([image, train[nearest_training_images(image, train, k)[0]]]), size=64)


@router.get("/api/runs/{run_id}/manifold.png", response_class=Response, responses=PNG,
            summary="The decoder over a grid of the 2-D code plane (2nd-98th percentiles of the test codes)")
def manifold(request: Request, run: Encoder, size: Annotated[int, Query(ge=2, le=20)] = 10) -> Response:
    data = image_data(request, run)
    if run.code_dim != 2:
        raise HTTPException(409, f"{run.name} has {run.code_dim}-d codes; the plane needs 2")
    with torch.no_grad():
        return png(run.model.decode(plane_grid(run.model.encode(data.test_x), size)), columns=size, size=48)


@router.get("/api/runs/{run_id}/interpolate.png", response_class=Response, responses=PNG,
            summary="Decoded codes on the line (or great circle) between two test images' codes")
def interpolation(request: Request, run: Encoder, a: Index = 0, b: Index = 1, mode: Path2 = "linear",
                  steps: Annotated[int, Query(ge=2, le=16)] = 8) -> Response:
    za, zb = (panels.codes_of(run.model, test_image(request, run, i))[0] for i in (a, b))
    with torch.no_grad():
        return png(run.model.decode(interpolate(za, zb, steps, mode)), size=64)


@router.get("/api/runs/{run_id}/perturb.png", response_class=Response, responses=PNG,
            summary="A test image, its reconstruction, and the decoded code with noise added and last dims zeroed")
def perturb(request: Request, run: Encoder, index: Index = 0, scale: bounded(0, 10) = 0.1, zero: Dimension = 0,
            seed: Seed = 0) -> Response:
    return png(panels.perturbed(run.model, test_image(request, run, index), scale, zero, seed), size=96)


@router.get("/api/runs/{run_id}/traverse.png", response_class=Response, responses=PNG,
            summary="One code dimension swept over +-span standard deviations of the test codes, the others held")
def traverse(request: Request, run: Encoder, index: Index = 0, dim: Dimension = 0, span: bounded(0, 10) = 3.0,
             steps: Steps = 9) -> Response:
    x, reference = test_image(request, run, index), image_data(request, run).test_x[:500]
    return png(panels.traversed(run.model, x, reference, dim, span, steps), size=64)


@router.get("/api/runs/{run_id}/activity", summary="Per-dimension activity (and KL for a VAE): active units")
def activity(request: Request, run: Encoder) -> dict[str, Any]:
    return active_units(run.model, image_data(request, run).test_x[:1000])


@router.get("/api/runs/{run_id}/posterior", summary="q(z|x) of chosen test images in two chosen dimensions")
def posterior(request: Request, run: Posterior, indices: Indices = "0,1,2", dims: Dims = "0,1") -> dict[str, Any]:
    chosen = ints(indices)
    x = torch.cat([test_image(request, run, i) for i in chosen])
    return {**panels.posterior_view(run.model, x, ints(dims), run.code_dim), "indices": chosen, "dims": ints(dims)}


@router.get("/api/runs/{run_id}/epsilon.png", response_class=Response, responses=PNG,
            summary="Decode z = mu + sigma * eps (the posterior of a test image) and z = eps (the prior)")
def epsilon(request: Request, run: Posterior, eps: Epsilon, index: Index = 0) -> Response:
    e = panels.vector("eps", numbers(eps), run.code_dim)
    return png(panels.reparameterised(run.model, test_image(request, run, index), e), size=110)
