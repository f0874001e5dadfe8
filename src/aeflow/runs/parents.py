"""Runs made from other runs: a latent generator trains on a frozen autoencoder's codes, a reflowed flow
on its teacher's (noise, sample) pairs. When the child is trained this layer resolves the parent folder,
embeds what the child needs to stand alone (the parent's family and model config), records the parent's
path and weights digest as provenance, and prepares the derived training data, which the run folder keeps
(training-data.safetensors) so that a resume reuses it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from aeflow.config import RunConfig
from aeflow.data import Dataset
from aeflow.errors import ConfigError
from aeflow.files import atomic_save, read_tensors, with_prefix
from aeflow.models import FlowMatching, LatentGenerator
from aeflow.runs.folder import load, load_config, weights_digest
from aeflow.samplers import choose_sampler, generate_endpoints

DERIVED_DATA = "training-data.safetensors"


def embed_parents(config: RunConfig) -> None:
    """Write the parent's spec into a latent generator's config (in place); other configs are left alone."""
    if config.model != "latent-flow" or config.model_config.get("autoencoder"):
        return
    parent = config.model_config.get("autoencoder_run")
    if not parent:
        return  # the model's own validation names the missing option
    parent_config = load_config(parent)
    config.model_config["autoencoder"] = {"model": parent_config.model, "model_config": parent_config.model_config,
                                          "weights": weights_digest(parent)}


def derived_batches(model, data: Dataset, out: Path, progress: bool = True):
    """(train, test) batches of the model's own training data, or None when it trains on the dataset.
    Made once and kept in the run folder with the model's buffers it set."""
    if not isinstance(model, (LatentGenerator, FlowMatching)) or (
            isinstance(model, FlowMatching) and not model.config.reflow_from):
        return None
    path = out / DERIVED_DATA
    if path.exists():  # the model as it was when the data were made; a checkpoint, if any, replaces it after
        tensors, _ = read_tensors(path)
        model.load_state_dict(with_prefix(tensors, "model."), strict=False)
        return saved_batches(out)
    if isinstance(model, LatentGenerator):
        batches = _latent_codes(model, data)
    else:
        batches = _reflow_pairs(model, data, progress)
    atomic_save({**{f"{split}.{k}": v for split, b in zip(("train", "test"), batches) for k, v in b.items()},
                 **{f"model.{k}": v for k, v in model.state_dict().items()}}, path)
    return batches


def saved_batches(out: Path) -> tuple[dict, dict]:
    """The (train, test) batches kept in a run folder's training-data.safetensors."""
    tensors, _ = read_tensors(Path(out) / DERIVED_DATA)
    return tuple(with_prefix(tensors, f"{split}.") for split in ("train", "test"))


def _latent_codes(model: LatentGenerator, data: Dataset):
    """The frozen parent's weights copied in, the dataset encoded and standardised by the training codes."""
    parent = load(model.config.autoencoder_run)
    model.autoencoder.load_state_dict(parent.state_dict())
    train_codes, test_codes = model.encode_images(data.train_x), model.encode_images(data.test_x)
    model.fit_standardisation(train_codes)
    return {"x": model.standardise(train_codes)}, {"x": model.standardise(test_codes)}


def _reflow_pairs(student: FlowMatching, data: Dataset, progress: bool):
    """The student starts from the teacher's weights and trains on its (noise, sample) pairs: `reflow_pairs`
    for training (seed 0), up to 1,000 for testing (seed 1), drawn with the teacher's `reflow_sampler`."""
    teacher = load(student.config.reflow_from)
    if not isinstance(teacher, FlowMatching):
        raise ConfigError(f"reflow_from={student.config.reflow_from} is a {teacher.registry_name} run, not a flow")
    try:
        student.network.load_state_dict(teacher.network.state_dict())
    except RuntimeError:
        raise ConfigError("reflow: the student's network must match the teacher's; "
                          f"use the same network options as {student.config.reflow_from}") from None
    choice = choose_sampler(teacher, student.config.reflow_sampler, {"steps": student.config.reflow_steps})

    def pairs(n: int, seed: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        label = f"reflow pairs ({choice.name})" if progress else ""
        noise, x1, _ = generate_endpoints(teacher, n, choice, generator, progress=label)
        return {"x": teacher.to_data_space(x1, clamp=False), "noise": noise}  # data space, unclamped

    return pairs(student.config.reflow_pairs, seed=0), pairs(min(len(data.test_x), 1000), seed=1)
