"""The thread policy every aeflow command applies before torch loads (aeflow/threads.py): a fixed count by
default (a run's numbers never depend on what else runs), adaptive sharing only when asked for."""

import multiprocessing
import os
import subprocess
import sys
import time

import pytest
import torch

from aeflow import threads
from aeflow.errors import ConfigError
from aeflow.threads import apply_thread_policy, auto_threads, other_aeflow_commands


@pytest.fixture
def pool(monkeypatch):
    """torch's pool as a number the test reads (the test process keeps its own threads), and no adaptive state
    left behind for the tests after this one."""
    size = {"size": 16}
    monkeypatch.setattr("torch.set_num_threads", lambda n: size.update(size=n))
    monkeypatch.setattr("torch.get_num_threads", lambda: size["size"])
    monkeypatch.setattr(threads, "cores", lambda: 16)
    threads.use(threads.ALONE)
    yield size
    threads.use(threads.ALONE)


def test_by_default_the_threads_depend_on_the_machine_alone(pool, monkeypatch):
    monkeypatch.setattr(threads, "other_aeflow_commands", lambda: 3)   # whatever else runs
    env = {}
    assert apply_thread_policy(env) == 16 and env["OMP_NUM_THREADS"] == "16"
    assert threads.sharing().adaptive is None and threads.sharing().turns is not None   # it takes turns
    assert apply_thread_policy({"AEFLOW_THREADS": "auto"}) == 16
    assert apply_thread_policy({"AEFLOW_THREADS": "3"}) == 3
    assert apply_thread_policy({"AEFLOW_THREADS": "torch"}) is None
    mine = {"OMP_NUM_THREADS": "5"}
    assert apply_thread_policy(mine) is None and mine["OMP_NUM_THREADS"] == "5"   # the user's own setting kept
    for bad in ("0", "-1", "many", "²", "1e3"):
        with pytest.raises(ConfigError, match="AEFLOW_THREADS"):
            apply_thread_policy({"AEFLOW_THREADS": bad})


def test_adaptive_sharing_is_asked_for_and_follows_the_other_commands(pool, monkeypatch):
    """AEFLOW_THREADS=adaptive: this command's share of the cores, re-checked at most every RECHECK_S."""
    monkeypatch.setattr(threads, "other_aeflow_commands", lambda: 1)
    assert apply_thread_policy({"AEFLOW_THREADS": "adaptive"}) == 8
    assert [auto_threads(c, 1) for c in (1, 2, 3, 16)] == [1, 1, 1, 8]
    monkeypatch.setattr(threads, "other_aeflow_commands", lambda: 3)
    threads.sharing().adaptive.checked = 0.0
    threads.sharing().share_cores()
    assert pool["size"] == 4
    monkeypatch.setattr(threads, "other_aeflow_commands", lambda: 0)
    threads.sharing().share_cores()   # within RECHECK_S: not checked again
    assert pool["size"] == 4


def test_share_cores_does_nothing_under_the_fixed_policy(pool, monkeypatch):
    monkeypatch.setattr(threads, "other_aeflow_commands", lambda: 3)
    apply_thread_policy({})
    threads.sharing().share_cores()
    assert pool["size"] == 16


