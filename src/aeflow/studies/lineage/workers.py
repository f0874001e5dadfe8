"""The lineage's worker processes, started once per lineage: they run a seeded chapter's other seeds beside
seed 0 (where the budget runs several seeds), or whole lanes of chapters beside the lineage's own (where it
runs one: lanes.py). One process does not keep two cores busy with small models (torch's per-operation
overhead, not arithmetic, bounds them), so on 2 cores the digits lineage's seeded chapters take 2.2x less time
this way (docs/lineage.md). Each process takes its share of the threads (aeflow.threads: CoreSharing.divided). Ctrl-C is
the lineage's alone (it kills its workers; their runs continue from their checkpoints on the next call), and a
worker dies with the lineage's process, even one killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from aeflow.errors import ConfigError, TrainingError
from aeflow.progress import say
from aeflow.studies.lineage.book import Book, Chapter, ChapterRecord, RunUsed, chapter_groups, open_book
from aeflow.studies.lineage.budgets import Budget
from aeflow.studies.lineage.chapters import CHAPTERS
from aeflow.studies.lineage.records import to_dict
from aeflow.threads import CoreSharing, cores, sharing, turns_if_possible, use


def default_workers(budget: Budget) -> int:
    """Where the chapters are expected (`Budget.seconds`) to take over a minute beyond the first process's share
    (a worker takes seconds to start, torch's import): one worker per seed beyond the first, at most one per
    core; with one seed, one per core beyond the first, at most one per lane (lanes.py). None on one core, or
    where the chapters train on a GPU (the processes would share it)."""
    import torch

    if cores() < 2 or torch.cuda.is_available():
        return 0
    if budget.seeds >= 2:
        per_seed = sum(budget.seconds.get(c.key, 0.0) for c in CHAPTERS if c.seeded)
        return min(budget.seeds - 1, cores()) if per_seed >= 60 else 0
    lanes = chapter_groups(CHAPTERS)
    return min(cores(), len(lanes)) - 1 if sum(budget.seconds.values()) >= 120 else 0


@dataclass(frozen=True)
class Setup:
    """What a worker needs to open the lineage's book itself (its data and classifier, loaded once)."""
    out: Path
    dataset: str
    budget: Budget
    data_dir: str | None
    rerun: bool
    identity: str


class Workers:
    """A pool of `count` processes that run chapters at seeds other than 0, or lanes of chapters."""

    def __init__(self, count: int, setup: Setup) -> None:
        if count < 0:
            raise ConfigError(f"--workers {count}: give 0 (the seeds one after another) or more")
        import torch

        self.count, self.setup, self._pool = count, setup, None
        self.running = get_context("spawn").Value("i", 0)   # the lanes still working (lanes.py), shared
        self.whole = torch.get_num_threads()                 # the threads all processes share

    def parallel(self, seeds: int) -> int:
        """How many seeds run at once, at most: the time of `seeds` seeds is about seeds / this of one."""
        return max(1, min(seeds, 1 + self.count, cores()))

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            threads = max(1, self.whole // (1 + self.count))
            self._pool = ProcessPoolExecutor(self.count, get_context("spawn"), initializer=_start_worker,
                                             initargs=(os.getpid(), threads, self.running,
                                                       sharing().turns is not None))
        return self._pool

    def submit(self, function: Callable, *args: Any) -> Future:
        try:
            return self._started().submit(function, *args)
        except BrokenProcessPool:   # a worker died between two chapters (killed, or out of memory): new ones
            say("a worker process died while it waited for work; starting the workers again")
            self.close(kill=True)
            return self._started().submit(function, *args)

    def run(self, book: Book, chapter: Chapter, seeds: list[int]) -> None:
        """Seed 0 here and `seeds` in the workers at the same time; every seed's record and runs in book.current
        (in seed order, as one process would have written them)."""
        futures = [self.submit(_chapter_at_seed, self.setup, book.results, book.current, chapter.key, seed)
                   for seed in seeds]
        say(f"{chapter.title}: seed 0 here, seed(s) {', '.join(map(str, seeds))} in {self.count} worker "
            f"process(es) beside it")
        beside = 1 + min(self.count, len(seeds))
        with self.stopping(f"running {chapter.title} at another seed"), sharing().divided(beside):
            book.current.numbers = to_dict(chapter.run(book))
            for future in futures:
                record, runs = future.result()
                book.current.runs.update(runs)
                book.current.other_seeds.append(record)

    @contextmanager
    def stopping(self, doing: str) -> Iterator[None]:
        """Ctrl-C or a failure, here or in a worker: the workers stop now (their runs resume from checkpoints)."""
        try:
            yield
        except BrokenProcessPool:
            self.close(kill=True)
            raise TrainingError(f"a worker process {doing} died (out of memory, or killed); the same command "
                                "again continues the lineage (--workers 0 runs everything in one process)") from None
        except BaseException:
            self.close(kill=True)
            raise

    def close(self, kill: bool = False) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        if kill:
            for process in list(getattr(pool, "_processes", {}).values()):   # Python < 3.14 has no kill_workers()
                process.kill()
        pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def lineage_workers(count: int, setup: Setup) -> Iterator[Workers | None]:
    workers = Workers(count, setup) if count else None
    try:
        yield workers
    finally:
        if workers is not None:
            workers.close()


def run_seeds(book: Book, chapter: Chapter, workers: Workers | None) -> None:
    """The chapter at seed 0 and, if it is seeded, at the budget's other seeds: beside it in `workers`, or here
    one after another without them."""
    others = list(range(1, book.budget.seeds)) if chapter.seeded else []
    if others and workers is not None:
        workers.run(book, chapter, others)
        return
    book.current.numbers = to_dict(chapter.run(book))
    for seed in others:
        say(f"{chapter.title}: seed {seed}")
        with book.at_seed(seed):
            book.current.other_seeds.append(to_dict(chapter.run(book)))


# -- in a worker ------------------------------------------------------------------------------------------------
# A worker process's books, by folder and identity (one per lineage): a pool's task gets no state of its own,
# and opening a book loads the data and the classifier
_books: dict[tuple[Path, str], Book] = {}


def _start_worker(parent: int, threads: int, running: Any, turns: bool) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # a terminal's Ctrl-C reaches every process: the parent decides
    if sys.platform.startswith("linux"):           # die with the parent, even if it is killed with SIGKILL
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    if os.getppid() != parent:                       # ... which may have happened already
        os._exit(1)
    import torch

    torch.set_num_threads(threads)
    # as the lineage's own process: its steps take turns at the cores with every other aeflow job
    use(CoreSharing(turns=turns_if_possible() if turns else None, working=running))


def worker_book(setup: Setup) -> Book:
    """The lineage's book in a worker, opened once (its data and classifier)."""
    lineage = (setup.out, setup.identity)
    if lineage not in _books:
        _books[lineage] = open_book(setup.out, setup.dataset, setup.budget, setup.data_dir, False, setup.rerun,
                                    setup.identity)
    return _books[lineage]


def _chapter_at_seed(setup: Setup, results: dict[str, ChapterRecord], current: ChapterRecord, key: str, seed: int
                     ) -> tuple[dict[str, Any], dict[str, RunUsed]]:
    """(the chapter's record at `seed`, the runs it used), in a worker."""
    book = worker_book(setup)
    book.results, book.current = results, replace(current, runs={}, other_seeds=[])
    chapter = next(c for c in CHAPTERS if c.key == key)
    with book.at_seed(seed):
        record = to_dict(chapter.run(book))
    return record, book.current.runs
