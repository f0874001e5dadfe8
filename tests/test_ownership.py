"""aeflow writes and deletes only what it made, and reuses only what matches: folders are marked as aeflow's,
a user's folder is refused as --out, files get the mode the umask gives, ensure compares a finished run with the
config asked for (refused, or replaced with rerun), and a lineage folder is tied to its dataset and budget."""

import os
import stat

import pytest

import aeflow
from aeflow.errors import Mismatch
from aeflow.files import write_json
from aeflow.runs import load_config, weights_digest
from aeflow.runs.folder import MARKER, locked
from aeflow.runs.pipeline import run_identity

TINY = {"epochs": 1, "batch_size": 32, "progress": False}


def config(code_dim: int = 2, **train):
    return aeflow.make_config("autoencoder", "digits", {"hidden": [8], "code_dim": code_dim}, {**TINY, **train},
                              train_subset=128)


def fit_gmm(run):
    from aeflow.runs.sampling import fitted_prior

    fitted_prior(aeflow.load(run), run, "gmm", {"n_components": 2}, aeflow.load_dataset("digits"))


def test_files_get_the_mode_the_umask_gives(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "shared.json", {"a": 1})
        os.umask(0o077)
        write_json(tmp_path / "private.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.json").stat().st_mode) == 0o644   # mkstemp alone would give 0600
    assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600


def test_a_runs_weights_checkpoint_and_prior_get_the_mode_the_umask_gives(tmp_path):
    """safetensors writes its own file: the umask decides its mode too."""
    old = os.umask(0o002)
    try:
        run = aeflow.train(config(), tmp_path / "run")
        vae = aeflow.train(aeflow.make_config("vae", "digits", {"hidden": [8], "latent_dim": 2}, TINY,
                                              train_subset=128), tmp_path / "vae")
        fit_gmm(vae)
    finally:
        os.umask(old)
    made = [run / "model.safetensors", run / "checkpoint.safetensors", *vae.glob("prior-*")]
    assert len(made) >= 3
    for path in made:
        assert stat.S_IMODE(path.stat().st_mode) == 0o664, path


def test_a_users_folder_is_refused_and_an_empty_one_adopted(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "config.yaml").write_text("my own\n")
    (user / "sub").mkdir()
    (user / "sub" / "draft.tmp").write_text("keep me")
    with pytest.raises(aeflow.ConfigError, match="aeflow did not make"):
        aeflow.train(config(), user)
    assert (user / "config.yaml").read_text() == "my own\n" and (user / "sub" / "draft.tmp").exists()
    assert not (user / MARKER).exists() and not (user / ".aeflow.lock").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    run = aeflow.train(config(), empty)
    assert (run / MARKER).exists() and (run / "model.safetensors").exists()


