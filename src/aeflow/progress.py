"""What long work tells the person waiting: durations in words, and an estimate measured on this machine
before the bulk of the work, so that a command that will take hours says so while it is cheap to stop."""

from __future__ import annotations

import sys
import threading
import time
from contextvars import ContextVar

from aeflow.errors import Cancelled

ANNOUNCE_AFTER_S = 60.0   # shorter work just runs


def say(line: str) -> None:
    """A line of a study's progress, on stderr (stdout stays for results)."""
    print(line, file=sys.stderr, flush=True)


def duration(seconds: float) -> str:
    """e.g. '45 s', '12 min', '2 h 05 min'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def announce_estimate(what: str, measured: str, seconds: float, shorter: str) -> None:
    """One stderr line if `what` will take more than a minute: the estimate, what it was measured on, and how
    to make it shorter."""
    if seconds > ANNOUNCE_AFTER_S:
        print(f"aeflow: {what} will take about {duration(seconds)} here (measured: {measured}); Ctrl-C stops it, "
              f"{shorter} make it shorter", file=sys.stderr, flush=True)


def announce_from_first(what: str, started: float, done: int, total: int, unit: str, shorter: str) -> None:
    """`announce_estimate` from the rate of the first `done` of `total` units, begun at `started`
    (time.perf_counter)."""
    elapsed = time.perf_counter() - started
    announce_estimate(what, f"the first {done} {unit} in {elapsed:.1f} s", elapsed * total / done, shorter)


# Set by whoever can tell that the result is no longer wanted (the explorer, when its client leaves); long loops
# call `check_cancelled` at every step. A context variable: each request, in its own thread, has its own.
_cancel: ContextVar[threading.Event | None] = ContextVar("aeflow_cancel", default=None)


def cancel_on(event: threading.Event) -> None:
    """From now on in the current context (a copied one: `contextvars.copy_context().run(cancel_on, event)`),
    `check_cancelled` stops the work once `event` is set."""
    _cancel.set(event)


def check_cancelled() -> None:
    event = _cancel.get()
    if event is not None and event.is_set():
        raise Cancelled("stopped: nobody waits for the result any more")
