"""One thread policy for every aeflow process (training, sampling, the lineage, the explorer's server), set by
the command line before torch loads. torch's default, one spinning OpenMP thread per core, is fastest alone and
collapses when another job shares the cores (docs/benchmarks.md, "Sharing the cores":
`benchmarks/shared_cores.py`). So aeflow takes every core while it is the only aeflow command running, and its
share (cores / commands) while others run, checked again every few seconds as it trains or samples.

AEFLOW_THREADS=N sets N threads; AEFLOW_THREADS=torch leaves torch's default; unset (or auto): the policy
above. A user's own OMP_NUM_THREADS is kept when AEFLOW_THREADS is not given.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from aeflow.errors import ConfigError

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

ENV = "AEFLOW_THREADS"
RECHECK_S = 2.0
_adaptive: dict = {"on": False, "checked": 0.0, "divided": 1, "whole": 1}


def auto_threads(cores: int, others: int) -> int:
    """This command's share of the cores when `others` aeflow commands run beside it."""
    return max(1, cores // (1 + others))


def other_aeflow_commands() -> int:
    """Other aeflow commands running on this machine (their command lines, read from /proc; 0 where there is
    no /proc). A process forked by a test harness carries its parent's command line and is not counted."""
    count, me = 0, os.getpid()
    try:
        entries = os.scandir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == b"aeflow" or any(a.endswith(b"/bin/aeflow") for a in argv[:2]) or \
                argv[1:3] == [b"-m", b"aeflow"]:
            count += 1
    return count


def apply_thread_policy(environ: dict[str, str] | None = None) -> int | None:
    """Set the threads torch will start with (OMP_NUM_THREADS, read when torch loads); returns them, or None
    when torch's default is kept."""
    environ = os.environ if environ is None else environ
    setting = environ.get(ENV, "").strip().lower()
    if setting == "torch" or not setting and "OMP_NUM_THREADS" in environ:
        return None
    if setting in ("", "auto"):
        threads = auto_threads(os.cpu_count() or 1, other_aeflow_commands())
        _adaptive.update(on=True, checked=time.monotonic())
    elif setting.isdigit() and int(setting) >= 1:
        threads = int(setting)
    else:
        raise ConfigError(f"{ENV}={setting!r}: give a number of threads >= 1, auto or torch")
    environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:   # already loaded (aeflow called from Python): its pool is resized instead
        sys.modules["torch"].set_num_threads(threads)
    return threads


def share_cores() -> None:
    """Under the automatic policy, or while a count of processes shared with others divides the threads
    (`divided`), at most every RECHECK_S seconds: take this command's share of the cores again (a command that
    started alone gives cores back when another starts, and takes them when it ends). Called by the training
    loop each step and by the samplers each batch; costs a clock read in between."""
    now = time.monotonic()
    shared = not isinstance(_adaptive["divided"], int)
    if not (_adaptive["on"] or shared) or now - _adaptive["checked"] < RECHECK_S:
        return
    _adaptive["checked"] = now
    import torch

    whole = auto_threads(os.cpu_count() or 1, other_aeflow_commands()) if _adaptive["on"] else _adaptive["whole"]
    threads = max(1, whole // _processes())
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)


def _processes() -> int:
    divided = _adaptive["divided"]
    return max(1, divided if isinstance(divided, int) else divided.value)


@contextmanager
def divided(processes: int | Synchronized, whole: int | None = None) -> Iterator[int]:
    """While this command runs `processes` processes at once (itself and the workers it started), each takes
    1/processes of the threads it would take alone (`whole`: torch's threads now), at least one; yields that
    share. `processes` may be a count the processes share (a multiprocessing.Value), lowered as each one's work
    ends: share_cores then gives its threads to those still working."""
    import torch

    before = torch.get_num_threads()
    _adaptive.update(divided=processes, whole=whole or before, checked=time.monotonic())
    share = max(1, _adaptive["whole"] // _processes())
    torch.set_num_threads(share)
    try:
        yield share
    finally:
        _adaptive.update(divided=1, whole=1)
        torch.set_num_threads(before)
