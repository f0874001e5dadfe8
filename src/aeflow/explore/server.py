"""The explorer's API (FastAPI): JSON endpoints with an OpenAPI schema and PNG images, each a library call on
a real trained model. Inputs are validated at the boundary (known run ids only, finite numbers within stated
bounds, n and steps capped); bad input gets a 4xx with a message. Nothing is written into a run folder."""

import contextvars
import enum
import io
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import anyio
import numpy as np
import torch
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import BaseModel

from aeflow import protocols as cap
from aeflow.diffusion.corruption import corrupt, keep_prefix, psnr, random_mask
from aeflow.errors import AeflowError, Cancelled
from aeflow.eval.discriminator import duel, judged
from aeflow.eval.embedding import trustworthiness
from aeflow.eval.latent import active_units, interpolate, plane_grid
from aeflow.eval.sample_quality import nearest_training_images
from aeflow.files import read_json
from aeflow.priors import decoded_samples
from aeflow.progress import cancel_on, check_cancelled
from aeflow.runs import SampleRequest, draw
from aeflow.samplers import SAMPLERS, choose_sampler
from aeflow.training import read_metrics

from .runs import Datasets, Run, find_runs

STATIC = Path(__file__).parent / "static"
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


def _bounded(low: float, high: float) -> Any:
    """A float in [low, high] (NaN and the infinities fail the bounds)."""
    return Annotated[float, Query(ge=low, le=high)]


class Detail(BaseModel):
    detail: str


# Well-formed requests (valid by the schema) that the chosen run cannot do answer 409 with the reason: its family
# lacks the capability, its code has fewer dimensions, its test split fewer images, its sampler takes no such
# option. Malformed ones answer 422 (FastAPI's validation). 499: the client left before the answer.
REFUSALS = {400: {"description": "not a valid HTTP request (the HTTP server's answer, before any route)"},
            404: {"model": Detail, "description": "no such run, or no run of this kind in the folders"},
            409: {"model": Detail, "description": "the run cannot do what was asked; the detail says why"},
            499: {"model": Detail, "description": "the client left; the work stopped"}}
PNG = {200: {"content": {"image/png": {}}, "description": "a PNG image"}}


def _vector(name: str, text: str, length: int) -> torch.Tensor:
    values = [float(v) for v in text.split(",")]   # the query parameter's pattern has checked the form
    if len(values) != length:
        raise HTTPException(409, f"{name} needs {length} numbers (the code size), got {len(values)}")
    return torch.tensor([values])


