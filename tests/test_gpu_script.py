"""benchmarks/gpu.py, the script a lent GPU runs, at its tiny size on the CPU: so that it cannot rot between the
sessions that have a GPU. Every part writes its result; a second call keeps the finished ones and continues the
rest (the lineage where it stopped)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_script_runs_tiny_on_the_cpu_and_resumes(tmp_path):
    def call() -> str:
        done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--tiny", "--minutes", "0.8",
                               "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    first = call()
    assert "cpu (no GPU here)" in first
    results = json.loads((tmp_path / "gpu.json").read_text())
    assert set(results) == {"hinton", "rates", "lineage", "iwae"}
    assert results["hinton"]["epochs_run"] == 1 and results["hinton"]["final_test_error"] > 0
    assert all(isinstance(results["rates"]["rates"]["autoencoder"][v], float) for v in ("fp32", "bf16"))
    assert results["iwae"]["done"] and results["iwae"]["iwae_10"] >= results["iwae"]["elbo"]
    second = call()
    assert "hinton: done earlier, kept" in second and "rates: done earlier, kept" in second
