"""What a GAN's discriminator says, the game seen from its side: its mean output on test images and on fakes
after each epoch (from the run's metrics), and its probability of "real" for given test images and for as many
of the generator's samples."""

from __future__ import annotations

import torch


def duel(metrics: list[dict]) -> dict[str, list[float]]:
    """D(x) on test images and D(G(z)) on fakes, epoch by epoch, from a GAN run's metrics.jsonl rows."""
    rows = [m for m in metrics if "test/D(x)" in m]
    return {"epoch": [m["epoch"] for m in rows], "d_real": [m["test/D(x)"] for m in rows],
            "d_fake": [m["test/D(G(z))"] for m in rows]}


@torch.no_grad()
def judged(model, real: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """`real` images and as many fresh samples, each with the discriminator's probability that it is real."""
    fake = model.to_data_space(model.map_noise(model.noise(len(real), generator)))
    return {"real": real, "fake": fake, "real_scores": model.discriminate(real),
            "fake_scores": model.discriminate(fake)}
