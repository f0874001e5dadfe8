"""The thread policy every aeflow command applies before torch loads (aeflow/threads.py)."""

import os

import pytest

from aeflow import threads
from aeflow.errors import ConfigError
from aeflow.threads import apply_thread_policy, auto_threads, other_aeflow_commands


def test_the_policy_leaves_room_for_another_job_and_obeys_what_it_is_told(monkeypatch):
    monkeypatch.setattr("torch.set_num_threads", lambda n: None)   # the test process keeps its threads
    for key in ("on", "checked"):   # ... and stays off the automatic policy after this test (the later tests
        monkeypatch.setitem(threads._adaptive, key, threads._adaptive[key])   # train twice and compare weights)
    env = {}
    assert apply_thread_policy(env) == auto_threads(os.cpu_count() or 1, other_aeflow_commands())
    assert env["OMP_NUM_THREADS"]
    assert [auto_threads(c, 0) for c in (1, 2, 16)] == [1, 2, 16]          # alone: every core
    assert [auto_threads(c, 1) for c in (1, 2, 3, 16)] == [1, 1, 1, 8]     # beside another command: its share
    assert apply_thread_policy({"AEFLOW_THREADS": "3"}) == 3
    assert apply_thread_policy({"AEFLOW_THREADS": "torch"}) is None
    mine = {"OMP_NUM_THREADS": "5"}
    assert apply_thread_policy(mine) is None and mine["OMP_NUM_THREADS"] == "5"   # the user's own setting kept
    for bad in ("0", "-1", "many"):
        with pytest.raises(ConfigError, match="AEFLOW_THREADS"):
            apply_thread_policy({"AEFLOW_THREADS": bad})


def test_other_aeflow_commands_are_counted_from_their_command_lines(tmp_path):
    import subprocess
    import sys
    import time

    before = other_aeflow_commands()
    waiting = subprocess.Popen([sys.executable, "-m", "aeflow", "explore", str(tmp_path), "--no-browser",
                                "--port", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        assert other_aeflow_commands() == before + 1
    finally:
        waiting.kill()
        waiting.wait()


def test_a_running_command_takes_its_share_when_another_starts(monkeypatch):
    """Under the automatic policy the training loop and samplers re-check the other aeflow commands (at most
    every RECHECK_S) and resize torch's pool to their share."""
    import aeflow.threads as threads

    sizes = []
    monkeypatch.setattr("torch.set_num_threads", sizes.append)
    monkeypatch.setattr("torch.get_num_threads", lambda: 16)
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    monkeypatch.setitem(threads._adaptive, "on", True)
    monkeypatch.setitem(threads._adaptive, "checked", 0.0)
    monkeypatch.setattr(threads, "other_aeflow_commands", lambda: 3)
    threads.share_cores()
    threads.share_cores()   # within RECHECK_S: not checked again
    assert sizes == [4]
    monkeypatch.setitem(threads._adaptive, "on", False)   # AEFLOW_THREADS=N or torch: never resized
    monkeypatch.setitem(threads._adaptive, "checked", 0.0)
    threads.share_cores()
    assert sizes == [4]


def test_a_command_running_workers_divides_its_share_among_them(monkeypatch):
    """While the lineage runs seeds in worker processes (aeflow.studies.lineage.workers), its own pool is its
    share divided by the processes, also when the automatic policy re-checks; afterwards it is whole again."""
    import aeflow.threads as threads

    pool = {"size": 16}
    monkeypatch.setattr("torch.set_num_threads", lambda n: pool.update(size=n))
    monkeypatch.setattr("torch.get_num_threads", lambda: pool["size"])
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    monkeypatch.setitem(threads._adaptive, "on", True)
    monkeypatch.setitem(threads._adaptive, "checked", 0.0)
    monkeypatch.setattr(threads, "other_aeflow_commands", lambda: 1)
    with threads.divided(3) as share:
        assert share == pool["size"] == 5
        monkeypatch.setitem(threads._adaptive, "checked", 0.0)   # RECHECK_S later
        threads.share_cores()   # another aeflow command runs: 8 cores are this one's, 2 of them per process
        assert pool["size"] == 2
    assert pool["size"] == 16 and threads._adaptive["divided"] == 1
    with threads.divided(32) as share:   # never below one thread
        assert share == 1


def test_lanes_that_end_give_their_threads_to_those_still_working(monkeypatch):
    """Lanes of chapters (aeflow.studies.lineage.lanes) share a count of the lanes still working: each process
    takes its share of the threads, and more as the others end, under AEFLOW_THREADS=N too."""
    import multiprocessing

    import aeflow.threads as threads

    pool = {"size": 1}
    monkeypatch.setattr("torch.set_num_threads", lambda n: pool.update(size=n))
    monkeypatch.setattr("torch.get_num_threads", lambda: pool["size"])
    monkeypatch.setitem(threads._adaptive, "on", False)
    running = multiprocessing.get_context("spawn").Value("i", 2)
    with threads.divided(running, whole=4) as share:
        assert share == pool["size"] == 2
        running.value = 1                                  # the other lane ended
        threads.share_cores()
        assert pool["size"] == 2                           # looked at most every RECHECK_S seconds
        monkeypatch.setitem(threads._adaptive, "checked", 0.0)
        threads.share_cores()
        assert pool["size"] == 4
    assert pool["size"] == 1 and threads._adaptive["divided"] == 1   # as it was before
