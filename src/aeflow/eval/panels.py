"""What the explorer's panels show, computed: each function takes a model and test images and returns tensors
(images in [0, 1]) and numbers. A request that does not fit the model (a dimension past its code, a k past its
units) is refused with a ConfigError naming the bound. Nothing here knows about HTTP or files."""

from __future__ import annotations

from typing import Any

import torch

from aeflow.config import require
from aeflow.diffusion.corruption import corrupt, keep_prefix, psnr, random_mask


def codes_of(model, x: torch.Tensor) -> torch.Tensor:
    """The flattened codes of images."""
    with torch.no_grad():
        return model.encode(x).flatten(1)


def vector(name: str, values: list[float], length: int) -> torch.Tensor:
    """A code given as numbers, one per code dimension."""
    require(len(values) == length, f"{name} needs {length} numbers (the code size), got {len(values)}")
    return torch.tensor([values])


@torch.no_grad()
def perturbed(model, x: torch.Tensor, scale: float, zero: int, seed: int) -> torch.Tensor:
    """The image, its reconstruction, and the decoded code with N(0, scale^2) noise added and its last `zero`
    dimensions set to 0."""
    z = codes_of(model, x)
    require(zero <= z.shape[1], f"zero must be <= {z.shape[1]} (the code size)")
    noisy = z + scale * torch.randn(z.shape, generator=torch.Generator().manual_seed(seed))
    if zero:
        noisy[:, -zero:] = 0
    return torch.cat([x, model.decode(z), model.decode(noisy)])


@torch.no_grad()
def traversed(model, x: torch.Tensor, reference: torch.Tensor, dim: int, span: float, steps: int) -> torch.Tensor:
    """One code dimension of `x`'s code swept over +-span standard deviations of the reference codes (test
    images), the other dimensions held, decoded."""
    codes = codes_of(model, reference)
    require(dim < codes.shape[1], f"dim must be < {codes.shape[1]}")
    z = codes_of(model, x).repeat(steps, 1)
    z[:, dim] = codes[:, dim].mean() + torch.linspace(-span, span, steps) * codes[:, dim].std()
    return model.decode(z)


@torch.no_grad()
def posterior_view(model, x: torch.Tensor, dims: list[int], code_dim: int) -> dict[str, Any]:
    """q(z|x)'s means and standard deviations of images in two chosen dimensions."""
    require(max(dims) < code_dim, f"dims must be < {code_dim}")
    mu, logvar = model.posterior(x)
    return {"mu": mu[:, dims].tolist(), "sigma": (0.5 * logvar[:, dims]).exp().tolist()}


@torch.no_grad()
def reparameterised(model, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The image, then z = mu + sigma * eps (its posterior) and z = eps (the prior), decoded."""
    mu, logvar = model.posterior(x)
    return torch.cat([x, model.decode(torch.cat([mu + (0.5 * logvar).exp() * eps, eps]))])


@torch.no_grad()
def prefix_view(model, x: torch.Tensor, k: int) -> dict[str, Any]:
    """An ordered code cut to its first k units: its reconstruction, squared error and compression."""
    z = codes_of(model, x)
    require(k <= z.shape[1], f"k must be <= {z.shape[1]} (the code size)")
    decoded = model.decode(keep_prefix(z, k))
    return {"k": k, "code_dim": int(z.shape[1]), "error": float((decoded - x).pow(2).sum()),
            "compression": x[0].numel() / k, "images": torch.cat([x, decoded])}


@torch.no_grad()
def sparse_view(model, x: torch.Tensor, k: int, atoms_shown: int = 14) -> dict[str, Any]:
    """A sparse code's k largest activations (largest first), its error, and the image, its top-k
    reconstruction and its active atoms (each scaled to [0, 1])."""
    dictionary = model.unit_dictionary()
    require(k <= dictionary.shape[1], f"k must be <= {dictionary.shape[1]}")
    z = model.encode(x, k)
    active = z[0].nonzero().flatten()
    order = active[z[0, active].argsort(descending=True)]
    decoded = model.decode(z)
    atoms = dictionary.T.reshape(-1, *x.shape[1:])[order[:atoms_shown]]
    low, high = atoms.amin((1, 2, 3), keepdim=True), atoms.amax((1, 2, 3), keepdim=True)
    atoms = (atoms - low) / (high - low).clamp_min(1e-8)
    return {"k": k, "active": order.tolist(), "values": z[0, order].tolist(),
            "error": float((decoded - x).pow(2).sum()), "code_dim": int(z.shape[1]),
            "images": torch.cat([x, decoded, atoms])}


@torch.no_grad()
def denoised(model, x: torch.Tensor, kind: str, level: float, seed: int) -> dict[str, Any]:
    """Clean, corrupted and restored images, and the PSNR of the corrupted and the restored one."""
    noisy = corrupt(x, kind, level, torch.Generator().manual_seed(seed))
    clean = model.reconstruct(noisy).clamp(0, 1)
    return {"psnr_corrupted": psnr(noisy, x), "psnr_denoised": psnr(clean, x), "images": torch.cat([x, noisy, clean])}


@torch.no_grad()
def codebook_view(model, x: torch.Tensor) -> dict[str, Any]:
    """A VQ-VAE's codebook projected on its first two principal axes, and each entry's share of the tokens of
    images `x`."""
    book = model.codebook.detach()
    centred = book - book.mean(0)
    points = centred @ torch.linalg.svd(centred, full_matrices=False)[2][:2].T
    usage = torch.bincount(model.tokens(x).flatten(), minlength=model.codebook_size).float()
    return {"points": points.tolist(), "usage": (usage / usage.sum()).tolist(), "grid": list(model.token_grid)}


@torch.no_grad()
def swapped(model, x: torch.Tensor, position: int, code: int) -> torch.Tensor:
    """The image, its tokens decoded, and its tokens decoded with the one at `position` replaced by `code`."""
    tokens = model.tokens(x)
    require(position < tokens.shape[1] and code < model.codebook_size,
            f"position must be < {tokens.shape[1]} and code < {model.codebook_size}")
    changed = tokens.clone()
    changed[0, position] = code
    return torch.cat([x, model.decode_tokens(tokens), model.decode_tokens(changed)])


@torch.no_grad()
def masked(model, x: torch.Tensor, ratio: float, seed: int) -> torch.Tensor:
    """A masked autoencoder at a mask ratio: the image, its visible patches (hidden ones grey), the hidden ones
    filled in."""
    hidden = random_mask(1, model.n_patches, ratio, torch.Generator().manual_seed(seed))
    patches = model.patchify(x)
    shown = model.unpatchify(torch.where(hidden[..., None], torch.full_like(patches, 0.5), patches))
    return torch.cat([x, shown, model.fill_in(x, hidden)])


@torch.no_grad()
def latent_stages(model, noise: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
    """A latent generator's stages as images: its noise code and the code its sampler made from it (as strips of
    grey levels, a column per dimension), then that code decoded."""
    side = model.input_shape[-1]
    return torch.cat([code_strip(noise, side), code_strip(latent, side), model.to_data_space(latent)])


def code_strip(v: torch.Tensor, side: int) -> torch.Tensor:
    """A code as a (1, 1, side, side) image: each dimension a column of grey, -3 black to 3 white."""
    level = ((v.clamp(-3, 3) + 3) / 6).repeat_interleave(max(1, side // v.shape[1]), 1)[:, :side]
    return torch.nn.functional.pad(level, (0, side - level.shape[1]), value=1.0).expand(side, side)[None, None]
