"""The reliability corpus: aeflow tried the way a careless or hostile user tries it, case by case, each in its
own forked process running the real command line, and every outcome sorted.

A case is a command, what it must do (refuse in one line, or succeed with a right result), and what must
survive it (the run folders it touched still load, their results unchanged). Outcomes:

- clean: refused with one line on stderr and a non-zero exit code (or, for valid input, succeeded and checked);
- traceback: a Python traceback reached the user, or aeflow's "internal error" line (a bug caught at the top);
- messy: refused, but in more than one line or with exit code 0/1 for a usage problem;
- silent: exit 0 where the input was bad, or a result that its check found wrong;
- lost: a run folder that existed before the case no longer loads or lost its results.

tests/test_reliability.py runs the whole corpus; benchmarks/reliability.py prints the table in
docs/reliability.md. Categories: data files, sample files, options, run folders, checkpoints, and
processes and disks (kills, full disks, concurrent writers, unwritable outputs).
"""

from __future__ import annotations

import importlib.util
import os
import resource
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CATEGORIES = ("data files", "sample files", "options", "run folders", "checkpoints", "processes and disks",
              "reuse and ownership")
OUTCOMES = ("clean", "traceback", "messy", "silent", "lost")
NOBODY = 65534


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@dataclass
class Case:
    category: str
    name: str
    argv: list[str] | Callable[[], list[str]]   # a callable decides when the case runs (after the ones before it)
    expect: str = "error"        # "error": refused in one line; "ok": succeeds; "either" (checked if it succeeds)
    check: Callable[[Result], str | None] | None = None   # a message if the result (or a refusal's aftermath) is wrong
    keep: list[Path] = field(default_factory=list)        # run folders that must survive the case
    env: dict[str, str] = field(default_factory=dict)
    file_limit: int | None = None                 # bytes a file may grow to (a full disk), via RLIMIT_FSIZE
    kill_after: float | None = None               # stop the command after this many seconds...
    kill_signal: int = signal.SIGKILL             # ...with this signal (SIGINT: Ctrl-C)
    as_nobody: bool = False                       # run as an unprivileged user (permission cases, when root)
    alongside: list[str] | None = None            # a command started just before, that must succeed
    fresh: bool = False                           # a new interpreter (`python -m aeflow`), imports and all
    cwd: Path | None = None
    setup: Callable[[], None] | None = None        # done just before the case (after the cases before it)


class Child:
    """`aeflow ARGV` in a forked child of this process (torch already imported: milliseconds, not seconds). Its
    output goes through pipes, not files, so that a file-size limit (a full disk) cannot swallow the error line."""

    def __init__(self, argv: list[str], workdir: Path, env: dict[str, str] | None = None,
                 file_limit: int | None = None, cwd: Path | None = None, as_nobody: bool = False,
                 fresh: bool = False):
        from aeflow.cli import main

        workdir.mkdir(parents=True, exist_ok=True)
        self.started = time.time()
        pipes = [os.pipe(), os.pipe()]
        self.pid = os.fork()
        if self.pid == 0:   # the child: never returns
            code = 1
            try:
                for (_, write), fd in zip(pipes, (1, 2)):
                    os.dup2(write, fd)
                sys.stdout, sys.stderr = os.fdopen(1, "w", buffering=1), os.fdopen(2, "w", buffering=1)
                _own_tqdm_lock()
                os.environ.update(env or {})
                if file_limit is not None:
                    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # writes past the limit fail with EFBIG
                    resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))
                os.chdir(cwd or workdir)
                if as_nobody and os.getuid() == 0:
                    os.setgid(NOBODY)
                    os.setuid(NOBODY)
                if fresh:
                    os.execv(sys.executable, [sys.executable, "-m", "aeflow", *argv])
                try:
                    main(argv)
                    code = 0
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                except BaseException:
                    import traceback
                    traceback.print_exc()
                    code = 1
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
        self.chunks: list[list[bytes]] = [[], []]
        self.readers = []
        for (read, write), chunks in zip(pipes, self.chunks):
            os.close(write)
            reader = threading.Thread(target=_drain, args=(read, chunks), daemon=True)
            reader.start()
            self.readers.append(reader)

    def finish(self, deadline: float, kill_signal: int = signal.SIGKILL) -> Result:
        """Wait for the child (stopping it with `kill_signal` at `deadline`, killing it if it lingers after)."""
        signalled = False
        while True:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
            if time.time() > deadline and not signalled:
                os.kill(self.pid, kill_signal)
                signalled, deadline = True, time.time() + 60
            elif time.time() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                _, status = os.waitpid(self.pid, 0)
                break
            time.sleep(0.01)
        for reader in self.readers:
            reader.join(timeout=10)
        out, err = (b"".join(c).decode(errors="replace") for c in self.chunks)
        return Result(os.waitstatus_to_exitcode(status), out, err, time.time() - self.started)


