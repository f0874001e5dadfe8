"""What measuring a run's samples leaves in its folder, written here alone: each sampler setting's row in the
run's steps sweep (RUN/steps-sweep*/steps_sweep.json, which `aeflow sweep steps` and the lineage both add to and
the explorer draws) and the scores of the run's own samples in summary.json (where `aeflow eval` keeps them)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from aeflow.config import to_dict
from aeflow.errors import DataError
from aeflow.eval.rows import GeneratorRow
from aeflow.files import read_json, write_json
from aeflow.runs.folder import weights_digest, write_summary, writing_run
from aeflow.samplers import SAMPLERS


def record_measurement(run: Path, row: GeneratorRow, scores: dict[str, Any], own: bool, measured_by: str) -> None:
    """`row` (drawn from `run`'s weights) as a point of its steps sweep where a sampler drew it, and, where the
    draw was the run's own samples (`own`), its `scores` in summary.json."""
    with writing_run(run):
        if row.sampler is not None:
            weights = weights_digest(run)
            folder = sweep_steps_folder(run, {k: v for k, v in row.options.items() if k != "steps"})
            merged_sweep_rows(folder / "steps_sweep.json",
                              [{**to_dict(row), "steps": row.options.get("steps"), "weights": weights}], weights)
        if own:
            write_summary(run, {"samples": {**scores, "label": row.label, "nfe": row.nfe, "measured_by": measured_by}})


def sweep_steps_folder(run_dir: str | Path, options: dict[str, Any] | None = None) -> Path:
    """RUN_DIR/steps-sweep, with -shiftS, -churnC... for the samplers' options other than steps."""
    return Path(run_dir) / ("steps-sweep" + sampler_options_label(given_options(options)))


def merged_sweep_rows(path: Path, rows: list[dict[str, Any]], weights: str) -> list[dict[str, Any]]:
    """Write `rows` into the sweep file at `path`, keeping its earlier rows of the same `weights` (see
    `weights_digest`) except the settings measured again, so that sweeps of one run accumulate (one sampler
    today, another tomorrow) and rows of weights trained further are dropped as stale; the rows written."""
    def setting(r: dict[str, Any]) -> tuple:
        return r["sampler"], r["steps"], r["n"], r.get("seed", 0)

    again = {setting(r) for r in rows}
    saved = read_json(path) if path.exists() else []
    if not isinstance(saved, list) or not all(isinstance(r, dict) and {"sampler", "steps", "n"} <= set(r)
                                              for r in saved):
        raise DataError(f"{path} is not a list of sweep rows; it is damaged: delete it and run the sweep again")
    earlier = [r for r in saved if setting(r) not in again and r.get("weights") == weights]
    write_json(path, earlier + rows)
    return earlier + rows


def given_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """The sampler options that were given (not None) and differ from the defaults."""
    return {k: v for k, v in (options or {}).items() if v is not None and not _is_default(k, v)}


def _is_default(option: str, value: Any) -> bool:
    """True when every sampler with this option has `value` as its default (shift 1, churn 0...)."""
    defaults = [getattr(cls.Options(), option) for cls in SAMPLERS.values()
                if option in {f.name for f in dataclasses.fields(cls.Options)}]
    return bool(defaults) and all(d == value for d in defaults)


def sampler_options_label(options: dict[str, Any]) -> str:
    """"-shift3-churn8" for the sampler options of a sweep (besides steps), "" for none."""
    return "".join(f"-{name}{value:g}" for name, value in options.items())
