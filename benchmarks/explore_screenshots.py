"""A screenshot of every explorer panel, for docs/explorer.md: `aeflow explore FOLDER` started as its own
process and each panel opened in Debian's headless chromium (through Playwright).

    python benchmarks/explore_screenshots.py RUNS_FOLDER [--out docs/images] [--panels gan,noise]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

PANELS = ["plane", "codespace", "gallery", "beta", "cloud", "traversal", "prefix", "sparse", "denoiser", "vq", "mask",
          "swissroll", "noise", "gan", "pipeline"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--out", default="docs/images")
    parser.add_argument("--panels", default=",".join(PANELS), help="comma-separated panel keys (default: all)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "aeflow", "explore", args.folder, "--no-browser", "--port",
                               str(port)], stdout=subprocess.DEVNULL)
    try:
        time.sleep(8)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            for panel in args.panels.split(","):
                page.goto(f"http://127.0.0.1:{port}/#panel={panel}")
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(800)
                # a panel's slow pictures (trajectories on MNIST take seconds) drawn before the picture is taken
                page.wait_for_function("[...document.images].filter(i => i.offsetParent)"
                                       ".every(i => i.complete && i.naturalWidth > 1)", timeout=120_000)
                page.wait_for_timeout(500)
                path = Path(args.out) / f"explorer_{panel}.png"
                page.screenshot(path=str(path), full_page=True)
                print(path)
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