def _own_tqdm_lock() -> None:
    """tqdm's write lock is a multiprocessing lock, shared with every process forked from this one: a case killed
    while writing a progress line would hold it forever and hang every later case. Each child takes its own."""
    import threading

    from tqdm.std import TqdmDefaultWriteLock, tqdm

    TqdmDefaultWriteLock.mp_lock = None
    TqdmDefaultWriteLock.th_lock = threading.RLock()
    tqdm.set_lock(TqdmDefaultWriteLock())


def _drain(fd: int, chunks: list[bytes]) -> None:
    with os.fdopen(fd, "rb") as pipe:
        while chunk := pipe.read1(65536):
            chunks.append(chunk)


def run_case(case: Case, workdir: Path, timeout: float = 600.0) -> Result:
    if case.alongside:
        partner = Child(case.alongside, workdir / "alongside", case.env, cwd=case.cwd)
        time.sleep(1.0)   # the partner is under way (and holds the folder) when the case starts
    if case.setup:
        case.setup()
    argv = case.argv() if callable(case.argv) else case.argv
    child = Child(argv, workdir, case.env, case.file_limit, case.cwd, case.as_nobody, case.fresh)
    result = child.finish(child.started + (case.kill_after if case.kill_after is not None else timeout),
                          case.kill_signal)
    if case.alongside:
        other = partner.finish(partner.started + timeout)
        if other.code != 0:
            result.err += f"\n(the command alongside failed, exit {other.code}: {other.err.strip()[-300:]})"
            result.code = result.code or 1
    return result


PACKAGE = str(Path(importlib.util.find_spec("aeflow").origin).parent)   # where its frames would be


def _python_still_starting(err: str) -> bool:
    """A KeyboardInterrupt raised inside the interpreter's start-up (site, runpy, the standard library's imports),
    before the first line of aeflow ran: nothing aeflow can catch, and nothing was done."""
    frames = [line for line in err.splitlines() if line.strip().startswith("File ")]
    return err.strip().endswith("KeyboardInterrupt") and bool(frames) and not any(PACKAGE in f for f in frames)


