"""Adapters from the field's libraries to aeflow's capability protocols (`aeflow.protocols`), so that aeflow's
samplers, code priors, metrics and `aeflow.check_model` run on a model another library trained: a pythae
autoencoder or VAE, a torchcfm velocity network, a diffusers UNet2DModel with its DDPMScheduler. Each module
also trains its library's model with that library's documented recipe, for `aeflow peers`.

The only package that imports pythae, torchcfm or diffusers (an import-linter contract); they are the `peers`
extra, installed without their own dependencies so that the torch already installed stays (README).
"""

from __future__ import annotations

import importlib
import importlib.util

from aeflow.errors import AeflowError

LIBRARIES = ("pythae", "torchcfm", "diffusers")


class PeerMissing(AeflowError):
    exit_code = 3


INSTALL = ("pip install --no-deps pythae==0.1.2 torchcfm==1.0.7 diffusers==0.42.1 && pip install 'aeflow[peers]' "
           "(README, Peers)")


def require_library(name: str) -> None:
    """Refuse in one line, naming the install, when a peer library is not installed, or is installed without
    the small packages it needs (the `peers` extra: they were installed with --no-deps)."""
    if importlib.util.find_spec(name) is None:
        raise PeerMissing(f"{name} is not installed; install the peers: {INSTALL}")
    try:
        importlib.import_module(f"aeflow.peers.{name}_models")   # the adapter: the library's modules it uses
    except ModuleNotFoundError as e:
        raise PeerMissing(f"{name} is installed without {e.name or 'a package it needs'}, which the peers extra "
                          "holds: pip install 'aeflow[peers]'") from None
