"""The runs found, a test image, samples of any run, its steps sweep and the Swiss roll's embeddings."""

from typing import Annotated, Any

import torch
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from aeflow import protocols as cap
from aeflow.eval.embedding import trustworthiness
from aeflow.files import read_json
from aeflow.runs import SampleRequest, draw

from ..params import (
    MAX_N,
    MAX_STEPS,
    PNG,
    Index,
    SamplerName,
    Seed,
    Source,
    bounded,
    image_data,
    png,
    registry,
    run_that,
    test_image,
)
from ..runs import Run
from ..work import while_wanted

router = APIRouter()
Samples = Annotated[int, Query(ge=1, le=MAX_N)]
SampleSteps = Annotated[int, Query(ge=1, le=MAX_STEPS)]


@router.get("/api/runs", summary="Every run found, with its family, capabilities, samplers and measured numbers")
def list_runs(request: Request) -> list[dict[str, Any]]:
    return [r.describe() for r in registry(request).runs.values()]


@router.get("/api/runs/{run_id}/image.png", response_class=Response, responses=PNG,
            summary="A test image, or its reconstruction")
def test_image_png(request: Request, run: Annotated[Run, Depends(run_that())], index: Index = 0,
                   recon: bool = False) -> Response:
    if recon and not isinstance(run.model, cap.Reconstructs):
        raise HTTPException(409, f"{run.name} ({run.family}) cannot do this: it is not Reconstructs")
    x = test_image(request, run, index)
    with torch.no_grad():
        return png(run.model.reconstruct(x) if recon else x)


@router.get("/api/runs/{run_id}/samples.png", response_class=Response, responses=PNG,
            summary="n samples: the model's sampler (any, with its options) or a code prior, seeded")
async def samples(request: Request, run_id: str, source: Source | None = None, sampler: SamplerName | None = None,
                  steps: SampleSteps | None = None, eta: bounded(0, 1) | None = None,
                  shift: bounded(0.01, 100) | None = None, churn: bounded(0, 100) | None = None, n: Samples = 16,
                  seed: Seed = 0, temperature: bounded(0, 5) = 1.0) -> Response:
    options = {k: v for k, v in (("eta", eta), ("shift", shift), ("churn", churn), ("steps", steps)) if v is not None}

    def compute() -> Response:   # the one sampling policy (SampleRequest): what the CLI's `aeflow sample` does
        run = run_that()(request, run_id)
        data = image_data(request, run)
        check_cost(run, sampler and sampler.value, n)
        asked = SampleRequest(source, sampler and sampler.value, options, n, seed, temperature)
        images, _ = draw(run.model, run.path, asked, data, priors=run.priors)
        return png(images, columns=8, size=64)

    return await while_wanted(request, compute)


def check_cost(run: Run, sampler: str | None, n: int) -> None:
    """Ancestral DDPM runs every one of its T steps: keep it to a few images."""
    if (sampler or run.describe()["default_sampler"]) == "ddpm" and n > 8:
        raise HTTPException(409, "the ddpm sampler runs all its T steps: n must be <= 8 here")


@router.get("/api/runs/{run_id}/sweep", summary="The run's FD-vs-NFE points (its `aeflow sweep steps` files)")
def sweep(run: Annotated[Run, Depends(run_that())]) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(run.path.glob("steps-sweep*/steps_sweep.json")):
        saved = read_json(path)   # a damaged file: aeflow's error, one line in the response
        setting = path.parent.name.removeprefix("steps-sweep")   # the sampler options besides steps: "-eta1"
        rows += [{**{k: r.get(k) for k in ("sampler", "steps", "nfe", "fd", "fd_real_floor", "n")},
                  "setting": setting} for r in (saved if isinstance(saved, list) else []) if isinstance(r, dict)]
    return rows


@router.get("/api/swissroll", summary="The Swiss roll's test points and the PCA and autoencoder embeddings")
def swissroll(request: Request) -> dict[str, Any]:
    found = {r.name.split("/")[-1]: r for r in registry(request).runs.values() if r.dataset == "swissroll"}
    if not {"pca", "autoencoder"} <= set(found):
        raise HTTPException(404, "no Swiss roll runs; make them with `aeflow reproduce swissroll`")
    data = registry(request).data(found["pca"])
    x = data.test_x[:600]
    out = {"points": x.tolist(), "t": data.test_y[:600].tolist()}
    for name in ("pca", "autoencoder"):
        with torch.no_grad():
            e = found[name].model.encode(x)
        out[name] = e.tolist()
        out[f"{name}_trustworthiness"] = trustworthiness(x.numpy(), e.numpy())
    return out
