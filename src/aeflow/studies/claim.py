"""Which study a folder holds: its identity (what decides its results) and digest, kept in the folder's marker,
so that a folder of another study, or of another recipe, is refused rather than read for numbers it does not
hold (or, with `rerun`, its records are dropped and the work done again)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aeflow.errors import Mismatch
from aeflow.files import MARKER, read_json, remove_made, write_json


def claim_study(out: Path, kind: str, identity: dict[str, Any], rerun: bool, describe: Callable[[dict], str],
                records: str) -> str:
    """The digest of `identity`, recorded under `kind` in `out`'s marker. A folder holding another identity is
    refused naming both (`describe` says one in words), or with `rerun` loses its records (`records`: a glob
    under `out`) and is claimed anew."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    marker = read_json(out / MARKER)
    there = marker.get(kind) if isinstance(marker, dict) else None
    if there is not None and there.get("digest") != digest:
        if not rerun:
            was, now = describe(there), describe(identity)
            changed = "" if was != now else " of an older recipe"
            raise Mismatch(f"{out} holds the {was}{changed}, and this command asks for the {now}; choose another "
                           "--out, or --rerun to redo its work there")
        remove_made(out.glob(records))
    if there is None or there.get("digest") != digest:
        write_json(out / MARKER, {**marker, kind: {**identity, "digest": digest}})
    return digest
