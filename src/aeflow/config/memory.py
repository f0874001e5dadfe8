"""What this machine can hold: inputs that claim more (a header, a model's size) are refused before any
allocation."""

from __future__ import annotations

import os
from pathlib import Path


def available_memory() -> int:
    """Bytes of memory this machine can give now (MemAvailable on Linux, else the physical total)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
