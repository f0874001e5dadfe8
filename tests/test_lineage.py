"""The lineage end to end on the test budget: interrupted by a signal in the middle, continued by the same
command, with every chapter in the report, every claim judged with its numbers, finished chapters not
retrained; and report.html opened in a real headless Chromium."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from aeflow.studies.lineage.chapters import CHAPTERS
from aeflow.studies.lineage.claims import CLAIMS


def _command(out):
    return [sys.executable, "-m", "aeflow", "lineage", "--budget", "test", "--out", str(out), "--no-progress"]


@pytest.fixture(scope="module")
def lineage(tmp_path_factory):
    out = tmp_path_factory.mktemp("lineage") / "digits-test"
    env = {**os.environ, "AEFLOW_CACHE": str(tmp_path_factory.mktemp("cache"))}
    first = subprocess.Popen(_command(out), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    chapters = out / "chapters"
    deadline = time.time() + 600
    while time.time() < deadline and len(list(chapters.glob("*.json"))) < 4 and first.poll() is None:
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)   # in the middle of chapter 5, as hard as it gets
    first.wait()
    done_before = {p.name: (p.stat().st_mtime_ns, json.loads(p.read_text())) for p in chapters.glob("*.json")}
    assert len(done_before) >= 4, first.stdout.read()
    second = subprocess.run(_command(out), env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    return out, done_before, second.stderr


def test_interrupted_lineage_continues_and_reuses_finished_chapters(lineage):
    out, done_before, log = lineage
    for name, (mtime, record) in done_before.items():
        path = out / "chapters" / name
        assert path.stat().st_mtime_ns == mtime, f"{name} was written again"
        for run in record["runs"].values():   # and its runs were not retrained: the same weights
            from aeflow.runs import weights_digest
            assert weights_digest(out / run["path"]) == run["weights"]
    assert log.count("finished earlier, reused") == len(done_before)
    assert "report: " in log and "held" in log


def test_report_lists_every_chapter_and_judges_every_claim(lineage):
    out = lineage[0]
    report = json.loads((out / "report.json").read_text())
    assert [c["key"] for c in report["chapters"]] == [c.key for c in CHAPTERS]
    assert len(report["claims"]) == len(CLAIMS)
    for claim in report["claims"]:
        assert claim["verdict"] in ("held", "not held") and any(ch.isdigit() for ch in claim["measured"]), claim
    assert {g["name"] for g in report["comparison"]} >= {"autoencoder + GMM", "VAE prior", "one-step", "DDPM",
                                                          "flow matching", "reflow", "DCGAN", "latent flow"}
    markdown = (out / "report.md").read_text()
    assert all(c.title in markdown for c in CHAPTERS)


def test_report_opens_in_headless_chromium_with_every_image(lineage, chromium):
    out = lineage[0]
    with chromium() as (page, errors):
        page.goto((out / "report.html").as_uri())
        images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        claims = page.locator("#claim-table tr").count()
    assert not errors
    assert images and all(images)
    assert claims == len(CLAIMS) + 1


def test_each_generators_scores_are_kept_in_its_own_run(lineage):
    """The lineage writes a generator's sample scores where `aeflow eval` does (its run's summary.json), so the
    explorer and the CLI show them; a code prior's scores are not written into the autoencoder's run."""
    from aeflow.runs import read_summary

    out = lineage[0]
    report = json.loads((out / "report.json").read_text())
    by_key = {c["key"]: c for c in report["chapters"]}
    for key, run, name in (("ddpm", "ddpm", "DDPM"), ("flow", "flow", "flow matching"), ("vae", "beta-1", "VAE prior")):
        samples = read_summary(out / by_key[key]["runs"][run]["path"])["samples"]
        row = next(g for g in report["comparison"] if g["name"] == name)
        assert samples["fd"] == row["fd"] and samples["measured_by"] == "aeflow lineage"
    autoencoder = by_key["code-space"]["runs"]
    assert all("samples" not in read_summary(out / r["path"]) for r in autoencoder.values())


def test_recognisable_is_judged_on_classifier_confidence_against_test_images():
    """The two claims that read "recognisable" use one measure, so they cannot contradict each other: garbage is
    below 0.9x the test images' classifier confidence, recognisable at or above it."""
    from aeflow.studies.lineage.claims import _holes, _vae_recognisable

    def numbers(ae: float, vae: float) -> dict:
        return {"code-space": {"confidence_normal_codes": ae, "test_confidence": 0.99, "fd_normal_codes": 80.0,
                               "fd_reconstructions": 2.0, "fd_floor": 1.0, "n": 360},
                "vae": {"prior_confidence": vae, "test_confidence": 0.99, "prior_fd": 190.0}}

    assert _holes(numbers(0.6, 0.95))[0] and _vae_recognisable(numbers(0.6, 0.95))[0]
    assert not _vae_recognisable(numbers(0.6, 0.7))[0]            # the VAE's samples not read as digits either
    assert not _holes(numbers(0.95, 0.95))[0] and not _vae_recognisable(numbers(0.95, 0.95))[0]
    for ae, vae in ((0.6, 0.95), (0.95, 0.6), (0.6, 0.6), (0.95, 0.95)):   # never both "garbage" and "beaten"
        n = numbers(ae, vae)
        assert not (_vae_recognisable(n)[0] and not _holes(n)[0])
