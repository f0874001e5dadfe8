"""What every route shares: the query parameters' types and bounds (validated before a route runs), the run a
route is about (`run_that`: a known id, a usable model with the capabilities the panel needs), a test image,
and the PNG reply. A request the chosen run cannot do answers 409 with the reason."""

from __future__ import annotations

import enum
from typing import Annotated, Any

import torch
from fastapi import HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from aeflow.data import Dataset
from aeflow.samplers import SAMPLERS
from aeflow.viz import png_bytes

from .runs import Registry, Run

MAX_N, MAX_STEPS, MAX_DIM = 64, 200, 4096

Index = Annotated[int, Query(ge=0, le=99_999, description="a test image's index (below the run's test split size)")]
Seed = Annotated[int, Query(ge=0, le=2 ** 31 - 1)]
Path2 = Annotated[str, Query(pattern="^(linear|spherical)$")]
Corruption = Annotated[str, Query(pattern="^(gaussian|salt_pepper|masking)$")]
# A code, as comma-separated decimals below 100 (eps: below 10) in size, one per dimension of the run's code; at
# most 1,000 characters, so that any string of that length, percent-encoded, fits in the HTTP server's 16 KiB.
Code = Annotated[str, Query(pattern=r"^-?[0-9]{1,2}(\.[0-9]+)?(,-?[0-9]{1,2}(\.[0-9]+)?)*$", max_length=1000,
                            description="comma-separated numbers in (-100, 100), one per code dimension")]
Epsilon = Annotated[str, Query(pattern=r"^-?[0-9](\.[0-9]+)?(,-?[0-9](\.[0-9]+)?)*$", max_length=1000,
                               description="comma-separated numbers in (-10, 10), one per code dimension")]
Indices = Annotated[str, Query(pattern=r"^[0-9]{1,5}(,[0-9]{1,5}){0,11}$", description="1 to 12 test image indices")]
Dims = Annotated[str, Query(pattern=r"^[0-9]{1,4},[0-9]{1,4}$", description="two code dimensions")]
SamplerName = enum.Enum("SamplerName", {name: name for name in SAMPLERS}, type=str)
Source = Annotated[str, Query(pattern="^(model|normal|gmm|categorical)$")]
Dimension = Annotated[int, Query(ge=0, le=MAX_DIM)]
Units = Annotated[int, Query(ge=1, le=MAX_DIM)]
Few = Annotated[int, Query(ge=1, le=16)]
Steps = Annotated[int, Query(ge=2, le=16)]
Columns = Annotated[int, Query(ge=2, le=20)]
Frame = Annotated[int, Query(ge=0, le=10_000)]
TrajectorySteps = Annotated[int, Query(ge=1, le=50)]

PNG = {200: {"content": {"image/png": {}}, "description": "a PNG image"}}


def bounded(low: float, high: float) -> Any:
    """A float in [low, high] (NaN and the infinities fail the bounds)."""
    return Annotated[float, Query(ge=low, le=high)]


def numbers(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]   # the query parameter's pattern has checked the form


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def png(images: torch.Tensor, columns: int | None = None, size: int = 96) -> Response:
    return Response(png_bytes(images, columns, size), media_type="image/png")


def registry(request: Request) -> Registry:
    return request.app.state.registry


def run_that(*needs: type):
    """A route's dependency: the run named by the path's `run_id` (one of the runs found: a client never names
    a path), its model usable and of every capability in `needs`."""
    def the_run(request: Request, run_id: str) -> Run:
        runs = registry(request).runs
        if run_id not in runs:
            raise RequestValidationError([{"type": "enum", "loc": ("path", "run_id"), "input": run_id,
                                           "msg": "not one of the runs found; GET /api/runs lists them"}])
        run = runs[run_id]
        if not run.usable():
            raise HTTPException(409, f"{run.name} cannot be used: {run.problem}")
        for protocol in needs:
            if not isinstance(run.model, protocol):
                raise HTTPException(409, f"{run.name} ({run.family}) cannot do this: it is not {protocol.__name__}")
        return run

    return the_run


def image_data(request: Request, run: Run) -> Dataset:
    """The run's dataset, which must be images."""
    data = registry(request).data(run)
    if not data.is_image:
        raise HTTPException(409, f"{run.name} is trained on {run.dataset}, which is not images")
    return data


def test_image(request: Request, run: Run, index: int) -> torch.Tensor:
    """Test image `index` of the run's dataset, as a batch of one."""
    data = image_data(request, run)
    if index >= len(data.test_x):
        raise HTTPException(409, f"index must be < {len(data.test_x)} (the test split)")
    return data.test_x[index:index + 1]
