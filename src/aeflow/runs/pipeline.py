"""The pipeline primitive every study is built from: `ensure(config, out)` trains a run only if it is not
finished. Finished (summary.json written after the weights): reuse it. Started (config.yaml, no summary):
resume it from its checkpoint. Absent: train it. A study is then a list of `ensure` calls, safe to
interrupt anywhere and run again. What is reused is first checked to be what was asked for (`run_identity`):
a folder holding another run is refused, or replaced when `rerun` says so.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from aeflow.config import RunConfig, checked, to_dict
from aeflow.data import SHAPES, Dataset
from aeflow.errors import Mismatch
from aeflow.files import remove_made
from aeflow.models.registry import model_config
from aeflow.runs.folder import CONFIG, SUMMARY, WEIGHTS, load_config, own_folder
from aeflow.runs.parents import embed_parents
from aeflow.runs.train import started, train

# Where the data are found and how progress is shown do not change what is trained.
NOT_IDENTITY = {"data": ("data_dir", "download"), "train": ("progress", "device", "eval_batch_size")}


def run_state(out: str | Path) -> str:
    """"finished", "started" or "absent"."""
    out = Path(out)
    if (out / SUMMARY).exists() and (out / WEIGHTS).exists():
        return "finished"
    return "started" if (out / CONFIG).exists() else "absent"


def run_identity(config: RunConfig) -> dict[str, Any]:
    """What decides the trained result: the family and its full config (defaults filled in, a parent's spec
    and weights digest embedded, as config.yaml keeps them), the dataset and its subset, the training recipe."""
    config = copy.deepcopy(config)
    embed_parents(config)
    fields = to_dict(model_config(config.model, config.model_config, SHAPES[config.data.name]))
    if fields.get("autoencoder"):   # the embedded spec and weights digest are the parent; its path is provenance
        fields.pop("autoencoder_run", None)
    identity = {"model": config.model, "model_config": fields, **{k: to_dict(getattr(config, k)) for k in NOT_IDENTITY}}
    for section, keys in NOT_IDENTITY.items():
        for key in keys:
            identity[section].pop(key)
    return identity


def check_same_run(out: Path, config: RunConfig, how: str = "--rerun") -> None:
    """Refuse, in one line naming what differs, a run folder whose run is not the one `config` asks for."""
    there, asked = _flat(run_identity(load_config(out))), _flat(run_identity(config))
    order = ("model", "model_config", "data", "train")   # what differs first: the family, then its fields
    differ = sorted((k for k in set(there) | set(asked) if there.get(k) != asked.get(k)),
                    key=lambda k: (order.index(k.split(".")[0]), k))
    if differ:
        shown = "; ".join(f"{k} {there.get(k, '(none)')!r} there, {asked.get(k, '(none)')!r} asked" for k in differ[:3])
        more = f" (and {len(differ) - 3} more)" if len(differ) > 3 else ""
        raise Mismatch(f"{out} holds another run ({shown}{more}); choose another folder, or {how} to replace it")


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    return {prefix[:-1]: value}


@checked
def ensure(config: RunConfig, out: str | Path, dataset: Dataset | None = None, rerun: bool = False) -> Path:
    """The run folder `out` holding `config` trained to the end, doing only the work still missing. A folder
    holding another run is refused; `rerun=True` replaces it (its run's files; nothing else is touched)."""
    out = Path(out)
    state = run_state(out)
    if state != "absent" and started(out):
        own_folder(out, "run")   # only aeflow's own runs are compared, reused or replaced
        try:
            check_same_run(out, config, "pass rerun=True (the CLI's --rerun)")
        except Mismatch:
            if not rerun:
                raise
            clear_run(out)
            state = "absent"
    if state == "finished":
        return out
    return train(config, out, resume=state == "started" and started(out), dataset=dataset)


# The files and folders aeflow writes into a run folder (the families' figures are PNGs): what a rerun removes,
# of them only what aeflow made (files.MADE); the names in RUN_NAMES are aeflow's alone, and removed in a run
# folder from before that list.
RUN_NAMES = ("config.yaml", "model.safetensors", "checkpoint.safetensors", "metrics.jsonl", "summary.json",
             "eval.md", "training-data.safetensors")
RUN_FILES = (*RUN_NAMES, "prior-*", "samples-*.npy", "*.png", "latent.json")
RUN_FOLDERS = ("samples", "snapshots", "latent", "steps-sweep*")


def clear_run(out: Path) -> None:
    """Remove a run's files from its folder (aeflow's marker and lock stay; a file of anyone else's too)."""
    remove_made([path for pattern in (*RUN_FILES, *RUN_FOLDERS) for path in out.glob(pattern)], RUN_NAMES)
