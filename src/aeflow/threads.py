"""One thread policy for every aeflow process (training, sampling, the lineage, the explorer's server), set by
the command line before torch loads. torch's default, one spinning OpenMP thread per core, collapses when
another job shares the cores (docs/benchmarks.md, "Sharing the cores": `benchmarks/shared_cores.py`).

AEFLOW_THREADS=N sets N threads; AEFLOW_THREADS=torch leaves torch's default; unset (or auto): the policy
below. A user's own OMP_NUM_THREADS is kept when AEFLOW_THREADS is not given.
"""

from __future__ import annotations

import os
import sys

from aeflow.errors import ConfigError

ENV = "AEFLOW_THREADS"


def auto_threads(cores: int) -> int:
    """Half the cores: room for one other job. On 2 cores (measured, docs/benchmarks.md) one thread keeps 0.83
    (MLP) and 0.68 (UNet) of the best solo throughput with a second job running, where torch's default keeps
    0.15 and 0.24; alone, it costs 14% and 36%."""
    return max(1, cores // 2)


def apply_thread_policy(environ: dict[str, str] | None = None) -> int | None:
    """Set the threads torch will start with (OMP_NUM_THREADS, read when torch loads); returns them, or None
    when torch's default is kept."""
    environ = os.environ if environ is None else environ
    setting = environ.get(ENV, "").strip().lower()
    if setting == "torch" or not setting and "OMP_NUM_THREADS" in environ:
        return None
    if setting in ("", "auto"):
        threads = auto_threads(os.cpu_count() or 1)
    elif setting.isdigit() and int(setting) >= 1:
        threads = int(setting)
    else:
        raise ConfigError(f"{ENV}={setting!r}: give a number of threads >= 1, auto or torch")
    environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:   # already loaded (aeflow called from Python): its pool is resized instead
        sys.modules["torch"].set_num_threads(threads)
    return threads
