"""Where work runs: here (the default), or as jobs through submitit (Slurm, or its local executor: a process
per job on this machine). A study's independent runs are each a job (`ensure_all`): run folders are the only
state the jobs share, each job is `ensure(config, out)`, so a finished run is reused, and a job that died is
resumed from its checkpoint when the study is run again; the study waits for every job, then reads the folders.
A whole study (the lineage, the peers) can be one job (`call`): on a GPU node, say, while this terminal waits.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aeflow.config import RunConfig
from aeflow.data import Dataset
from aeflow.errors import ConfigError, TrainingError
from aeflow.progress import say
from aeflow.runs.pipeline import ensure

LAUNCHERS = ("here", "local", "slurm")


@dataclass(frozen=True)
class Launcher:
    kind: str = "here"                 # here | local | slurm
    logs: Path | None = None           # submitit's folder: each job's stdout, stderr and pickled call
    partition: str | None = None       # slurm: the partition
    gpus: int = 0                      # slurm: GPUs per job
    timeout_min: int = 60              # slurm: a job's time limit
    threads: int | None = None         # local: torch threads per job (default: this machine's cores / jobs)

    def __post_init__(self) -> None:
        if self.kind not in LAUNCHERS:
            raise ConfigError(f"unknown launcher {self.kind!r}; choose one of {', '.join(LAUNCHERS)}")
        if self.kind != "slurm" and (self.partition or self.gpus):
            raise ConfigError("a partition and GPUs are for --launcher slurm; drop them or launch on slurm")
        if self.gpus < 0 or self.timeout_min < 1:
            raise ConfigError("--gpus must be >= 0 and --timeout-min >= 1")
        if self.kind == "slurm" and shutil.which("sbatch") is None:
            raise ConfigError("--launcher slurm: this machine has no Slurm (no sbatch on PATH); run on a Slurm login "
                              "node, or use --launcher local (processes here) or here")

    def ensure_all(self, runs: Sequence[tuple[RunConfig, Path]], dataset: Dataset | None = None,
                   rerun: bool = False) -> list[Path]:
        """Every (config, folder) trained to the end (`ensure`), here or as jobs; the folders, in order."""
        if self.kind == "here":
            return [ensure(config, out, dataset=dataset, rerun=rerun) for config, out in runs]
        executor = self._executor(self.logs or Path(runs[0][1]).parent / "jobs")
        jobs = [executor.submit(_job, _ensure, (config, Path(out).absolute(), rerun), self._threads(len(runs)))
                for config, out in runs]
        return self._results(jobs, [f"training {out}" for _, out in runs])

    def call(self, function: Callable[..., Any], args: tuple, logs: Path, what: str) -> Any:
        """`function(*args)` here, or as one job (logs in `logs` unless the launcher names its own); its result.
        `what` names the work in a failed job's message ("running the lineage")."""
        if self.kind == "here":
            return function(*args)
        job = self._executor(self.logs or logs).submit(_job, function, args, self._threads(1))
        say(f"{what[0].upper()}{what[1:]} as {self.kind} job {job.job_id}; its log: {job.paths.stdout}")
        return self._results([job], [what])[0]

    def _executor(self, logs: Path):
        try:
            import submitit
        except ImportError:
            raise ConfigError(f"--launcher {self.kind} needs submitit: pip install 'aeflow[cluster]'") from None
        executor = submitit.AutoExecutor(folder=logs, cluster="local" if self.kind == "local" else "slurm")
        if self.kind == "slurm":
            executor.update_parameters(timeout_min=self.timeout_min, slurm_partition=self.partition,
                                       gpus_per_node=self.gpus, tasks_per_node=1, name="aeflow")
        else:
            executor.update_parameters(timeout_min=self.timeout_min)
        return executor

    def _results(self, jobs: list, whats: list[str]) -> list:
        try:
            return [self._result(job, what) for job, what in zip(jobs, whats)]
        except BaseException:   # Ctrl-C or a failed job: the others are cancelled, their folders resume later
            for job in jobs:
                job.cancel(check=False)
            raise

    def _threads(self, jobs: int) -> int | None:
        if self.kind != "local":
            return self.threads
        return self.threads or max(1, (os.cpu_count() or 1) // jobs)

    @staticmethod
    def _result(job, what: str) -> Any:
        try:
            return job.result()
        except Exception as e:   # submitit's FailedJobError holds the job's whole traceback: its last line says why
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            why = next((line for line in reversed(lines) if "Error" in line or "aeflow" in line), lines[-1] if lines
                       else type(e).__name__)
            raise TrainingError(f"the job {what} failed ({why}); its log is in {job.paths.stderr}; "
                                "the same command again resumes it") from None


def _job(function: Callable[..., Any], args: tuple, threads: int | None) -> Any:
    """`function(*args)` in a job's own process (submitit pickles this call), with `threads` torch threads."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    return function(*args)


def _ensure(config: RunConfig, out: Path, rerun: bool) -> Path:
    return ensure(config, out, rerun=rerun)
