"""aeflow tested the way a careless or hostile user tests it: the reliability corpus (tests/corpus.py, about 500
cases over data files, sample files, options, run folders, checkpoints, kills, full disks and concurrent
writers) run as real commands, every case clean: refused in one line, or right. Plus a real full disk: a small
tmpfs, where this machine lets the test mount one."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import aeflow
from aeflow.files import read_tensors
from tests.reliability import CATEGORIES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, lineage) -> list[dict]:
    """The corpus in a fresh interpreter (its cases are forked from a parent that never started a thread pool),
    its lineage cases starting from a copy of the session's test-budget lineage."""
    work = tmp_path_factory.mktemp("reliability")
    env = {k: v for k, v in os.environ.items() if k not in ("AEFLOW_CACHE", "AEFLOW_DATA_DIR")}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reliability.py"), "--work", str(work),
                           "--json", str(work / "outcomes.json"), "--lineage", str(lineage[0])], env=env,
                          capture_output=True, text=True, timeout=1800)
    assert (work / "outcomes.json").exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((work / "outcomes.json").read_text())


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_case_is_refused_in_one_line_or_right(outcomes, category):
    cases = [o for o in outcomes if o["category"] == category]
    bad = [f"{o['outcome']}: {o['name']}: {o['why']}" for o in cases if o["outcome"] != "clean"]
    assert len(cases) >= (20 if category != "data files" or (ROOT.parent / "shared").exists() else 0)
    assert not bad, "\n".join(bad)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 160 KiB file system: room for a run's config and first files, not for all of its checkpoints."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)], check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("cannot mount a tmpfs here (needs root); the corpus's file-size limits cover full disks")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_training_in_one_line_and_loses_nothing(small_tmpfs, tmp_path):
    """Training onto a disk that fills: exit 74 and one line naming the file; every file left is whole; the
    folder, moved to a disk with room, resumes to the run that was never interrupted."""
    options = ["-m", "hidden=[64]", "-m", "code_dim=4", "--epochs", "4", "--batch-size", "32", "--train-subset",
               "256", "--no-progress"]
    out = small_tmpfs / "run"
    full = subprocess.run([sys.executable, "-m", "aeflow", "train", "autoencoder", *options, "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in full.stderr.splitlines() if line.startswith("aeflow:")]
    assert full.returncode == 74, full.stderr[-2000:]
    assert len(lines) == 1 and "No space left on device" in lines[0] and str(out) in lines[0], full.stderr
    assert "Traceback" not in full.stderr
    for path in out.glob("*.safetensors"):
        read_tensors(path)   # whole, or not there
    moved = shutil.copytree(out, tmp_path / "moved")
    resumed = subprocess.run([sys.executable, "-m", "aeflow", "train", "--resume", "--out", str(moved)],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    subprocess.run([sys.executable, "-m", "aeflow", "train", "autoencoder", *options, "--out",
                    str(tmp_path / "reference")], check=True, capture_output=True, timeout=600)
    got, want = aeflow.load(moved).state_dict(), aeflow.load(tmp_path / "reference").state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