def outcome(case: Case, result: Result, survived: str | None) -> tuple[str, str]:
    """(outcome, why) for one case."""
    if survived:
        return "lost", survived
    if case.fresh and _python_still_starting(result.err):
        return "clean", "Ctrl-C while Python itself was starting (its own traceback, no aeflow code had run)"
    if "Traceback (most recent call last)" in result.err or "aeflow: error: internal error" in result.err:
        return "traceback", result.err.strip().splitlines()[-1]   # a bug that escaped the boundary, either way
    if case.kill_after is not None and case.kill_signal == signal.SIGKILL:   # nothing to judge but what survives
        return "clean", f"killed after {case.kill_after:.2f} s"
    if result.code == -case.kill_signal and not result.err.strip():   # before the interpreter ran any aeflow code
        return "clean", f"stopped by signal {case.kill_signal} while Python itself was starting"
    if case.expect == "ok" or case.expect == "either" and result.code == 0:
        if result.code != 0:
            return "silent", f"refused valid input (exit {result.code}): {result.err.strip()[-300:]}"
        wrong = case.check(result) if case.check else None
        return ("silent", wrong) if wrong else ("clean", "ok")
    if result.code == 0:
        return "silent", f"accepted: {result.out.strip()[-300:]}"
    # The error is the last line; progress lines and estimates may precede it, but no other error and no usage text.
    lines = result.error_lines
    own = [line for line in lines if line.startswith(("aeflow: error", "aeflow: interrupted", "Usage:"))]
    if not lines or not lines[-1].startswith("aeflow:") or len(own) != 1:
        return "messy", f"exit {result.code}: {result.err.strip()[-400:]}"
    wrong = case.check(result) if case.check and case.expect == "error" else None   # a refusal's aftermath
    return ("silent", wrong) if wrong else ("clean", f"exit {result.code}: {lines[-1]}")


def survives(folders: list[Path], before: dict[Path, tuple[str, set[str]]]) -> str | None:
    """None if every run folder still loads with the same weights and keeps every result it had, else what
    was lost."""
    for folder in folders:
        digest, keys = fingerprint(folder)
        if digest != before[folder][0] or not before[folder][1] <= keys:
            return f"{folder.name}: weights {before[folder][0]} -> {digest}, results lost: {before[folder][1] - keys}"
    return None


def fingerprint(folder: Path) -> tuple[str, set[str]]:
    """What a run folder holds that must not be lost: its weights' digest and its summary's results."""
    import aeflow
    from aeflow.runs import read_summary, weights_digest

    try:
        aeflow.load(folder)
        return weights_digest(folder), set(read_summary(folder))
    except Exception as e:   # noqa: BLE001 - any failure to load is the loss this reports
        return f"unloadable ({type(e).__name__}: {e})", set()


def untouched(planted: dict[Path, bytes]) -> str | None:
    """None if every file of the user's planted among the corpus's folders is byte for byte as it was."""
    changed = [str(p) for p, content in planted.items() if not p.is_file() or p.read_bytes() != content]
    return f"a user's file was changed or deleted: {', '.join(changed[:3])}" if changed else None


def run_corpus(cases: list[Case], workdir: Path, progress: Callable[[str], None] | None = None,
               planted: dict[Path, bytes] | None = None):
    """Run every case; returns [(case, outcome, why, seconds)]. A case that changed one of the user's `planted`
    files is "lost", whatever else it did."""
    rows = []
    for i, case in enumerate(cases):
        before = {folder: fingerprint(folder) for folder in case.keep}
        result = run_case(case, workdir / f"case-{i}")
        kind, why = outcome(case, result, untouched(planted or {}) or survives(case.keep, before))
        rows.append((case, kind, why, result.seconds))
        if progress:
            progress(f"[{i + 1}/{len(cases)}] {case.category} / {case.name}: {kind} ({why[:160]})")
    return rows


def table(rows) -> str:
    """The markdown table of docs/reliability.md: cases and outcomes per category."""
    counts = {c: Counter() for c in CATEGORIES}
    for case, kind, _, _ in rows:
        counts[case.category][kind] += 1
    lines = ["| category | cases | " + " | ".join(OUTCOMES) + " |", "|---" * (len(OUTCOMES) + 2) + "|"]
    for c in CATEGORIES:
        lines.append(f"| {c} | {sum(counts[c].values())} | " + " | ".join(str(counts[c][k]) for k in OUTCOMES) + " |")
    total = Counter(kind for _, kind, _, _ in rows)
    lines.append(f"| **all** | **{len(rows)}** | " + " | ".join(f"**{total[k]}**" for k in OUTCOMES) + " |")
    return "\n".join(lines)
