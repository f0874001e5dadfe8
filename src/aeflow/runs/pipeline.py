"""The pipeline primitive every study is built from: `ensure(config, out)` trains a run only if it is not
finished. Finished (summary.json written after the weights): reuse it. Started (config.yaml, no summary):
resume it from its checkpoint. Absent: train it. A study is then a list of `ensure` calls, safe to
interrupt anywhere and run again.
"""

from __future__ import annotations

from pathlib import Path

from aeflow.config import RunConfig, checked
from aeflow.data import Dataset
from aeflow.runs.folder import CONFIG, SUMMARY, WEIGHTS
from aeflow.runs.train import train


def run_state(out: str | Path) -> str:
    """"finished", "started" or "absent"."""
    out = Path(out)
    if (out / SUMMARY).exists() and (out / WEIGHTS).exists():
        return "finished"
    return "started" if (out / CONFIG).exists() else "absent"


@checked
def ensure(config: RunConfig, out: str | Path, dataset: Dataset | None = None) -> Path:
    """The run folder `out` holding `config` trained to the end, doing only the work still missing."""
    state = run_state(out)
    if state == "finished":
        return Path(out)
    return train(config, out, resume=state == "started", dataset=dataset)
