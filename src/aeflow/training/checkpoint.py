"""Atomic checkpoints as safetensors: tensors in the file, everything else as JSON in its header.

No pickle: optimiser state is flattened to named tensors plus JSON-able hyperparameters, RNG states
are stored as uint8 tensors. Writes go to a temp file that is renamed over the old one, so a crash
mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from aeflow.errors import DataError
from aeflow.files import atomic_save, read_tensors, with_prefix

CHECKPOINT_NAME = "checkpoint.safetensors"


def save_weights(model: torch.nn.Module, path: Path) -> None:
    atomic_save(model.state_dict(), path)


def load_weights(model: torch.nn.Module, path: Path, prefix: str = "") -> None:
    """Load weights saved by `save_weights` (or, with prefix "model.", a checkpoint's)."""
    tensors = with_prefix(read_tensors(path)[0], prefix)
    _check_weights(model, tensors, path)
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise DataError(f"{path} does not match the model in config.yaml: {str(e).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise DataError(f"{path} does not match the model in config.yaml: missing {sorted(missing)[:5]}, "
                        f"unexpected {sorted(unexpected)[:5]}")


def check_weights_header(model: torch.nn.Module, path: Path) -> None:
    """The weights file's names and shapes against the model's, from its header alone (no tensor is read): a
    cheap check that a file can load, before it is loaded (dtypes and values are checked then)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            shapes = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}   # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as e:
        raise DataError(f"cannot read {path} as safetensors ({e}); the file is missing or corrupt") from None
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    if shapes != expected:
        wrong = sorted(k for k in set(shapes) | set(expected) if shapes.get(k) != expected.get(k))
        raise DataError(f"{path} does not match the model in config.yaml: {wrong[:5]} differ")


def _check_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """What load_state_dict lets through: it casts other dtypes silently and takes NaNs."""
    expected = model.state_dict()
    for name, tensor in tensors.items():
        if name in expected and tensor.dtype != expected[name].dtype:
            raise DataError(f"{path}: {name} is {tensor.dtype}, the model's is {expected[name].dtype}; the file was "
                            "not written by aeflow for this model")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise DataError(f"{path}: {name} holds NaN or infinite values; the weights are damaged (retrain, or "
                            "resume from an earlier copy)")


def save_checkpoint(path: Path, model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                    rng: dict[str, torch.Tensor], state: dict[str, Any],
                    ema: dict[str, torch.Tensor] | None = None) -> None:
    """Model weights, optimiser moments (one optimiser per training phase; "" when there is one), RNG
    states, the weight average and the loop's position (`state`, JSON)."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta = {"state": json.dumps(state)}
    for name, optimizer in optimizers.items():
        prefix = _optim_prefix(name)
        opt = optimizer.state_dict()
        for idx, param_state in opt["state"].items():
            for key, value in param_state.items():
                tensors[f"{prefix}{idx}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
        meta[_groups_key(name)] = json.dumps(opt["param_groups"])
    tensors.update({f"rng.{k}": v for k, v in rng.items()})
    tensors.update({f"ema.{k}": v for k, v in (ema or {}).items()})
    atomic_save(tensors, path, meta)


# The loop's position, as `save_checkpoint` writes it: each key and the type it must have.
STATE_TYPES = {"epoch": int, "batch_index": int, "train_time": (int, float), "epoch_sums": dict}


def _state_problem(state: Any, rng: dict[str, torch.Tensor]) -> str | None:
    if not isinstance(state, dict):
        return "its loop state is not a mapping"
    wrong = [k for k, kind in STATE_TYPES.items() if not isinstance(state.get(k), kind) or isinstance(state[k], bool)]
    wrong += [k for k in ("epochs", "steps_per_epoch", "world_size")   # newer keys: checked where present
              if k in state and (not isinstance(state[k], int) or isinstance(state[k], bool))]
    if wrong:
        return f"its loop state lacks or garbles {', '.join(wrong)}"
    if state["epoch"] < 0 or state["batch_index"] < 0:
        return "its loop position is negative"
    if state["epoch"] > state.get("epochs", state["epoch"]) or state["batch_index"] > state.get("steps_per_epoch",
                                                                                               state["batch_index"]):
        return "its loop position is past the run's end"
    if not all(isinstance(v, (int, float)) for v in state["epoch_sums"].values()):
        return "its running loss sums are not numbers"
    if state.get("world_size", 1) < 1:
        return "its number of processes is not positive"
    names = ["torch", "cuda"] if "cuda" in rng else ["torch"]   # each process's states; rank 0's under the plain name
    ranks = range(state.get("world_size", 1))
    expected = {"shuffle"} | {name + (f".rank{r}" if r else "") for name in names for r in ranks}
    if set(rng) != expected or any(v.dtype != torch.uint8 for v in rng.values()):
        return "its random number generator states are missing or not byte tensors"
    return None


def _optim_prefix(name: str) -> str:
    return f"optim.{name}." if name else "optim."


def _groups_key(name: str) -> str:
    return f"param_groups.{name}" if name else "param_groups"


def load_checkpoint(path: Path, model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                    ema: dict[str, torch.Tensor] | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Restore model, optimisers and weight average in place; return (rng states, loop state)."""
    tensors, meta = read_tensors(path)
    if "state" not in meta:
        raise DataError(f"{path} is not an aeflow training checkpoint (no loop state in its header)")
    weights = with_prefix(tensors, "model.")
    _check_weights(model, weights, path)
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:   # another family or size than config.yaml describes
        raise DataError(f"{path} does not match the model in config.yaml ({str(e).splitlines()[0].strip()}); "
                        "it belongs to another run: start a new run with another --out") from None
    damaged = f"{path}: the checkpoint is damaged or was written by another kind of run"
    try:
        for name, optimizer in optimizers.items():
            groups = meta.get(_groups_key(name))
            if groups is None:
                raise DataError(f"{path} has no optimiser state for {name or 'the model'}; it was written by another "
                                "kind of run. Start a new run instead of --resume")
            opt_state: dict[int, dict[str, torch.Tensor]] = {}
            for key, value in with_prefix(tensors, _optim_prefix(name)).items():
                idx, field = key.split(".", 1)
                if idx.isdigit():
                    opt_state.setdefault(int(idx), {})[field] = value
            optimizer.load_state_dict({"state": opt_state, "param_groups": json.loads(groups)})
        saved = with_prefix(tensors, "ema.") if ema is not None else {}
        if saved and set(saved) != set(ema):
            raise DataError(f"{damaged} (its weight average has other tensors than the model)")
        for k, v in saved.items():
            ema[k].copy_(v)
        state = json.loads(meta["state"])
    except (ValueError, KeyError, TypeError, RuntimeError) as e:   # what the optimiser or JSON make of bad state
        raise DataError(f"{damaged} ({type(e).__name__}: {' '.join(str(e).split())[:100]}). Start a new run") from None
    rng = with_prefix(tensors, "rng.")
    problem = _state_problem(state, rng)
    if problem:
        raise DataError(f"{damaged}: {problem}. Start a new run")
    return rng, state
