"""Fault injection: training killed with SIGKILL at seeded random moments (some of them inside checkpoint
writes, which a slowed-down writer makes likely), resumed each time; the result is bitwise the run that was
never interrupted, and no file in the folder is ever unreadable."""

import os
import random
import signal
import subprocess
import sys
import time

import torch

import aeflow
from aeflow.files import read_tensors

OPTIONS = {"hidden": [32], "code_dim": 4}
TRAIN = {"epochs": 6, "batch_size": 32, "progress": False}

# The trainer in a child process; every checkpoint write pauses halfway (the temp file written, not yet renamed),
# so that kills land inside writes as well as inside steps, and so that the six epochs outlast the longest wait
# before a kill (1.5 s) on a fast machine: a run that finishes before its second kill tests too little.
CHILD = """
import sys, time
import aeflow, aeflow.files as files
write = files.atomic_save
def slow(tensors, path, metadata=None):
    time.sleep(0.3)
    write(tensors, path, metadata)
files.atomic_save = slow
import aeflow.training.checkpoint as checkpoint
checkpoint.atomic_save = slow
out, resume = sys.argv[1], sys.argv[2] == "1"
config = None if resume else aeflow.make_config("autoencoder", "digits", {options!r}, {train!r}, train_subset=512)
aeflow.train(config, out, resume=resume)
"""


def test_random_kills_resume_to_the_uninterrupted_weights(tmp_path):
    reference = aeflow.train(aeflow.make_config("autoencoder", "digits", OPTIONS, TRAIN, train_subset=512),
                             tmp_path / "reference")
    out = tmp_path / "killed"
    script = CHILD.format(options=OPTIONS, train=TRAIN)
    rng = random.Random(0)
    kills, resume = 0, "0"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    for _ in range(12):
        child = subprocess.Popen([sys.executable, "-c", script, str(out), resume], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = time.time()   # wait for the training to start (imports take a while on a busy machine)...
        while not (out / "config.yaml").exists() and child.poll() is None and time.time() - started < 60:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.5))   # ...then kill it in a step, an evaluation or a checkpoint write
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
        for path in out.glob("*.safetensors"):   # whatever was killed, every file that exists reads
            read_tensors(path)
        resume = "1" if (out / "config.yaml").exists() else "0"
        if (out / "summary.json").exists():
            break
    else:
        final = subprocess.run([sys.executable, "-c", script, str(out), resume], env=env, capture_output=True,
                               text=True)
        assert final.returncode == 0, final.stderr[-3000:]
    assert kills >= 2
    assert not list(out.glob("*.tmp"))
    trained, expected = aeflow.load(out).state_dict(), aeflow.load(reference).state_dict()
    for key in expected:
        assert torch.equal(trained[key], expected[key]), key
    epochs = [line for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert len(epochs) == TRAIN["epochs"]   # one line per epoch, however often it was killed
