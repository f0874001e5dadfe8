"""The reliability corpus (tests/corpus.py): every case run as its own `aeflow` command, the outcomes counted per
category for docs/reliability.md, and every case that was not clean listed.

    python benchmarks/reliability.py [--work DIR] [--only CATEGORY] [--json FILE] [--lineage DIR]
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from tests.corpus import build  # noqa: E402
from tests.reliability import run_corpus, table  # noqa: E402

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def import_everything() -> None:
    """Every aeflow module imported once here: a child that drops to an unprivileged user (the permission cases)
    may no longer be able to read the source tree (a clone in a folder only its owner can read). A module of an
    optional extra that is not installed (the peers' adapters without pythae, torchcfm or diffusers) is skipped:
    its cases are refused in one line by the command that needs it."""
    import importlib
    import pkgutil

    import aeflow

    for module in pkgutil.walk_packages(aeflow.__path__, "aeflow."):
        try:
            importlib.import_module(module.name)
        except ModuleNotFoundError as e:
            if e.name is None or e.name.split(".")[0] in ("aeflow",):
                raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=None, help="folder for the corpus (default: a temporary one)")
    parser.add_argument("--only", default=None, help="run one category")
    parser.add_argument("--json", default=None, help="also write every case's outcome to this file")
    parser.add_argument("--lineage", default=None, help="a finished digits lineage at the test budget to copy for "
                        "the lineage cases (default: train one)")
    args = parser.parse_args()
    torch.set_num_threads(1)   # forked children share nothing with an intra-op pool the parent never started
    # ... and every case's aeflow runs with one thread too, as the reference runs trained here do: the bitwise
    # checks (a resumed run equals the uninterrupted one) compare like with like (float sums depend on threads)
    os.environ["AEFLOW_THREADS"] = "1"
    for name in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK"):
        # torchrun's variables only where a case sets them (pythae's trainer sets MASTER_ADDR in its process, and a
        # test session that ran it passes it on): a case without MASTER_ADDR must meet none
        os.environ.pop(name, None)
    import_everything()
    work = Path(args.work or tempfile.mkdtemp(prefix="aeflow-reliability-"))
    os.environ["AEFLOW_CACHE"] = str(work / "cache")
    os.environ.pop("AEFLOW_DATA_DIR", None)
    cases, planted = build(work / "corpus", SHARED_MNIST if SHARED_MNIST.exists() else None,
                           Path(args.lineage) if args.lineage else None)
    if args.only:
        cases = [c for c in cases if c.category == args.only]
    print(f"{len(cases)} cases in {work}", flush=True)
    rows = run_corpus(cases, work / "outcomes", progress=lambda line: print(line, flush=True), planted=planted)
    print("\n" + table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([{"category": case.category, "name": case.name, "outcome": kind,
                                                "why": why, "seconds": round(seconds, 2)}
                                               for case, kind, why, seconds in rows], indent=1) + "\n")
    failed = [(case, kind, why) for case, kind, why, _ in rows if kind != "clean"]
    for case, kind, why in failed:
        print(f"- {kind}: {case.category} / {case.name}: {why}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
