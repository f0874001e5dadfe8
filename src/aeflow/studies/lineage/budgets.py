"""How much work each chapter of the lineage does, per budget and dataset. "cpu" is sized for a 2-core CPU
(digits in under 10 minutes with 3 seeds of the cheap chapters, MNIST within the hour), "gpu" runs
docs/benchmarks.md's full recipes, "test" is seconds of work for the test suite. `seconds` are the expected
wall times per chapter (per seed) on that machine, for the progress line's estimate of the time left
(rescaled by the chapters already done)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from aeflow.errors import ConfigError

BUDGETS = ("cpu", "gpu", "test")


@dataclass(frozen=True)
class Budget:
    name: str
    n_eval: int                       # samples scored per generator (and test images they are scored against)
    ae_epochs: int | None             # the compression chapter's autoencoder (None: the reproduction's recipe)
    kernel_subset: int | None
    byhand_epochs: int
    plane_epochs: int                 # the 2-D autoencoder and VAE
    vae_epochs: int
    betas: tuple[float, ...]
    collapse_beta: float
    unet: tuple[int, ...]
    onestep_epochs: int
    gen_epochs: int                   # DDPM and flow (the same network and budget)
    ddpm_timesteps: int
    ddim_steps: tuple[int, ...]
    flow_steps: dict[str, tuple[int, ...]]
    reflow_pairs: int
    reflow_epochs: int
    gan_epochs: int
    latent_epochs: int                # the latent flow and DDPM (MLPs over the compression autoencoder's codes)
    latent_hidden: tuple[int, ...]
    shaping_epochs: int               # the regularised autoencoders (plain, denoising, contractive, ordered, ...)
    swissroll_epochs: int
    batch_size: int = 64
    seeds: int = 1                    # seeds of every cheap chapter (a claim's verdict counts them; claims.py)
    ddpm_schedule: str = "linear"     # Ho et al.'s, for T = 1000; cosine for a short T (the test budget's 20)
    ancestral_steps: int | None = None   # DDPM's ancestral sampler respaced to this many of its T steps (DDIM with
    #                                      eta = 1: the same posterior noise, Nichol & Dhariwal 2021); None: all T
    onestep_images: int | None = None   # the one-step model on the first N training images only: its optimum is the
    #                                     mean image, which a quarter of MNIST gives as well as all of it (None: all)
    train_subset: int | None = None   # train on the first N training images only (the test budget)
    seconds: dict[str, float] = field(default_factory=dict)


FLOW_STEPS = {"euler": (2, 4, 10, 20), "midpoint": (1, 2, 5, 10), "heun": (2, 5, 10)}

# Sized for under 10 minutes on 2 cores with three seeds of the cheap chapters: fewer epochs where more changed
# no verdict, DDPM's ancestral sampler respaced to 250 of its 1,000 steps; `seconds` are each chapter's measured
# cost (docs/lineage.md), used to plan lanes and to say the time left.
_CPU_DIGITS = Budget(
    name="cpu", n_eval=360, ae_epochs=50, kernel_subset=None, byhand_epochs=30, plane_epochs=30, vae_epochs=40,
    betas=(0.5, 1.0, 4.0), collapse_beta=20.0, unet=(32, 64), onestep_epochs=3, gen_epochs=20,
    ddpm_timesteps=1000, ancestral_steps=250, ddim_steps=(10, 20, 50), flow_steps=FLOW_STEPS, reflow_pairs=2000,
    reflow_epochs=12, gan_epochs=60, latent_epochs=300, latent_hidden=(512, 512, 512), seeds=3, shaping_epochs=10,
    swissroll_epochs=60,
    seconds={"compression": 6, "byhand": 2, "code-space": 7, "density": 1, "vae": 40, "regularised": 28,
             "swiss-roll": 7, "one-step": 8, "ddpm": 85, "flow": 55, "reflow": 50, "gan": 36, "latent": 120})

# MNIST and Fashion-MNIST on 2 cores, within the hour: a 28x28 UNet samples about as fast as it trains, so
# sampling is priced like training: N = 2,000 per generator, DDPM's ancestral sampler respaced to 100 of its 1,000
# steps, DDIM at 10, the one-step model on 15,000 images (its optimum is the mean image). The epochs are spent
# where a verdict was decided by under-training (the UNets, the GAN's coverage, the VAE's prior): docs/lineage.md
# gives what each chapter cost at fewer epochs and what the more buy. `seconds` are each chapter's expected cost.
_CPU_28 = Budget(
    name="cpu", n_eval=2000, ae_epochs=10, kernel_subset=5000, byhand_epochs=0, plane_epochs=5, vae_epochs=15,
    betas=(0.5, 1.0, 4.0), collapse_beta=20.0, unet=(16, 32), onestep_epochs=1, gen_epochs=6,
    ddpm_timesteps=1000, ancestral_steps=100, ddim_steps=(10,),
    flow_steps={"euler": (4, 20), "midpoint": (2, 10), "heun": (10,)},
    onestep_images=15_000, reflow_pairs=3000, reflow_epochs=12, gan_epochs=8, latent_epochs=30,
    latent_hidden=(512, 512, 512),
    shaping_epochs=2, swissroll_epochs=300,
    batch_size=128,
    seconds={"compression": 275, "byhand": 0, "code-space": 55, "density": 19, "vae": 450, "one-step": 79,
             "ddpm": 1170, "flow": 1110, "reflow": 225, "gan": 620, "latent": 540, "regularised": 270,
             "swiss-roll": 7})

_GPU = Budget(
    name="gpu", n_eval=10_000, ae_epochs=None, kernel_subset=None, byhand_epochs=100, plane_epochs=50,
    vae_epochs=50, betas=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0), collapse_beta=20.0, unet=(32, 64, 64), onestep_epochs=5,
    gen_epochs=20, ddpm_timesteps=1000, ddim_steps=(10, 20, 50, 100), flow_steps=FLOW_STEPS, reflow_pairs=40_000,
    reflow_epochs=12, gan_epochs=20, latent_epochs=50, latent_hidden=(512, 512, 512), batch_size=128, seeds=3,
    shaping_epochs=20, swissroll_epochs=300,
    seconds={})

_TEST = Budget(
    name="test", n_eval=100, ae_epochs=2, kernel_subset=200, byhand_epochs=2, plane_epochs=2, vae_epochs=2,
    betas=(1.0, 4.0), collapse_beta=20.0, unet=(8, 16), onestep_epochs=1, gen_epochs=1, ddpm_timesteps=20,
    ddim_steps=(2,), flow_steps={"euler": (2,), "midpoint": (1,), "heun": (2,)}, reflow_pairs=64, reflow_epochs=1,
    gan_epochs=1, latent_epochs=1, latent_hidden=(16,), train_subset=300, ddpm_schedule="cosine", seeds=2,
    ancestral_steps=10, onestep_images=200,
    shaping_epochs=1, swissroll_epochs=2,
    seconds={})


def budget_for(name: str, dataset: str) -> Budget:
    if name not in BUDGETS:
        raise ConfigError(f"unknown budget {name!r}; choose one of {', '.join(BUDGETS)}")
    if name == "test":   # 28x28 recipes train in batches of up to 512: a larger subset
        return _TEST if dataset == "digits" else replace(_TEST, train_subset=1024)
    if name == "gpu":
        return _GPU if dataset != "digits" else replace(_GPU, n_eval=360, unet=(32, 64), gen_epochs=50,
                                                        gan_epochs=300, reflow_pairs=10_000, reflow_epochs=50)
    return _CPU_DIGITS if dataset == "digits" else _CPU_28