def test_other_aeflow_commands_are_counted_from_their_command_lines(tmp_path):
    before = other_aeflow_commands()
    waiting = subprocess.Popen([sys.executable, "-m", "aeflow", "explore", str(tmp_path), "--no-browser",
                                "--port", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        assert other_aeflow_commands() >= before + 1   # another test's command may start or end meanwhile
    finally:
        waiting.kill()
        waiting.wait()


def test_a_command_running_workers_divides_its_threads_among_them(pool):
    with threads.sharing().divided(3) as share:
        assert share == pool["size"] == 5
    assert pool["size"] == 16
    with threads.sharing().divided(32) as share:   # never below one thread
        assert share == 1


def test_lanes_keep_their_share_when_others_end_unless_adaptive(pool, monkeypatch):
    """Lanes of chapters (aeflow.studies.lineage.lanes): by default each keeps the share it started with (its
    numbers cannot depend on when the other lanes end); under AEFLOW_THREADS=adaptive the lanes still working
    take the threads of those that ended."""
    from aeflow.studies.lineage.lanes import lanes

    running = multiprocessing.get_context("spawn").Value("i", 2)
    with threads.sharing().divided(lanes(running, 2), whole=4) as share:
        assert share == pool["size"] == 2
        running.value = 1                                  # the other lane ended
        threads.sharing().share_cores()
        assert pool["size"] == 2
    monkeypatch.setattr(threads, "other_aeflow_commands", lambda: 0)
    apply_thread_policy({"AEFLOW_THREADS": "adaptive"})
    running.value = 2
    with threads.sharing().divided(lanes(running, 2), whole=4) as share:
        assert share == pool["size"] == 2
        running.value = 1
        threads.sharing().adaptive.checked = 0.0
        threads.sharing().share_cores()
        assert pool["size"] == 16   # alone on the machine (cores 16), the other lane ended


def test_pinned_trains_a_resumed_run_at_the_threads_it_started_with(pool):
    with threads.sharing().pinned(2):
        assert pool["size"] == 2
    assert pool["size"] == 16


TRAIN = [sys.executable, "-m", "aeflow", "train", "autoencoder", "-m", "hidden=[64]", "-m", "code_dim=4",
         "--epochs", "12", "--batch-size", "16", "--no-progress"]


def _policy_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AEFLOW_THREADS", "OMP_NUM_THREADS", "GOMP_SPINCOUNT")}
    return {**env, **settings}


def _weights(run):
    from aeflow.files import read_tensors

    return read_tensors(run / "model.safetensors")[0]


def _after_first_checkpoint(job: subprocess.Popen, run) -> None:
    deadline = time.time() + 120
    while not (run / "checkpoint.safetensors").exists() and job.poll() is None and time.time() < deadline:
        time.sleep(0.05)


def test_a_run_beside_another_aeflow_job_gives_the_solo_runs_weights(tmp_path):
    """Another aeflow command that starts and ends while a run trains changes nothing in its numbers (the
    default policy: the threads depend on the machine alone)."""
    subprocess.run([*TRAIN, "--out", str(tmp_path / "solo")], env=_policy_env(), check=True, capture_output=True)
    job = subprocess.Popen([*TRAIN, "--out", str(tmp_path / "beside")], env=_policy_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _after_first_checkpoint(job, tmp_path / "beside")
    (tmp_path / "empty").mkdir()
    other = subprocess.Popen([sys.executable, "-m", "aeflow", "explore", str(tmp_path / "empty"), "--no-browser",
                              "--port", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)   # longer than the adaptive policy's RECHECK_S
    other.kill()
    other.wait()
    assert job.wait(timeout=600) == 0, job.stderr.read()
    solo, beside = _weights(tmp_path / "solo"), _weights(tmp_path / "beside")
    assert all(torch.equal(solo[k], beside[k]) for k in solo)


def test_a_resume_trains_with_the_threads_the_run_started_with(tmp_path):
    """Killed after its first checkpoint and resumed under another thread count: the weights of the run that
    was never interrupted, bitwise (float sums depend on the threads, so the checkpoint keeps them)."""
    subprocess.run([*TRAIN, "--out", str(tmp_path / "whole")], env=_policy_env(AEFLOW_THREADS="2"), check=True,
                   capture_output=True)
    job = subprocess.Popen([*TRAIN, "--out", str(tmp_path / "resumed")], env=_policy_env(AEFLOW_THREADS="2"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _after_first_checkpoint(job, tmp_path / "resumed")
    job.kill()
    job.wait()
    resumed = subprocess.run([sys.executable, "-m", "aeflow", "train", "--resume", "--no-progress", "--out",
                              str(tmp_path / "resumed")], env=_policy_env(AEFLOW_THREADS="1"), capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr
    whole, again = _weights(tmp_path / "whole"), _weights(tmp_path / "resumed")
    assert all(torch.equal(whole[k], again[k]) for k in whole)


def test_jobs_take_turns_at_the_cores_and_a_suspended_one_is_not_waited_for(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr("torch.get_num_threads", lambda: 2)
    first, second = threads.Turns(tmp_path), threads.Turns(tmp_path)   # two jobs (their own lock descriptions)
    first.take()
    assert len(first.held) == 2
    monkeypatch.setattr(threads, "MAX_WAIT_S", 0.2)
    second.take()   # the first holds every core and never gives way (suspended): not waited for forever
    assert not second.held and not second.on
    first.give()
    third = threads.Turns(tmp_path)
    third.take()
    assert len(third.held) == 2
    monkeypatch.setattr("torch.get_num_threads", lambda: 1)   # one-thread jobs (a lineage's lanes) run side by side
    third.give()
    lanes = [threads.Turns(tmp_path) for _ in range(2)]
    for lane in lanes:
        lane.take()
    assert [len(lane.held) for lane in lanes] == [1, 1]


def test_two_jobs_alternate(tmp_path, monkeypatch):
    """A job giving way while another waits lets it compute before taking the turn back."""
    import threading

    monkeypatch.setattr(threads, "cores", lambda: 1)
    monkeypatch.setattr("torch.get_num_threads", lambda: 1)
    order = []
    first, second = threads.Turns(tmp_path), threads.Turns(tmp_path)
    first.take()

    def waiting_job():
        second.take()
        order.append("second")
        second.give()

    job = threading.Thread(target=waiting_job)
    job.start()
    time.sleep(0.2)   # the second job now waits at the door
    order.append("first")
    first.give_way()
    order.append("first again")
    first.give()
    job.join()
    assert order == ["first", "second", "first again"]
