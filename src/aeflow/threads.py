"""One thread policy for every aeflow process (training, sampling, the lineage, the explorer's server), set by
the command line before torch loads.

A run's numbers depend on its thread count (torch's CPU kernels sum in another order at 1 and at 2 threads), so
by default the count depends on the machine and the command alone, never on what else runs: every core this
process may use. A run records its threads in its checkpoint and resumes with them.

Two such jobs at full threads on the same cores would collapse (torch's waiting threads spin, and each job's
threads wait for the other's: each keeps a few percent of its speed alone; docs/benchmarks.md, "Sharing the
cores"). So aeflow jobs take turns at the cores instead, a training step or a sampling batch at a time
(`Turns`): alone a job never waits; two jobs alternate, each at full speed while it computes. Turns change when
work happens, never what it computes.

AEFLOW_THREADS=N sets N threads (turns as above); =torch leaves torch's default and takes no turns;
=adaptive follows the other aeflow commands instead (this command's share, cores / commands, checked again
every few seconds as it trains or samples): a run's numbers then depend on what else ran. A user's own
OMP_NUM_THREADS is kept, and takes no turns.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

try:
    import fcntl
except ImportError:   # Windows: no turns
    fcntl = None

from aeflow.errors import ConfigError

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

ENV = "AEFLOW_THREADS"
RECHECK_S = 2.0
# A job that waits longer than this for its turn (the other one is suspended: Ctrl-Z) stops taking turns; a turn
# may hold a whole epoch's evaluation.
MAX_WAIT_S = 120.0


def cores() -> int:
    """The cores this process may use (its affinity, which a container or `taskset` may narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass
class Adaptive:
    """The opt-in adaptive policy's state (AEFLOW_THREADS=adaptive): the threads this command takes are its
    share of the cores among the aeflow commands running, divided among `processes` of its own (a count the
    processes share while lanes end, or a number)."""
    whole: int
    processes: int | Synchronized = 1
    checked: float = 0.0

    def share(self) -> int:
        divided = self.processes if isinstance(self.processes, int) else self.processes.value
        return max(1, self.whole // max(1, divided))


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


@dataclass
class CoreSharing:
    """How this process shares the machine's cores with the other aeflow jobs: turns at the cores (`turns`, the
    default policy), its share of them re-taken every few seconds (`adaptive`, AEFLOW_THREADS=adaptive), or
    neither. The command line makes one (`apply_thread_policy`) and sets it as the process's (`use`); a
    training or sampling loop is handed `sharing()` and calls `give_way` between its steps. Only the main
    thread takes turns: the explorer's requests run in threads of their own."""
    turns: Turns | None = None
    adaptive: Adaptive | None = None
    working: Synchronized | None = None   # a count of this command's processes still working (a lineage's lanes)

    def share_cores(self) -> None:
        """Under the adaptive policy, at most every RECHECK_S seconds: take this command's share of the cores
        again (a command that started alone gives cores back when another starts, and takes them when it
        ends); otherwise nothing."""
        if self.adaptive is None or time.monotonic() - self.adaptive.checked < RECHECK_S:
            return
        import torch

        self.adaptive.checked = time.monotonic()
        self.adaptive.whole = auto_threads(cores(), other_aeflow_commands())
        if self.adaptive.share() != torch.get_num_threads():
            torch.set_num_threads(self.adaptive.share())

    def _main_thread_turns(self) -> Turns | None:
        return self.turns if threading.current_thread() is threading.main_thread() else None

    @contextmanager
    def taking_turns(self) -> Iterator[None]:
        """Within the block (a training loop, a sampling loop), `give_way()` passes the turn between steps; it
        is taken at the start and given back at the end; a nested block keeps the turn of the outer one."""
        turns = self._main_thread_turns()
        outer = turns is None or bool(turns.held)
        if not outer:
            turns.take()
        try:
            yield
        finally:
            if not outer:
                turns.give()

    def give_way(self) -> None:
        """Between two steps or sampling batches: pass the turn (the fixed policy) or re-take this command's
        share of the cores (the adaptive one)."""
        turns = self._main_thread_turns()
        if turns is not None and turns.held:
            turns.give_way()
        self.share_cores()

    @contextmanager
    def divided(self, processes: int | Synchronized, whole: int | None = None) -> Iterator[int]:
        """While this command runs `processes` processes at once (itself and the workers it started), each
        takes 1/processes of the threads it would take alone (`whole`: torch's threads now), at least one;
        yields that share, fixed for the whole block. Under the adaptive policy only, `processes` may be a count
        the processes share (a multiprocessing.Value), lowered as each one's work ends: share_cores then gives
        its threads to those still working."""
        import torch

        before = torch.get_num_threads()
        whole = whole or before
        if self.adaptive is not None:
            self.adaptive.whole, self.adaptive.processes = whole, processes
        elif not isinstance(processes, int):
            processes = processes.value
        share = max(1, whole // max(1, processes if isinstance(processes, int) else processes.value))
        torch.set_num_threads(share)
        try:
            yield share
        finally:
            if self.adaptive is not None:
                self.adaptive.processes = 1
            torch.set_num_threads(before)

    @contextmanager
    def pinned(self, threads: int | None) -> Iterator[None]:
        """torch at `threads` threads for the block (a run resumed with the count it started with), then as
        before; None leaves it, and so does the adaptive policy (it trades that reproducibility away)."""
        import torch

        before = torch.get_num_threads()
        if threads and self.adaptive is None:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)


ALONE = CoreSharing()   # no turns, no adaptive state: it holds nothing that changes
# The process's sharing: a context the command line sets once; library calls made from Python outside a
# command share nothing unless they set one.
_SHARING: ContextVar[CoreSharing] = ContextVar("aeflow_core_sharing", default=ALONE)


def sharing() -> CoreSharing:
    return _SHARING.get()


def use(policy: CoreSharing) -> None:
    """Make `policy` how this process (its main thread, and what runs in its context) shares the cores."""
    _SHARING.set(policy)


def apply_thread_policy(environ: dict[str, str] | None = None) -> int | None:
    """Set the threads torch will start with (OMP_NUM_THREADS, read when torch loads) and how this process
    shares the cores (`use`); returns the threads, or None when torch's default is kept."""
    environ = os.environ if environ is None else environ
    setting = environ.get(ENV, "").strip().lower()
    use(ALONE)
    if setting == "torch" or not setting and "OMP_NUM_THREADS" in environ:
        return None
    if setting in ("", "auto"):
        threads = cores()
        use(CoreSharing(turns=turns_if_possible()))
    elif setting == "adaptive":
        threads = auto_threads(cores(), other_aeflow_commands())
        use(CoreSharing(adaptive=Adaptive(whole=threads, checked=time.monotonic())))
    elif setting.isascii() and setting.isdigit() and int(setting) >= 1:
        threads = int(setting)
        use(CoreSharing(turns=turns_if_possible()))
    else:
        raise ConfigError(f"{ENV}={setting[:40]!r}: give a number of threads >= 1, auto, adaptive or torch")
    environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:   # already loaded (aeflow called from Python): its pool is resized instead
        sys.modules["torch"].set_num_threads(threads)
    return threads


class Turns:
    """The aeflow jobs of one user on one machine take turns at its cores: a job holds as many of the machine's
    core tokens as it has threads (a lock file each, in a folder of the user's) while it computes a step, and
    passes them on between steps (`give_way`). Waiting jobs queue at a door (another lock), so two jobs
    alternate rather than one taking every turn. Locks are the operating system's: a killed job's are freed."""

    def __init__(self, folder: Path | None = None) -> None:
        import tempfile

        folder = folder or Path(tempfile.gettempdir()) / f"aeflow-cores-{os.getuid() if hasattr(os, 'getuid') else 0}"
        folder.mkdir(mode=0o700, exist_ok=True)
        self.door = os.open(folder / "door", os.O_RDWR | os.O_CREAT, 0o600)
        self.tokens = [os.open(folder / f"core-{i}", os.O_RDWR | os.O_CREAT, 0o600) for i in range(cores())]
        self.held: list[int] = []
        self.on, self.taken_at = True, 0.0

    def take(self) -> None:
        """Wait for this job's turn: as many tokens as torch has threads (at most one a core). The wait sleeps in
        the kernel (a polling job would keep waking up on the cores the other job computes on)."""
        import torch

        if not self.on or self.held:
            return
        try:
            with _at_most(MAX_WAIT_S):
                fcntl.flock(self.door, fcntl.LOCK_EX)
                try:
                    need = min(torch.get_num_threads(), len(self.tokens))
                    for fd in self.tokens:   # the free ones first (one-thread lanes: one each, side by side)
                        if len(self.held) < need and _free(fd):
                            self.held.append(fd)
                    for fd in self.tokens[len(self.tokens) - need:]:
                        if len(self.held) < need and fd not in self.held:
                            fcntl.flock(fd, fcntl.LOCK_EX)
                            self.held.append(fd)
                finally:
                    fcntl.flock(self.door, fcntl.LOCK_UN)
            self.taken_at = time.monotonic()
        except TimeoutError:
            self.give()
            self.on = False
        except BaseException:   # Ctrl-C while waiting: no token kept
            self.give()
            raise

    def give(self) -> None:
        for fd in self.held:
            fcntl.flock(fd, fcntl.LOCK_UN)
        self.held = []

    def give_way(self) -> None:
        """Between two steps, once this job has had its turn for SLICE_S: let a waiting job compute, then take the
        turn back."""
        if time.monotonic() - self.taken_at < SLICE_S:
            return
        self.give()
        self.take()


# A turn lasts at least this long: handing the cores over costs a wake-up of the other job's threads (and this
# one's spin out), which a small model's millisecond steps would otherwise pay at every step.
SLICE_S = 0.2


def _free(fd: int) -> bool:
    """Locked now if free (the lock then held); False if another job holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


@contextmanager
def _at_most(seconds: float) -> Iterator[None]:
    """A blocking wait in the block ends in TimeoutError after `seconds` (SIGALRM: in the main thread; another
    thread waits as long as it takes)."""
    def ring(signum, frame):
        raise TimeoutError

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def turns_if_possible() -> Turns | None:
    """Turns at the cores with the other aeflow jobs, where the platform has file locks and a temp folder to
    share them in; None (no turns) otherwise."""
    if fcntl is None:
        return None
    try:
        return Turns()
    except OSError:
        return None
