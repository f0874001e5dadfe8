"""The regularised autoencoders' panels: an ordered code's prefix, a sparse code's atoms, a denoiser, a VQ-VAE's
codebook and tokens, a masked autoencoder's fill."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from aeflow import protocols as cap
from aeflow.eval import panels

from ..params import PNG, Corruption, Dimension, Index, Seed, Units, bounded, image_data, png, run_that, test_image
from ..runs import Run

router = APIRouter()
Encoder = Annotated[Run, Depends(run_that(cap.Encodes))]
Sparse = Annotated[Run, Depends(run_that(cap.SparseDictionary))]
Denoiser = Annotated[Run, Depends(run_that(cap.Reconstructs))]
Tokenizer = Annotated[Run, Depends(run_that(cap.Tokenizes))]
Level = bounded(0, 1)


def without_images(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "images"}


@router.get("/api/runs/{run_id}/prefix", summary="An ordered code cut to its first k units: error and compression")
def prefix(request: Request, run: Encoder, index: Index = 0, k: Units = 1) -> dict[str, Any]:
    return without_images(panels.prefix_view(run.model, test_image(request, run, index), k))


@router.get("/api/runs/{run_id}/prefix.png", response_class=Response, responses=PNG,
            summary="The test image and its k-prefix reconstruction")
def prefix_png(request: Request, run: Encoder, index: Index = 0, k: Units = 1) -> Response:
    return png(panels.prefix_view(run.model, test_image(request, run, index), k)["images"], size=128)


@router.get("/api/runs/{run_id}/sparse", summary="The k largest activations of a sparse code: atoms and error")
def sparse(request: Request, run: Sparse, index: Index = 0, k: Units = 8) -> dict[str, Any]:
    return without_images(panels.sparse_view(run.model, test_image(request, run, index), k))


@router.get("/api/runs/{run_id}/sparse.png", response_class=Response, responses=PNG,
            summary="The test image, its top-k reconstruction, then its active atoms (largest first)")
def sparse_png(request: Request, run: Sparse, index: Index = 0, k: Units = 8) -> Response:
    return png(panels.sparse_view(run.model, test_image(request, run, index), k)["images"], size=64)


@router.get("/api/runs/{run_id}/denoise", summary="PSNR of the corrupted and the denoised test image")
def denoise(request: Request, run: Denoiser, index: Index = 0, kind: Corruption = "gaussian", level: Level = 0.3,
            seed: Seed = 0) -> dict[str, float]:
    return without_images(panels.denoised(run.model, test_image(request, run, index), kind, level, seed))


@router.get("/api/runs/{run_id}/denoise.png", response_class=Response, responses=PNG,
            summary="Clean, corrupted, denoised")
def denoise_png(request: Request, run: Denoiser, index: Index = 0, kind: Corruption = "gaussian", level: Level = 0.3,
                seed: Seed = 0) -> Response:
    return png(panels.denoised(run.model, test_image(request, run, index), kind, level, seed)["images"], size=128)


@router.get("/api/runs/{run_id}/codebook", summary="A VQ-VAE's codebook in 2-D (PCA) with its usage on test images")
def codebook(request: Request, run: Tokenizer) -> dict[str, Any]:
    return panels.codebook_view(run.model, image_data(request, run).test_x[:1000])


@router.get("/api/runs/{run_id}/tokens", summary="A test image's token map")
def tokens(request: Request, run: Tokenizer, index: Index = 0) -> dict[str, Any]:
    tokens = run.model.tokens(test_image(request, run, index))
    return {"tokens": tokens[0].tolist(), "grid": list(run.model.token_grid), "codebook_size": run.model.codebook_size}


@router.get("/api/runs/{run_id}/swap.png", response_class=Response, responses=PNG,
            summary="The image decoded from its tokens with the token at one position swapped")
def swap(request: Request, run: Tokenizer, index: Index = 0, position: Dimension = 0,
         code: Annotated[int, Query(ge=0, le=100_000)] = 0) -> Response:
    return png(panels.swapped(run.model, test_image(request, run, index), position, code), size=128)


@router.get("/api/runs/{run_id}/mask.png", response_class=Response, responses=PNG,
            summary="A masked autoencoder at a mask ratio: the visible patches, then the hidden ones filled in")
def mask(request: Request, run: Annotated[Run, Depends(run_that(cap.FillsPatches))], index: Index = 0,
         ratio: bounded(0, 0.95) = 0.75, seed: Seed = 0) -> Response:
    return png(panels.masked(run.model, test_image(request, run, index), ratio, seed), size=128)
