"""The explorer's API (FastAPI): JSON endpoints with an OpenAPI schema and PNG images, each a library call on a
real trained model (routes/, one router per group of panels). Inputs are validated at the boundary (known run ids
only, finite numbers within stated bounds, n and steps capped); bad input gets a 4xx with a message. Nothing is
written into a run folder."""

import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from aeflow.errors import AeflowError, Cancelled

from .routes import ROUTERS
from .runs import Registry, find_runs

STATIC = Path(__file__).parent / "static"


class Detail(BaseModel):
    detail: str


# Well-formed requests (valid by the schema) that the chosen run cannot do answer 409 with the reason: its family
# lacks the capability, its code has fewer dimensions, its test split fewer images, its sampler takes no such
# option. Malformed ones answer 422 (FastAPI's validation). 499: the client left before the answer.
REFUSALS = {400: {"description": "not a valid HTTP request (the HTTP server's answer, before any route)"},
            404: {"model": Detail, "description": "no such run, or no run of this kind in the folders"},
            409: {"model": Detail, "description": "the run cannot do what was asked; the detail says why"},
            499: {"model": Detail, "description": "the client left; the work stopped"}}


def create_app(folders: list[Path]) -> FastAPI:
    registry = Registry(find_runs(folders))
    # What each run can do is worked out from its config (no weights) while the browser opens; weights load
    # when a panel first uses a run.
    threading.Thread(target=lambda: [run.describe() for run in registry.runs.values()], daemon=True).start()
    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN and are blank offline; /openapi.json is local.
    app = FastAPI(title="aeflow explorer", version="1", description="Every panel of the story on real trained runs.",
                  docs_url=None, redoc_url=None, responses=REFUSALS)
    app.state.registry = registry
    app.add_exception_handler(AeflowError, refused)
    for error in (ValueError, RuntimeError, IndexError):
        app.add_exception_handler(error, does_not_fit)
    app.add_exception_handler(Cancelled, cancelled)
    for router in ROUTERS:
        app.include_router(router)
    app.get("/", include_in_schema=False)(lambda: FileResponse(STATIC / "index.html"))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.openapi = lambda: run_ids_in_schema(app, list(registry.runs) or ["none"])
    return app


async def refused(request: Request, error: AeflowError) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=409)


async def does_not_fit(request: Request, error: Exception) -> JSONResponse:
    # what the request asked of this model does not fit it (a shape, a range): the client's to change
    return JSONResponse({"detail": f"this request does not fit the model: {str(error).splitlines()[0]}"},
                        status_code=409)


async def cancelled(request: Request, error: Cancelled) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=499)   # nobody reads it: the client has gone


def run_ids_in_schema(app: FastAPI, ids: list[str]) -> dict[str, Any]:
    """The OpenAPI schema with every `run_id` an enum of the runs found: a client (or a schema-driven test) can
    only name a run that exists, never a path."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for operation in (op for path in schema["paths"].values() for op in path.values()):
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "run_id":
                    parameter["schema"] = {"type": "string", "enum": ids, "title": "RunId"}
        app.openapi_schema = schema
    return app.openapi_schema
