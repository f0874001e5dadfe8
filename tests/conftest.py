import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from hypothesis import settings

# The property tests draw the same examples on every run (CI must not fail by luck); a session that wants new
# ones runs them with another profile: pytest tests/test_boundaries.py --hypothesis-profile=explore
settings.register_profile("seeded", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("seeded")

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


@pytest.fixture
def chromium():
    """`with chromium() as (page, errors):` a browser page for the test (see `chromium_page`). Without Debian's
    chromium or Playwright the test is skipped with the reason, unless AEFLOW_REQUIRE_BROWSER=1 (.ci/run sets
    it): then it fails."""
    import importlib.util
    import os

    missing = [name for name, found in (("Debian's chromium (apt-get install -y chromium)", shutil.which("chromium")),
                                        ("playwright (pip install playwright)",
                                         importlib.util.find_spec("playwright"))) if not found]
    if missing and os.environ.get("AEFLOW_REQUIRE_BROWSER") != "1":
        pytest.skip(f"no browser here: {', '.join(missing)} not installed")
    return chromium_page


@contextmanager
def chromium_page():
    """A page of Debian's chromium driven by Playwright for Python (`playwright install` cannot download
    browsers here; .ci/run installs the package), and the list of console errors it collects. Fails
    loudly if the pairing breaks."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            yield page, errors
        finally:
            browser.close()


@contextmanager
def serving(app):
    """An ASGI app served by uvicorn on a free local port, in a thread: yields its URL."""
    import threading
    import time

    import uvicorn

    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    while not instance.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{instance.servers[0].sockets[0].getsockname()[1]}/"
    finally:
        instance.should_exit = True
        thread.join(5)


@pytest.fixture
def peers_installed():
    """pythae, torchcfm and diffusers (README, Peers): without them the test is skipped with the reason, unless
    AEFLOW_REQUIRE_PEERS=1 (.ci/run sets it): then it fails."""
    import importlib.util
    import os

    missing = [name for name in ("pythae", "torchcfm", "diffusers") if importlib.util.find_spec(name) is None]
    if missing and os.environ.get("AEFLOW_REQUIRE_PEERS") != "1":
        pytest.skip(f"the peers are not installed here: {', '.join(missing)} (README, Peers)")


def _lineage_command(out):
    return [sys.executable, "-m", "aeflow", "lineage", "--budget", "test", "--out", str(out), "--no-progress"]


@pytest.fixture(scope="session")
def lineage_cache(tmp_path_factory):
    """The cache (feature classifiers) the session's lineages share: both score with the same classifier."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def lineage(tmp_path_factory, lineage_cache):
    """The lineage at the test budget, killed in the middle of chapter 5 and continued by the same command: (its
    folder, the chapter records finished before the kill, the second command's log). Once a session: the
    reliability corpus copies it for its reuse cases."""
    out = tmp_path_factory.mktemp("lineage") / "digits-test"
    env = {**os.environ, "AEFLOW_CACHE": str(lineage_cache)}
    first = subprocess.Popen(_lineage_command(out), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    chapters = out / "chapters"
    deadline = time.time() + 600
    while time.time() < deadline and len(list(chapters.glob("*.json"))) < 4 and first.poll() is None:
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)   # in the middle of chapter 5, as hard as it gets
    first.wait()
    done_before = {p.name: (p.stat().st_mtime_ns, json.loads(p.read_text())) for p in chapters.glob("*.json")}
    assert len(done_before) >= 4, first.stdout.read()
    second = subprocess.run(_lineage_command(out), env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    return out, done_before, second.stderr


@pytest.fixture(scope="session")
def uninterrupted_lineage(tmp_path_factory, lineage_cache, lineage):
    """The same lineage never stopped, its classifier from the same cache (made by the first)."""
    out = tmp_path_factory.mktemp("uninterrupted") / "digits-test"
    done = subprocess.run(_lineage_command(out), env={**os.environ, "AEFLOW_CACHE": str(lineage_cache)},
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return out
