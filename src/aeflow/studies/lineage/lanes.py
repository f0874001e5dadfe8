"""The order of the lineage's work. Where the budget runs one seed (MNIST's cpu budget) and there are worker
processes, the chapters split into lanes, one per process (the lineage's own and its workers'), each running
its chapters in their order beside the others: two processes at one thread each train and sample 1.3-1.6x more
than one at two threads on 2 cores (docs/benchmarks.md, Sharing the cores). A chapter stays in the lane of the
chapters it reads (`Chapter.reads`), so no lane waits for another; the lanes are balanced by the budget's
expected seconds (the longest group first, each into the lane with the least so far). Every chapter writes its
record as it ends, so an interrupted lineage continues in any lane from the chapter it stopped in."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from aeflow.errors import TrainingError
from aeflow.progress import say
from aeflow.studies.engine import made, reused
from aeflow.studies.lineage.book import Book, Chapter, ChapterRecord, chapter_groups
from aeflow.studies.lineage.chapters import CHAPTERS
from aeflow.studies.lineage.workers import Setup, Workers, run_seeds, worker_book
from aeflow.threads import sharing

Lane = list[tuple[int, Chapter]]   # (the chapter's number, from 1; the chapter)


def split(chapters: list[Chapter], seconds: dict[str, float], count: int) -> list[Lane]:
    """`chapters` in at most `count` lanes balanced by `seconds`; the first lane holds the first chapter."""
    numbered = {c.key: (i, c) for i, c in enumerate(chapters, 1)}
    lanes: list[list[Chapter]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for group in sorted(chapter_groups(chapters), key=lambda g: -sum(seconds.get(c.key, 0.0) for c in g)):
        lightest = loads.index(min(loads))
        lanes[lightest] += group
        loads[lightest] += sum(seconds.get(c.key, 0.0) for c in group)
    ordered = [sorted((numbered[c.key] for c in lane), key=lambda n: n[0]) for lane in lanes if lane]
    return sorted(ordered, key=lambda lane: lane[0][0])


def run_chapters(book: Book, setup: Setup, workers: Workers | None) -> None:
    """Every chapter into book.results: in this process in order, or, with one seed and workers, in lanes."""
    budget = book.budget
    if workers is None or budget.seeds > 1:
        rounds = budget.seeds / workers.parallel(budget.seeds) if workers else budget.seeds
        estimates = {c.key: budget.seconds.get(c.key, 0.0) * (rounds if c.seeded else 1) for c in CHAPTERS}
        run_lane(book, list(enumerate(CHAPTERS, 1)), estimates, workers)
        return
    own, *others = split(CHAPTERS, budget.seconds, 1 + workers.count)
    workers.running.value = 1 + len(others)
    with workers.stopping("running a lane of chapters"):
        futures = [workers.submit(_lane_in_worker, setup, [(i, c.key) for i, c in lane], 1 + len(others),
                                  workers.whole)
                   for lane in others]
        for lane, future in zip(others, futures):
            say(f"in a worker process beside this one: {', '.join(c.title for _, c in lane)}")
            future.add_done_callback(_say_if_failed)
        with sharing().divided(lanes(workers.running, 1 + len(others)), workers.whole):
            _working(workers.running, lambda: run_lane(book, own, budget.seconds))
        for future in futures:
            future.result()
    for index, chapter in (numbered for lane in others for numbered in lane):   # as the workers wrote them
        record, _ = reused(book.unit(index, chapter), "lineage")
        if record is None:
            raise TrainingError(f"the worker that ran {chapter.title} left no record of it; the same command again "
                                "redoes that chapter")
        book.results[chapter.key] = ChapterRecord.read(record)


def run_lane(book: Book, lane: Lane, estimates: dict[str, float], workers: Workers | None = None) -> None:
    """The chapters of `lane` in order, each reused when finished, into book.results; the time the lane has left
    said at each start, from `estimates` rescaled by the chapters already done."""
    spent_estimated, spent_actual = 0.0, 0.0
    for at, (index, chapter) in enumerate(lane):
        head = f"[{index}/{len(CHAPTERS)}] {chapter.title}"
        unit = book.unit(index, chapter, lambda chapter=chapter: run_seeds(book, chapter, workers))
        saved, problem = reused(unit, "lineage")
        if saved is not None:
            book.results[chapter.key] = record = ChapterRecord.read(saved)
            say(f"{head}: finished earlier, reused ({headline(record)})")
            continue
        if problem:
            say(f"{head}: its record {problem}; the chapter is done again")
        left = sum(estimates.get(c.key, 0.0) for _, c in lane[at:]) * (spent_actual / spent_estimated
                                                                       if spent_estimated else 1.0)
        where = "all" if len(lane) == len(CHAPTERS) else "this lane"
        say(f"{head}: started" + (f"; about {duration(left)} left in {where}" if left else ""))
        book.results[chapter.key] = record = ChapterRecord.read(made(unit))
        spent_actual += record.seconds
        spent_estimated += estimates.get(chapter.key) or record.seconds
        say(f"{head}: done in {duration(record.seconds)} ({headline(record)})")


def lanes(running: Any, count: int) -> Any:
    """What divides a lane's threads: the lanes planned (`count`), so that a chapter's numbers do not depend on
    when the other lanes end; under AEFLOW_THREADS=adaptive, the shared count of lanes still working."""
    return running if sharing().adaptive is not None else count


def _lane_in_worker(setup: Setup, lane: list[tuple[int, str]], count: int, whole: int) -> None:
    """A lane of chapters (number, key) in a worker, one of `count` lanes sharing `whole` threads: each writes
    its record, which the lineage then reads back."""
    chapters = {c.key: c for c in CHAPTERS}
    cores = sharing()
    with cores.divided(lanes(cores.working, count), whole):
        _working(cores.working, lambda: run_lane(worker_book(setup), [(i, chapters[key]) for i, key in lane],
                                           setup.budget.seconds))


def _say_if_failed(future: Future) -> None:
    """A lane that fails in its worker is said at once; the lineage stops with its error when its own lane ends."""
    if not future.cancelled() and future.exception() is not None:
        say(f"a lane of chapters stopped in its worker ({future.exception()}); the lineage stops when its own "
            "lane ends, and the same command again continues both")


def _working(running: Any, lane: Callable[[], None]) -> None:
    """Run a lane, counted among the working ones until it ends (under AEFLOW_THREADS=adaptive the lanes still
    working then share its threads)."""
    try:
        lane()
    finally:
        with running.get_lock():
            running.value -= 1


def headline(record: ChapterRecord) -> str:
    if not record.applies:
        return "does not apply: " + record.reason
    if record.generators:
        return ", ".join(f"{g.name} FD {g.fd:.1f}" for g in record.generators)
    return f"{len(record.runs)} run(s), {len(record.figures)} figure(s)"


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
