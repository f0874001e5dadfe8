"""A study's runs as submitit jobs (its local executor: a process per job): the same folders as training here,
reused when run again, a failed job reported in one line."""

import json
import subprocess
import sys

import pytest
import torch

from aeflow.errors import TrainingError
from aeflow.files import read_tensors
from aeflow.runs import make_config
from aeflow.runs.launch import Launcher

pytest.importorskip("submitit", reason="submitit is not installed (pip install 'aeflow[cluster]')")

TINY = {"hidden": [16], "latent_dim": 2}


def config(beta):
    return make_config("vae", "digits", {**TINY, "beta": beta}, {"epochs": 1, "progress": False})


def test_jobs_train_the_runs_training_here_would(tmp_path):
    runs = [(config(beta), tmp_path / "jobs" / f"beta-{beta:g}") for beta in (1.0, 4.0)]
    made = Launcher("local", threads=1).ensure_all(runs)
    assert made == [out.absolute() for _, out in runs]
    here = Launcher().ensure_all([(config(4.0), tmp_path / "here")])[0]
    a, b = read_tensors(here / "model.safetensors")[0], read_tensors(made[1] / "model.safetensors")[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(list((tmp_path / "jobs" / "jobs").glob("*_log.out"))) == 2   # submitit's logs beside the runs
    written = [(out / "model.safetensors").stat().st_mtime_ns for out in made]
    again = Launcher("local", threads=1).ensure_all(runs)   # finished: each job finds its run and reuses it
    assert again == made and [(out / "model.safetensors").stat().st_mtime_ns for out in again] == written


def test_a_failed_job_is_one_line_naming_its_log(tmp_path):
    bad = make_config("vae", "digits", TINY, {"epochs": 1, "batch_size": 5000, "progress": False})
    with pytest.raises(TrainingError, match=r"the job training .*bad failed \(.*batch_size 5000 is larger than the "
                                            r"training set.*\); its log is in .*the same command again resumes it"):
        Launcher("local", threads=1).ensure_all([(bad, tmp_path / "bad")])


def test_the_sweep_command_takes_the_launcher(tmp_path):
    out = tmp_path / "sweep"
    done = subprocess.run([sys.executable, "-m", "aeflow", "sweep", "beta", "--values", "1,4", "--epochs", "1",
                           "-m", "hidden=[16]", "-m", "latent_dim=2", "--no-fd", "--no-progress", "--out", str(out),
                           "--launcher", "local"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert len(json.loads((out / "sweep.json").read_text())) == 2
    assert len(list((out / "jobs").glob("*_log.out"))) == 2
    wrong = subprocess.run([sys.executable, "-m", "aeflow", "sweep", "beta", "--values", "1", "--partition", "gpu",
                            "--out", str(tmp_path / "other")], capture_output=True, text=True)
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == ("aeflow: error: a partition and GPUs are for --launcher slurm; drop them or "
                                    "launch on slurm")


def _fails(reason: str) -> None:
    raise ValueError(reason)


def test_a_whole_study_is_one_job(tmp_path):
    """`call`: the work in one job's process (a lineage or a peers comparison on a GPU node), its result back
    here; a failure in it is one line naming the work and the log."""
    assert Launcher("local", threads=1).call(pow, (2, 10), tmp_path / "jobs", "computing") == 1024
    assert len(list((tmp_path / "jobs").glob("*_log.out"))) == 1
    with pytest.raises(TrainingError, match=r"the job computing failed \(.*no such thing.*\); its log is in "):
        Launcher("local", threads=1).call(_fails, ("no such thing",), tmp_path / "jobs", "computing")


@pytest.mark.parametrize("study", ["lineage", "peers"])
def test_the_study_commands_take_the_launcher(tmp_path, study):
    wrong = subprocess.run([sys.executable, "-m", "aeflow", study, "--budget", "test" if study == "lineage" else
                            "tiny", "--launcher", "local", "--gpus", "1", "--out", str(tmp_path / study)],
                           capture_output=True, text=True)
    assert wrong.returncode == 2 and not (tmp_path / study).exists()
    assert wrong.stderr.strip() == ("aeflow: error: a partition and GPUs are for --launcher slurm; drop them or "
                                    "launch on slurm")