def test_a_failed_start_leaves_no_folder_it_made(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    with pytest.raises(aeflow.ConfigError), locked(out):
        raise aeflow.ConfigError("refused after the folder was made")
    assert not (tmp_path / "a").exists()


def test_ensure_reuses_the_same_run_and_refuses_or_replaces_another(tmp_path):
    run = aeflow.ensure(config(), tmp_path / "run")
    digest = weights_digest(run)
    assert aeflow.ensure(config(), run) == run and weights_digest(run) == digest   # reused
    asked = config(code_dim=3, seed=1)
    with pytest.raises(Mismatch, match=r"model_config.code_dim 2 there, 3 asked; train.seed 0 there, 1 asked"):
        aeflow.ensure(asked, run)
    mine = {"notes.txt": "a user's note inside the run folder", "my-comparison.png": "a user's figure",
            "samples-from-colab.npy": "a user's samples", "latent/README.txt": "a user's notes",
            "snapshots/mine.safetensors": "a user's weights"}
    for name, text in mine.items():
        (run / name).parent.mkdir(exist_ok=True)
        (run / name).write_text(text)
    aeflow.ensure(asked, run, rerun=True)
    assert load_config(run).model_config["code_dim"] == 3
    for name, text in mine.items():   # not aeflow's, though named like its files: kept, byte for byte
        assert (run / name).read_text() == text


def test_a_rerun_removes_what_aeflow_made_and_nothing_else(tmp_path):
    """A finished run's own figures, samples and prior go with a rerun; a run folder's list of what aeflow made
    (files.MADE) says which they are."""
    from aeflow.files import MADE, made_files

    run = aeflow.train(config(), tmp_path / "run")
    fit_gmm(run)
    made = made_files(run)
    assert {"config.yaml", "model.safetensors", "summary.json"} <= made and any(n.startswith("prior-") for n in made)
    assert MADE not in made and MARKER not in made
    aeflow.ensure(config(code_dim=3), run, rerun=True)
    assert not [p for p in run.glob("prior-*")]   # the old run's prior would be a prior of other codes


def test_the_identity_ignores_only_what_does_not_change_the_result():
    plain = run_identity(config())
    assert run_identity(config(progress=True, eval_batch_size=100)) == plain
    for changed in (config(code_dim=3), config(seed=1), config(lr=0.01)):
        assert run_identity(changed) != plain


def test_study_records_are_trusted_only_as_written(tmp_path):
    """A chapter's or a comparison's record is reused only while its checksum and the identity that decided it
    agree (claim.py, for every study), and a chapter's only while its numbers have this version's shape."""
    from aeflow.studies.engine import record_digest, record_problem, save_record, saved_record
    from aeflow.studies.lineage.book import chapter_identity, chapter_problem

    numbers = {"fd": 12.0, "fd_floor": 8.0, "precision": 0.8, "recall": 0.7, "fraction_closer_than_test_p1": 0.01,
               "components": 10}
    mine = chapter_identity("abc", "density")
    record = save_record(tmp_path / "r.json", {"key": "density", "title": "A density on the codes", "story": "",
                                                "folder": "04-density", "runs": {}, "numbers": numbers,
                                                "other_seeds": []}, mine)
    assert saved_record(tmp_path / "r.json", mine, "lineage") == (record, None)
    assert saved_record(tmp_path / "none.json", mine, "lineage") == (None, None)
    assert chapter_problem(record, "density") is None
    assert "another lineage" in record_problem(record, chapter_identity("other", "density"), "lineage")
    assert "another lineage" in record_problem(record, chapter_identity("abc", "holes"), "lineage")
    edited = {**record, "numbers": {**numbers, "fd": 1.0}}
    assert "changed" in record_problem(edited, mine, "lineage")
    reshaped = {**record, "numbers": {"rate": 3.0}}   # an earlier version's keys, with a checksum that agrees
    reshaped["digest"] = record_digest(reshaped)
    assert record_problem(reshaped, mine, "lineage") is None and "another shape" in chapter_problem(reshaped, "density")
    for damaged in ({}, [], {"runs": 5}, None, "text"):
        assert "damaged" in record_problem(damaged, mine, "lineage")
    assert "damaged" in chapter_problem({**record, "runs": 5}, "density")
    assert "another chapter's" in chapter_problem(record, "holes")
    (tmp_path / "r.json").write_text("{not json")
    assert saved_record(tmp_path / "r.json", mine, "lineage")[1] == "is damaged (not JSON)"


# The modules that write files, each through aeflow.files (atomic, noted as aeflow's), and what they write: the
# named writers of ../shared/ARCHITECTURE.md. A new writer is added here on purpose, never by accident.
WRITERS = {
    "cli.py": "the files a command is asked for: --json-out, a run's eval.md, drawn samples",
    "config/runs.py": "a run's config.yaml",
    "data/download.py": "a downloaded dataset file, once its checksum is right",
    "training/callbacks.py": "a run's metrics.jsonl",
    "training/checkpoint.py": "a run's checkpoint",
    "runs/folder.py": "a run folder's marker and lock",
    "runs/measured.py": "the measurements recorded in a run folder",
    "runs/parents.py": "a derived run's embedded parent weights",
    "runs/pipeline.py": "nothing new: it removes the files of a run replaced with --rerun",
    "runs/train.py": "a run's weights and snapshots",
    "priors/base.py": "a fitted code prior beside its run",
    "peers/clock.py": "a peer's snapshots along its training",
    "peers/pythae_models.py": "pythae's log",
    "report/render.py": "a study's report (HTML, Markdown, JSON)",
    "viz/plots.py": "pictures (PNG)",
    "studies/engine.py": "a study's marker and its units' records",
    "studies/sweeps.py": "a sweep's record",
    "studies/lineage/book.py": "a lineage's chapter records and samples",
    "studies/peers/cells.py": "a comparison's trained cells",
    "studies/peers/run.py": "a comparison's record and samples",
    "studies/reproduce/hinton.py": "the reproduction's tables",
    "studies/reproduce/swissroll.py": "the reproduction's tables",
}
# Only these touch the file system directly, and why.
DIRECT = {"files.py": "the writer the others go through",
          "runs/folder.py": "makes, locks and cleans run folders",
          "threads.py": "the lock files by which aeflow jobs take turns at the cores"}
RAW_METHODS = {"write_text", "write_bytes", "unlink", "rmdir", "mkdir", "touch", "rename", "savefig", "save_file"}
RAW_FUNCTIONS = {("os", "replace"), ("os", "rename"), ("os", "remove"), ("os", "open"), ("shutil", "rmtree"),
                 ("shutil", "move"), ("shutil", "copy"), ("shutil", "copyfile"), ("np", "save"), ("torch", "save")}


def _raw_writes(tree) -> list[int]:
    """Lines of calls that write, remove or make files directly; a call writing into `tmp` (the temp file
    files.atomic_write hands its writer) is atomic_write's."""
    import ast

    def into_tmp(call) -> bool:
        target = call.args[0] if call.args else getattr(call.func, "value", None)
        if isinstance(target, ast.Call) and target.args:   # Path(tmp).write_text(...)
            target = target.args[0]
        return isinstance(target, ast.Name) and target.id == "tmp"

    lines = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        func = call.func
        named = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
        raw = isinstance(func, ast.Attribute) and (
            func.attr in RAW_METHODS or named and (func.value.id, func.attr) in RAW_FUNCTIONS)
        if isinstance(func, ast.Name) and func.id == "open" and len(call.args) > 1:
            mode = call.args[1]
            raw = not (isinstance(mode, ast.Constant) and set(str(mode.value)) <= set("rbt"))
        if raw and not into_tmp(call):
            lines.append(call.lineno)
    return lines


def test_files_are_written_only_through_aeflow_files_by_the_named_modules():
    """README's Architecture: every write is atomic and noted as aeflow's (aeflow.files), from a known set of
    modules; only files.py, the run folders' keeper and the turns' locks touch the file system directly."""
    import ast
    from pathlib import Path

    from aeflow import files

    writing = {name for name in vars(files) if name.startswith("atomic") or name in
               ("write_json", "append_line", "remove_made")}
    package = Path(aeflow.__file__).parent
    direct, writers = {}, set()
    for path in sorted(package.rglob("*.py")):
        module = path.relative_to(package).as_posix()
        tree = ast.parse(path.read_text())
        if module not in DIRECT and _raw_writes(tree):
            direct[module] = _raw_writes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "aeflow.files" and \
                    writing & {alias.name for alias in node.names}:
                writers.add(module)
    assert not direct, f"direct file writes outside aeflow.files (module: lines): {direct}"
    assert writers == set(WRITERS) - {"files.py"}, (writers ^ set(WRITERS))


HASH_OR_DATE = r"\b20\d\d-\d\d-\d\d\b|\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b"


def test_the_house_reads_no_function_over_80_lines_and_no_dated_comment():
    """README's Architecture: functions short enough to read (the one training loop, the longest, says why it is
    long), and comments that say why, never what was measured when (no date, no commit hash)."""
    import ast
    import io
    import re
    import tokenize
    from pathlib import Path

    package = Path(aeflow.__file__).parent
    long, dated = [], []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                long.append(f"{path.name}:{node.name}")
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT and re.search(HASH_OR_DATE, token.string):
                dated.append(f"{path.name}:{token.start[0]}")
    assert not long, f"functions of 80 lines or more: {long}"
    assert not dated, f"comments with a date or a commit hash: {dated}"
