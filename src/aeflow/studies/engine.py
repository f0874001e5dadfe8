"""The study engine: what every study (the lineage, the peers) does the same way. A study's folder is claimed
for its identity (what decides its results), kept with a digest in the folder's marker, so that a folder of
another study, or of another recipe, is refused rather than read for numbers it does not hold (or, with `rerun`,
its records are dropped and the work done again). Its work comes in units (a chapter, a comparison): each unit's
record is saved with the identity that decided it and a checksum (`made`), and a second call reuses it only while
both still agree and the study finds nothing stale in it (`reused`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aeflow.errors import DataError, Mismatch
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


def record_digest(record: dict[str, Any]) -> str:
    """A record's checksum (over everything but itself): a record edited by hand is not trusted."""
    body = {k: v for k, v in record.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def save_record(path: Path, record: dict[str, Any], identity: Any) -> dict[str, Any]:
    """`record` as it will be read back, with the `identity` that decided it and its checksum, written at
    `path`; returned as written."""
    record = json.loads(json.dumps({**record, "identity": identity}, default=str))
    record["digest"] = record_digest(record)
    write_json(path, record)
    return record


def body(record: dict[str, Any]) -> dict[str, Any]:
    """A saved record without what the engine added to it (its identity and checksum)."""
    return {k: v for k, v in record.items() if k not in ("identity", "digest")}


def record_problem(record: Any, identity: Any, study: str) -> str | None:
    """Why a saved record cannot be reused for `identity` (`study`: whose it is, in words), or None."""
    if not isinstance(record, dict) or "digest" not in record:
        return "is damaged (not a record)"
    if record["digest"] != record_digest(record):
        return "was changed since aeflow wrote it"
    if record.get("identity") != json.loads(json.dumps(identity, default=str)):
        return f"belongs to another {study} (another dataset, budget, version or recipe)"
    return None


def saved_record(path: Path, identity: Any, study: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the record at `path`, None) when it can be reused for `identity`; (None, why not) when it cannot; (None,
    None) when there is none."""
    if not path.exists():
        return None, None
    try:
        record = read_json(path)
    except DataError:
        return None, "is damaged (not JSON)"
    problem = record_problem(record, identity, study)
    return (None, problem) if problem else (record, None)


@dataclass
class Unit:
    """A unit of a study's work (a lineage's chapter, a comparison of the peers): where its record lives, what
    decides it, the work that makes it, and the study's own reasons a whole record is stale anyway."""
    key: str
    path: Path
    identity: Any
    make: Callable[[], dict[str, Any]]
    stale: Callable[[dict[str, Any]], str | None] = lambda record: None


def reused(unit: Unit, study: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the unit's saved record, None) when it can be reused; (None, why not) when one is there and cannot; (None,
    None) when there is none."""
    record, problem = saved_record(unit.path, unit.identity, study)
    problem = problem or (unit.stale(record) if record is not None else None)
    return (None, problem) if problem else (record, None)


def made(unit: Unit) -> dict[str, Any]:
    """The unit's work done, and its record saved (the study's one writer of records)."""
    return save_record(unit.path, unit.make(), unit.identity)
