from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Every test: a private cache dir, no data-dir variable, a fixed seed, few threads."""
    monkeypatch.setenv("AEFLOW_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("AEFLOW_DATA_DIR", raising=False)
    torch.manual_seed(0)


def shared_dir(name: str) -> Path:
    path = SHARED / name
    if not (path / "t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip(f"{path} not present (the shared data folder beside the checkout)")
    return path