def png(images: torch.Tensor, columns: int | None = None, size: int = 96) -> Response:
    """(N, C, H, W) in [0, 1] tiled in rows of `columns`, each image scaled to about `size` pixels."""
    images = images.detach().float().clamp(0, 1).mean(1).cpu()
    n, h, w = images.shape
    columns = columns or n
    rows = math.ceil(n / columns)
    scale = max(1, size // max(h, w))
    canvas = np.ones((rows * (h + 1) - 1, columns * (w + 1) - 1))
    for i in range(n):
        r, c = divmod(i, columns)
        canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = 1 - images[i].numpy()
    picture = Image.fromarray((canvas * 255).astype(np.uint8)).resize(
        (canvas.shape[1] * scale, canvas.shape[0] * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return Response(buffer.getvalue(), media_type="image/png")


def create_app(folders: list[Path]) -> FastAPI:
    runs = find_runs(folders)
    # What each run can do is worked out from its config (no weights) while the browser opens; weights load
    # when a panel first uses a run.
    threading.Thread(target=lambda: [run.describe() for run in runs.values()], daemon=True).start()
    datasets = Datasets()
    trajectories: dict[tuple, list] = {}   # (run, sampler, steps, seed) -> its steps, oldest first
    trajectories_lock = threading.Lock()
    # The run ids are an enum of the schema: a client can only name a run that was found, never a path.
    RunId = enum.Enum("RunId", {rid: rid for rid in runs} or {"none": "none"}, type=str)  # noqa: N806
    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN and are blank offline; /openapi.json is local.
    app = FastAPI(title="aeflow explorer", version="1", description="Every panel of the story on real trained runs.",
                  docs_url=None, redoc_url=None, responses=REFUSALS)

    @app.exception_handler(AeflowError)
    async def _aeflow_error(request: Request, error: AeflowError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=409)

    @app.exception_handler(ValueError)
    @app.exception_handler(RuntimeError)
    @app.exception_handler(IndexError)
    async def _does_not_fit(request: Request, error: Exception) -> JSONResponse:
        # what the request asked of this model does not fit it (a shape, a range): the client's to change
        return JSONResponse({"detail": f"this request does not fit the model: {str(error).splitlines()[0]}"},
                            status_code=409)

    @app.exception_handler(Cancelled)
    async def _cancelled(request: Request, error: Cancelled) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=499)   # nobody reads it: the client has gone

    def get(run_id: RunId, *needs: type) -> Run:
        if run_id.value not in runs:
            raise HTTPException(404, f"no run {run_id.value!r}; GET /api/runs lists them")
        run = runs[run_id.value]
        if not run.usable():
            raise HTTPException(409, f"{run.name} cannot be used: {run.problem}")
        for protocol in needs:
            if not isinstance(run.model, protocol):
                raise HTTPException(409, f"{run.name} ({run.family}) cannot do this: it is not {protocol.__name__}")
        return run

    def image(run: Run, index: int) -> torch.Tensor:
        check_image_data(run)
        data = datasets(run)
        if index >= len(data.test_x):
            raise HTTPException(409, f"index must be < {len(data.test_x)} (the test split)")
        return data.test_x[index:index + 1]

    def check_image_data(run: Run) -> None:
        if not datasets(run).is_image:
            raise HTTPException(409, f"{run.name} is trained on {run.dataset}, which is not images")

    @app.get("/api/runs", summary="Every run found, with its family, capabilities, samplers and measured numbers")
    def list_runs() -> list[dict[str, Any]]:
        return [r.describe() for r in runs.values()]

    @app.get("/api/runs/{run_id}/image.png", response_class=Response, responses=PNG,
             summary="A test image, or its reconstruction")
    def test_image(run_id: RunId, index: Index = 0, recon: bool = False) -> Response:
        run = get(run_id, cap.Reconstructs) if recon else get(run_id)
        check_image_data(run)
        x = image(run, index)
        with torch.no_grad():
            return png(run.model.reconstruct(x) if recon else x)

    @app.get("/api/runs/{run_id}/codes", summary="Test codes (first two dimensions) and labels, for the plane")
    def codes(run_id: RunId, n: Annotated[int, Query(ge=1, le=2000)] = 500) -> dict[str, Any]:
        run = get(run_id, cap.Encodes)
        check_image_data(run)
        data = datasets(run)
        with torch.no_grad():
            z = run.model.encode(data.test_x[:n]).flatten(1)
        labels = data.test_y[:n].tolist() if data.test_y is not None else [0] * len(z)
        return {"points": z[:, :2].tolist(), "labels": labels, "code_dim": int(z.shape[1]),
                "classes": list(data.classes) or sorted(set(labels))}

    @app.get("/api/runs/{run_id}/decode.png", response_class=Response, responses=PNG, summary="Decode one code z")
    def decode(run_id: RunId, z: Code) -> Response:
        run = get(run_id, cap.Encodes)
        check_image_data(run)
        with torch.no_grad():
            return png(run.model.decode(_vector("z", z, run.describe()["code_dim"])), size=160)

    def nearest(run_id: RunId, z: str, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Run]:
        run = get(run_id, cap.Encodes)
        check_image_data(run)
        with torch.no_grad():
            decoded = run.model.decode(_vector("z", z, run.describe()["code_dim"])).clamp(0, 1)
        indices, distances = nearest_training_images(decoded, datasets(run).train_x, k)
        return decoded, indices, distances, run

    @app.get("/api/runs/{run_id}/nearest", summary="The k training images nearest a decoded code (pixel L2)")
    def nearest_json(run_id: RunId, z: Code,
                     k: Annotated[int, Query(ge=1, le=16)] = 6) -> dict[str, Any]:
        _, indices, distances, run = nearest(run_id, z, k)
        labels = datasets(run).train_y
        return {"indices": indices.tolist(), "distances": distances.tolist(),
                "labels": labels[indices].tolist() if labels is not None else None}

    @app.get("/api/runs/{run_id}/nearest.png", response_class=Response, responses=PNG,
             summary="A decoded code, then the k training images nearest it, nearest first")
    def nearest_png(run_id: RunId, z: Code,
                    k: Annotated[int, Query(ge=1, le=16)] = 6) -> Response:
        decoded, indices, _, run = nearest(run_id, z, k)
        return png(torch.cat([decoded, datasets(run).train_x[indices]]), size=64)

    @app.get("/api/runs/{run_id}/manifold.png", response_class=Response, responses=PNG,
             summary="The decoder over a grid of the 2-D code plane (2nd-98th percentiles of the test codes)")
    def manifold(run_id: RunId, size: Annotated[int, Query(ge=2, le=20)] = 10) -> Response:
        run = get(run_id, cap.Encodes)
        check_image_data(run)
        if run.describe()["code_dim"] != 2:
            raise HTTPException(409, f"{run.name} has {run.describe()['code_dim']}-d codes; the plane needs 2")
        with torch.no_grad():
            grid = plane_grid(run.model.encode(datasets(run).test_x), size)
            return png(run.model.decode(grid), columns=size, size=48)

    @app.get("/api/runs/{run_id}/interpolate.png", response_class=Response, responses=PNG,
             summary="Decoded codes on the line (or great circle) between two test images' codes")
    def interpolation(run_id: RunId, a: Index = 0, b: Index = 1, mode: Path2 = "linear",
                      steps: Annotated[int, Query(ge=2, le=16)] = 8) -> Response:
        run = get(run_id, cap.Encodes)
        with torch.no_grad():
            za, zb = run.model.encode(image(run, a)), run.model.encode(image(run, b))
            return png(run.model.decode(interpolate(za[0], zb[0], steps, mode)), size=64)

    @app.get("/api/runs/{run_id}/perturb.png", response_class=Response, responses=PNG,
             summary="A test image, its reconstruction, and the decoded code with noise added and last dims zeroed")
    def perturb(run_id: RunId, index: Index = 0, scale: _bounded(0, 10) = 0.1,
                zero: Annotated[int, Query(ge=0, le=MAX_DIM)] = 0, seed: Seed = 0) -> Response:
        run = get(run_id, cap.Encodes)
        x = image(run, index)
        with torch.no_grad():
            z = run.model.encode(x).flatten(1)
            if zero > z.shape[1]:
                raise HTTPException(409, f"zero must be <= {z.shape[1]} (the code size)")
            noisy = z + scale * torch.randn(z.shape, generator=torch.Generator().manual_seed(seed))
            if zero:
                noisy[:, -zero:] = 0
            return png(torch.cat([x, run.model.decode(z), run.model.decode(noisy)]), size=96)

    @app.get("/api/runs/{run_id}/samples.png", response_class=Response, responses=PNG,
             summary="n samples: the model's sampler (any, with its options) or a code prior, seeded")
    async def samples(request: Request, run_id: RunId,
                      source: Source | None = None, sampler: SamplerName | None = None,
                      steps: Annotated[int, Query(ge=1, le=MAX_STEPS)] | None = None,
                      eta: _bounded(0, 1) | None = None, shift: _bounded(0.01, 100) | None = None,
                      churn: _bounded(0, 100) | None = None, n: Annotated[int, Query(ge=1, le=MAX_N)] = 16,
                      seed: Seed = 0, temperature: _bounded(0, 5) = 1.0) -> Response:
        def compute() -> Response:
            run = get(run_id)
            check_image_data(run)
            options = {k: v for k, v in (("eta", eta), ("shift", shift), ("churn", churn)) if v is not None}
            if steps is not None:
                options["steps"] = steps
            drawn_from = source or run.describe()["default_source"] or "normal"
            if drawn_from == "model" and temperature != 1 and isinstance(run.model, cap.Samples) and \
                    isinstance(run.model, cap.Encodes):
                drawn_from = "normal"   # a VAE's own prior is N(0, I): the temperature scales it
            _check_cost(run, sampler and sampler.value, n)
            if drawn_from != "model":
                run.prior(drawn_from, datasets(run))
                prior = run.priors[drawn_from]
                images = decoded_samples(run.model, prior, n, torch.Generator().manual_seed(seed), temperature)
            else:
                asked = SampleRequest("model", sampler and sampler.value, options, n, seed, temperature)
                images, _ = draw(run.model, run.path, asked)
            return png(images, columns=8, size=64)

        return await while_wanted(request, compute)

    @app.get("/api/runs/{run_id}/posterior", summary="q(z|x) of chosen test images in two chosen dimensions")
    def posterior(run_id: RunId, indices: Indices = "0,1,2", dims: Dims = "0,1") -> dict[str, Any]:
        run = get(run_id, cap.HasPosterior)
        chosen, d = _ints(indices), _ints(dims)
        latent = run.describe()["code_dim"]
        if max(d) >= latent:
            raise HTTPException(409, f"dims must be < {latent}")
        with torch.no_grad():
            mu, logvar = run.model.posterior(torch.cat([image(run, i) for i in chosen]))
        return {"mu": mu[:, d].tolist(), "sigma": (0.5 * logvar[:, d]).exp().tolist(), "indices": chosen, "dims": d}

    @app.get("/api/runs/{run_id}/epsilon.png", response_class=Response, responses=PNG,
             summary="Decode z = mu + sigma * eps (the posterior of a test image) and z = eps (the prior)")
    def epsilon(run_id: RunId, eps: Epsilon, index: Index = 0) -> Response:
        run = get(run_id, cap.HasPosterior)
        e = _vector("eps", eps, run.describe()["code_dim"])
        with torch.no_grad():
            mu, logvar = run.model.posterior(image(run, index))
            z = torch.cat([mu + (0.5 * logvar).exp() * e, e])
            return png(torch.cat([image(run, index), run.model.decode(z)]), size=110)

    @app.get("/api/runs/{run_id}/traverse.png", response_class=Response, responses=PNG,
             summary="One code dimension swept over +-span standard deviations of the test codes, the others held")
    def traverse(run_id: RunId, index: Index = 0, dim: Annotated[int, Query(ge=0, le=MAX_DIM)] = 0,
                 span: _bounded(0, 10) = 3.0, steps: Annotated[int, Query(ge=2, le=16)] = 9) -> Response:
        run = get(run_id, cap.Encodes)
        with torch.no_grad():
            codes = run.model.encode(datasets(run).test_x[:500]).flatten(1)
            if dim >= codes.shape[1]:
                raise HTTPException(409, f"dim must be < {codes.shape[1]}")
            z = run.model.encode(image(run, index)).flatten(1).repeat(steps, 1)
            z[:, dim] = codes[:, dim].mean() + torch.linspace(-span, span, steps) * codes[:, dim].std()
            return png(run.model.decode(z), size=64)

    @app.get("/api/runs/{run_id}/activity", summary="Per-dimension activity (and KL for a VAE): active units")
    def activity(run_id: RunId) -> dict[str, Any]:
        run = get(run_id, cap.Encodes)
        return active_units(run.model, datasets(run).test_x[:1000])

    @app.get("/api/runs/{run_id}/prefix", summary="An ordered code cut to its first k units: error and compression")
    def prefix(run_id: RunId, index: Index = 0, k: Annotated[int, Query(ge=1, le=MAX_DIM)] = 1) -> dict[str, Any]:
        run, x, z = _prefix_inputs(run_id, index, k)
        with torch.no_grad():
            error = float((run.model.decode(keep_prefix(z, k)) - x).pow(2).sum())
        return {"k": k, "code_dim": int(z.shape[1]), "error": error, "compression": x[0].numel() / k}

    @app.get("/api/runs/{run_id}/prefix.png", response_class=Response, responses=PNG,
             summary="The test image and its k-prefix reconstruction")
    def prefix_png(run_id: RunId, index: Index = 0, k: Annotated[int, Query(ge=1, le=MAX_DIM)] = 1) -> Response:
        run, x, z = _prefix_inputs(run_id, index, k)
        with torch.no_grad():
            return png(torch.cat([x, run.model.decode(keep_prefix(z, k))]), size=128)

    def _prefix_inputs(run_id: RunId, index: int, k: int):
        run = get(run_id, cap.Encodes)
        x = image(run, index)
        with torch.no_grad():
            z = run.model.encode(x).flatten(1)
        if k > z.shape[1]:
            raise HTTPException(409, f"k must be <= {z.shape[1]} (the code size)")
        return run, x, z

    @app.get("/api/runs/{run_id}/sparse", summary="The k largest activations of a sparse code: atoms and error")
    def sparse(run_id: RunId, index: Index = 0, k: Annotated[int, Query(ge=1, le=MAX_DIM)] = 8) -> dict[str, Any]:
        run, x, z = _sparse_inputs(run_id, index, k)
        active = z[0].nonzero().flatten()
        with torch.no_grad():
            error = float((run.model.decode(z) - x).pow(2).sum())
        order = active[z[0, active].argsort(descending=True)]
        return {"k": k, "active": order.tolist(), "values": z[0, order].tolist(), "error": error,
                "code_dim": int(z.shape[1])}

    @app.get("/api/runs/{run_id}/sparse.png", response_class=Response, responses=PNG,
             summary="The test image, its top-k reconstruction, then its active atoms (largest first)")
    def sparse_png(run_id: RunId, index: Index = 0, k: Annotated[int, Query(ge=1, le=MAX_DIM)] = 8) -> Response:
        run, x, z = _sparse_inputs(run_id, index, k)
        active = z[0].nonzero().flatten()
        order = active[z[0, active].argsort(descending=True)][:14]
        with torch.no_grad():
            atoms = run.model.unit_dictionary().T.reshape(-1, *x.shape[1:])[order]
            low, high = atoms.amin((1, 2, 3), keepdim=True), atoms.amax((1, 2, 3), keepdim=True)
            atoms = (atoms - low) / (high - low).clamp_min(1e-8)
            return png(torch.cat([x, run.model.decode(z), atoms]), size=64)

    def _sparse_inputs(run_id: RunId, index: int, k: int):
        run = get(run_id, cap.SparseDictionary)
        units = run.model.unit_dictionary().shape[1]
        if k > units:
            raise HTTPException(409, f"k must be <= {units}")
        x = image(run, index)
        with torch.no_grad():
            return run, x, run.model.encode(x, k)

    @app.get("/api/runs/{run_id}/denoise", summary="PSNR of the corrupted and the denoised test image")
    def denoise(run_id: RunId, index: Index = 0, kind: Corruption = "gaussian", level: _bounded(0, 1) = 0.3,
                seed: Seed = 0) -> dict[str, float]:
        x, noisy, clean = _denoise(run_id, index, kind, level, seed)
        return {"psnr_corrupted": psnr(noisy, x), "psnr_denoised": psnr(clean, x)}

    @app.get("/api/runs/{run_id}/denoise.png", response_class=Response, responses=PNG,
             summary="Clean, corrupted, denoised")
    def denoise_png(run_id: RunId, index: Index = 0, kind: Corruption = "gaussian", level: _bounded(0, 1) = 0.3,
                    seed: Seed = 0) -> Response:
        return png(torch.cat(_denoise(run_id, index, kind, level, seed)), size=128)

    def _denoise(run_id: RunId, index: int, kind: str, level: float, seed: int):
        run = get(run_id, cap.Reconstructs)
        x = image(run, index)
        noisy = corrupt(x, kind, level, torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return x, noisy, run.model.reconstruct(noisy).clamp(0, 1)

    @app.get("/api/runs/{run_id}/codebook", summary="A VQ-VAE's codebook in 2-D (PCA) with its usage on test images")
    def codebook(run_id: RunId) -> dict[str, Any]:
        run = get(run_id, cap.Tokenizes)
        book = run.model.codebook.detach()
        centred = book - book.mean(0)
        points = centred @ torch.linalg.svd(centred, full_matrices=False)[2][:2].T
        with torch.no_grad():
            tokens = run.model.tokens(datasets(run).test_x[:1000])
        usage = torch.bincount(tokens.flatten(), minlength=run.model.codebook_size).float()
        return {"points": points.tolist(), "usage": (usage / usage.sum()).tolist(), "grid": list(run.model.token_grid)}

    @app.get("/api/runs/{run_id}/tokens", summary="A test image's token map")
    def tokens(run_id: RunId, index: Index = 0) -> dict[str, Any]:
        run = get(run_id, cap.Tokenizes)
        with torch.no_grad():
            return {"tokens": run.model.tokens(image(run, index))[0].tolist(), "grid": list(run.model.token_grid),
                    "codebook_size": run.model.codebook_size}

    @app.get("/api/runs/{run_id}/swap.png", response_class=Response, responses=PNG,
             summary="The image decoded from its tokens with the token at one position swapped")
    def swap(run_id: RunId, index: Index = 0, position: Annotated[int, Query(ge=0, le=MAX_DIM)] = 0,
             code: Annotated[int, Query(ge=0, le=100_000)] = 0) -> Response:
        run = get(run_id, cap.Tokenizes)
        with torch.no_grad():
            t = run.model.tokens(image(run, index))
            if position >= t.shape[1] or code >= run.model.codebook_size:
                raise HTTPException(409, f"position must be < {t.shape[1]} and code < {run.model.codebook_size}")
            swapped = t.clone()
            swapped[0, position] = code
            return png(torch.cat([image(run, index), run.model.decode_tokens(t), run.model.decode_tokens(swapped)]),
                       size=128)

    @app.get("/api/runs/{run_id}/mask.png", response_class=Response, responses=PNG,
             summary="A masked autoencoder at a mask ratio: the visible patches, then the hidden ones filled in")
    def mask(run_id: RunId, index: Index = 0, ratio: _bounded(0, 0.95) = 0.75, seed: Seed = 0) -> Response:
        run = get(run_id, cap.FillsPatches)
        x = image(run, index)
        model = run.model
        hidden = random_mask(1, model.n_patches, ratio, torch.Generator().manual_seed(seed))
        with torch.no_grad():
            shown = model.unpatchify(torch.where(hidden[..., None], torch.full_like(model.patchify(x), 0.5),
                                                 model.patchify(x)))
            return png(torch.cat([x, shown, model.fill_in(x, hidden)]), size=128)

    def trajectory_frames(run_id: RunId, sampler: SamplerName | None, steps: int | None, seed: int, columns: int,
                          frame: int | None) -> tuple[Run, list, list[int]]:
        """Every step of the sampler from one noise, and the steps shown: `columns` evenly chosen, or `frame`.
        The last few trajectories are kept: the page asks for one's picture, its times and then single frames."""
        run = get(run_id, cap.NoiseToData)
        # steps None: the sampler's own
        choice = choose_sampler(run.model, sampler and sampler.value, {"steps": steps})
        _check_cost(run, choice.name, 1)
        key = (run.id, choice.name, steps, seed)
        frames = trajectories.get(key)
        if frames is None:
            noise = run.model.noise(1, torch.Generator().manual_seed(seed))
            frames = []
            for step in choice.sampler.iterate(run.model, noise, choice.options, torch.Generator().manual_seed(seed)):
                check_cancelled()
                frames.append(step)
            with trajectories_lock:   # requests run in worker threads
                trajectories[key] = frames
                while len(trajectories) > 8:
                    trajectories.pop(next(iter(trajectories)))
        keep = [min(frame, len(frames) - 1)] if frame is not None else sorted(
            {round(i * (len(frames) - 1) / (columns - 1)) for i in range(columns)})
        return run, frames, keep

    Columns = Annotated[int, Query(ge=2, le=20)]
    Frame = Annotated[int, Query(ge=0, le=10_000)]
    TrajectorySteps = Annotated[int, Query(ge=1, le=50)]

    @app.get("/api/runs/{run_id}/trajectory.png", response_class=Response, responses=PNG,
             summary="Every step of a sampler from one noise: x_t (top row) and the clean-image estimate (bottom)")
    async def trajectory(request: Request, run_id: RunId, sampler: SamplerName | None = None,
                         steps: TrajectorySteps | None = None, seed: Seed = 0, columns: Columns = 10,
                         frame: Frame | None = None) -> Response:
        def compute() -> Response:
            run, frames, keep = trajectory_frames(run_id, sampler, steps, seed, columns, frame)
            with torch.no_grad():
                xt = torch.cat([run.model.to_data_space(frames[i].x) for i in keep])
                x0 = torch.cat([run.model.to_data_space(frames[i].x0) for i in keep])
            return png(torch.cat([xt, x0]), columns=len(keep), size=128 if frame is not None else 64)

        return await while_wanted(request, compute)

    @app.get("/api/runs/{run_id}/trajectory",
             summary="The steps trajectory.png shows: each one's index, time t (flow: 0 noise to 1 data; DDPM: "
                     "the timestep reached, -1 at the end) and network evaluations so far; and how many steps")
    async def trajectory_times(request: Request, run_id: RunId, sampler: SamplerName | None = None,
                               steps: TrajectorySteps | None = None, seed: Seed = 0, columns: Columns = 10,
                               frame: Frame | None = None) -> dict[str, Any]:
        def compute() -> dict[str, Any]:
            _, frames, keep = trajectory_frames(run_id, sampler, steps, seed, columns, frame)
            return {"steps": len(frames), "shown": [{"index": frames[i].index, "t": float(frames[i].t),
                                                     "nfe": frames[i].nfe} for i in keep]}

        return await while_wanted(request, compute)

    @app.get("/api/runs/{run_id}/sweep", summary="The run's FD-vs-NFE points (its `aeflow sweep steps` files)")
    def sweep(run_id: RunId) -> list[dict[str, Any]]:
        run = get(run_id)
        rows = []
        for path in sorted(run.path.glob("steps-sweep*/steps_sweep.json")):
            saved = read_json(path)   # a damaged file: aeflow's error, one line in the response
            setting = path.parent.name.removeprefix("steps-sweep")   # the sampler options besides steps: "-eta1"
            rows += [{**{k: r.get(k) for k in ("sampler", "steps", "nfe", "fd", "fd_real_floor", "n")},
                      "setting": setting} for r in (saved if isinstance(saved, list) else []) if isinstance(r, dict)]
        return rows

    def judged_by(run_id: RunId, start: int, n: int, seed: int) -> tuple[Run, dict[str, torch.Tensor]]:
        run = get(run_id, cap.Discriminates, cap.MapsNoise)
        check_image_data(run)
        real = datasets(run).test_x[start:start + n]
        if len(real) < n:
            raise HTTPException(409, f"start + n must be <= {len(datasets(run).test_x)} (the test split)")
        return run, judged(run.model, real, torch.Generator().manual_seed(seed))

    @app.get("/api/runs/{run_id}/discriminator",
             summary="A GAN's discriminator: its mean output on test images and on fakes by epoch, and its "
                     "probability of real for n test images and n samples")
    def discriminator(run_id: RunId, start: Index = 0, n: Annotated[int, Query(ge=1, le=16)] = 8,
                      seed: Seed = 0) -> dict[str, Any]:
        run, view = judged_by(run_id, start, n, seed)
        return {**duel(read_metrics(run.path / "metrics.jsonl")), "real_scores": view["real_scores"].tolist(),
                "fake_scores": view["fake_scores"].tolist()}

    @app.get("/api/runs/{run_id}/discriminator.png", response_class=Response, responses=PNG,
             summary="The n test images (top row) and n samples (bottom row) the discriminator scores")
    def discriminator_png(run_id: RunId, start: Index = 0, n: Annotated[int, Query(ge=1, le=16)] = 8,
                          seed: Seed = 0) -> Response:
        view = judged_by(run_id, start, n, seed)[1]
        return png(torch.cat([view["real"], view["fake"]]), columns=n)

    @app.get("/api/runs/{run_id}/pipeline", summary="A latent generator's stages with their real tensor shapes")
    def pipeline(run_id: RunId) -> dict[str, Any]:
        model = _latent(run_id)
        return {"noise": [model.code_dim], "latent": [model.code_dim], "image": list(model.input_shape),
                "compression": model.compression, "autoencoder": model.autoencoder_family}

    @app.get("/api/runs/{run_id}/pipeline.png", response_class=Response, responses=PNG,
             summary="Noise latent, denoised latent (as grey bars), and the decoded image")
    def pipeline_png(run_id: RunId, seed: Seed = 0, steps: Annotated[int, Query(ge=1, le=50)] = 10) -> Response:
        model = _latent(run_id)
        choice = choose_sampler(model, None, {"steps": steps})
        noise = model.noise(1, torch.Generator().manual_seed(seed))
        latent, _ = choice.sampler.run(model, noise, choice.options, torch.Generator().manual_seed(seed))
        side = model.input_shape[-1]

        def bars(v: torch.Tensor) -> torch.Tensor:   # a code as a strip of grey levels, one column per dimension
            level = ((v.clamp(-3, 3) + 3) / 6).repeat_interleave(max(1, side // v.shape[1]), 1)[:, :side]
            return torch.nn.functional.pad(level, (0, side - level.shape[1]), value=1.0).expand(side, side)[None, None]

        with torch.no_grad():
            return png(torch.cat([bars(noise), bars(latent), model.to_data_space(latent)]), size=128)

    @app.get("/api/swissroll", summary="The Swiss roll's test points and the PCA and autoencoder embeddings")
    def swissroll() -> dict[str, Any]:
        found = {r.name.split("/")[-1]: r for r in runs.values() if r.dataset == "swissroll"}
        if not {"pca", "autoencoder"} <= set(found):
            raise HTTPException(404, "no Swiss roll runs; make them with `aeflow reproduce swissroll`")
        data = datasets(found["pca"])
        x = data.test_x[:600]
        out = {"points": x.tolist(), "t": data.test_y[:600].tolist()}
        for name in ("pca", "autoencoder"):
            with torch.no_grad():
                e = found[name].model.encode(x)
            out[name] = e.tolist()
            out[f"{name}_trustworthiness"] = trustworthiness(x.numpy(), e.numpy())
        return out

    def _latent(run_id: RunId) -> cap.LatentPipeline:
        return get(run_id, cap.LatentPipeline).model

    def _check_cost(run: Run, sampler: str | None, n: int) -> None:
        """Ancestral DDPM runs every one of its T steps: keep it to a few images."""
        if (sampler or run.describe()["default_source"]) == "ddpm" and n > 8:
            raise HTTPException(409, "the ddpm sampler runs all its T steps: n must be <= 8 here")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def while_wanted(request: Request, compute: Callable[[], Any]) -> Any:
    """`compute()` in a worker thread, stopped at its next sampler step once the client has gone (a dropped
    request costs at most one step, not the whole of it)."""
    wanted_no_more = threading.Event()
    context = contextvars.copy_context()
    context.run(cancel_on, wanted_no_more)   # the worker's context, cancelled by the event

    async def watch() -> None:
        while not wanted_no_more.is_set():
            if await request.is_disconnected():
                wanted_no_more.set()
            await anyio.sleep(0.1)

    outcome: dict[str, Any] = {}

    async def work() -> None:   # its error is raised after the group, as itself (a group would wrap it)
        try:
            outcome["response"] = await anyio.to_thread.run_sync(context.run, compute)
        except Exception as error:  # noqa: BLE001 - re-raised below, to the app's handlers
            outcome["error"] = error
        finally:
            wanted_no_more.set()   # the watcher ends with the work

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        group.start_soon(work)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["response"]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]   # the query parameter's pattern has checked the form
