"""The lineage end to end on the test budget: interrupted by a signal in the middle, continued by the same
command, with every chapter in the report, every claim judged with its numbers, finished chapters not
retrained; and report.html opened in a real headless Chromium."""

import json
import re
from dataclasses import replace

import pytest

from aeflow.errors import TrainingError
from aeflow.studies.lineage import records
from aeflow.studies.lineage.chapters import CHAPTERS
from aeflow.studies.lineage.claims import CLAIMS


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


def test_a_lineage_killed_and_continued_gives_the_records_of_one_never_stopped(lineage, uninterrupted_lineage):
    """Same command, same numbers: killed with SIGKILL in chapter 5 and continued, the lineage's every run has the
    weights of the lineage never stopped (their digests), and its every number is the same (times aside)."""
    import math
    import re

    def flat(value, key: str = "") -> dict:
        if isinstance(value, dict):
            return {k: v for name, item in value.items() for k, v in flat(item, f"{key}.{name}").items()}
        if isinstance(value, list):
            return {k: v for i, item in enumerate(value) for k, v in flat(item, f"{key}[{i}]").items()}
        return {key: value}

    def measured(record: dict) -> dict:
        kept = {"numbers": record["numbers"], "other_seeds": record["other_seeds"], "rows": record["generators"]}
        return {k: v for k, v in flat(kept).items() if not re.search(r"second|per_s|time|speed|wall", k)}

    chapters = sorted((uninterrupted_lineage / "chapters").glob("*.json"))
    assert len(chapters) == len(CHAPTERS)
    for path in chapters:
        never, again = (json.loads(p.read_text()) for p in (path, lineage[0] / "chapters" / path.name))
        assert {k: r["weights"] for k, r in never["runs"].items()} == \
            {k: r["weights"] for k, r in again["runs"].items()}, path.name
        a, b = measured(never), measured(again)
        assert a.keys() == b.keys(), path.name
        differ = [k for k in a if a[k] != b[k] and not (isinstance(a[k], float) and math.isnan(a[k]) and
                                                           isinstance(b[k], float) and math.isnan(b[k]))]
        assert not differ, (path.name, {k: (a[k], b[k]) for k in differ[:5]})


def test_report_lists_every_chapter_and_judges_every_claim(lineage):
    out = lineage[0]
    report = json.loads((out / "report.json").read_text())
    assert [c["key"] for c in report["chapters"]] == [c.key for c in CHAPTERS]
    assert len(report["claims"]) == len(CLAIMS)
    for claim in report["claims"]:
        assert claim["verdict"] in ("held", "not held", "unsettled"), claim
        assert any(ch.isdigit() for ch in claim["measured"]) and len(claim["margins"]) == claim["seeds"], claim
    by_key = {c["key"]: c for c in report["chapters"]}
    seeded = [c.key for c in CHAPTERS if c.seeded]
    assert all(len(by_key[k]["other_seeds"]) == 1 for k in seeded)   # the test budget's second seed
    assert all(any(r.startswith("seed-1/") for r in by_key[k]["runs"]) for k in seeded if by_key[k]["runs"])
    assert {c["claim"] for c in report["claims"] if c["chapter"] in seeded} and \
        all(c["seeds"] == 2 for c in report["claims"] if c["chapter"] in seeded)
    assert {g["name"] for g in report["comparison"]} >= {"autoencoder + GMM", "VAE prior", "one-step", "DDPM",
                                                          "flow matching", "reflow", "DCGAN", "latent flow",
                                                          "latent ddpm"}
    ddpm = next(g for g in report["comparison"] if g["name"] == "DDPM")   # respaced: 10 of its 20 steps
    assert (ddpm["nfe"], ddpm["sampler"], ddpm["label"]) == (10, "ddim", "ancestral, 10 of T = 20 steps"), ddpm
    one_step = json.loads((out / by_key["one-step"]["runs"]["onestep"]["path"] / "summary.json").read_text())
    assert one_step["n_train"] == 200   # the budget's onestep_images, below its train_subset of 300
    markdown = (out / "report.md").read_text()
    assert all(c.title in markdown for c in CHAPTERS)
    assert "- rate: " in markdown and "nats per image (KL(q(z|x) || N(0, I))" in markdown   # in words, with units
    assert not re.search(r"\b\w+\.\w+\.\w+\b:", markdown)   # no dotted key such as collapse.warm_up.rate
    assert "[{" not in markdown and "  - row 1" in markdown   # a list of records reads as nested rows, not JSON
    assert re.search(r"- prefix error: (\d+\.\d{3}, )+\d+\.\d{3} per image", markdown)   # numbers formatted


def test_report_opens_in_headless_chromium_with_every_image(lineage, chromium):
    out = lineage[0]
    with chromium() as (page, errors):
        page.goto((out / "report.html").as_uri())
        images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        claims = page.locator("#claim-table tr").count()
    assert not errors
    assert images and all(images)
    assert claims == len(CLAIMS) + 1


def test_every_explorer_panel_has_a_run_in_the_lineage_folder(lineage, chromium):
    """The lineage trains the whole story: on its folder no panel of the explorer is off, and none fails."""
    pytest.importorskip("fastapi")
    from aeflow.explore.app import create_app
    from tests.conftest import serving

    with serving(create_app([lineage[0]])) as url, chromium() as (page, errors):
        page.goto(url)
        page.wait_for_selector("nav a")
        links = page.eval_on_selector_all("nav a", "links => links.map(a => [a.dataset.key, a.className])")
    assert len(links) == 15 and not [key for key, cls in links if cls == "off"], links
    assert not errors


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
    # and every sampler setting's FD where `aeflow sweep steps` keeps its own, for the explorer's FD-vs-NFE plot
    flow = out / by_key["flow"]["runs"]["flow"]["path"]
    points = json.loads((flow / "steps-sweep" / "steps_sweep.json").read_text())
    assert {(p["sampler"], p["steps"]) for p in points} == {("euler", 2), ("midpoint", 1), ("heun", 2)}
    autoencoder = by_key["code-space"]["runs"]
    assert all("samples" not in read_summary(out / r["path"]) for r in autoencoder.values())


def test_recognisable_is_judged_on_the_judges_confidence_against_test_images():
    """The two claims that read "recognisable" use one measure, so they cannot contradict each other: garbage is
    below 0.9x the test images' confidence (the judge's), recognisable at or above it."""
    from aeflow.studies.lineage.claims import _holes, _vae_recognisable

    def numbers(ae: float, vae: float) -> dict:
        scored = records.Scored(fd=80.0, confidence=ae)
        code_space = records.CodeSpace(code_dim=10, noise_scale=0.1, code_std=0.5, noise_change=0.3, image_spread=9.0,
                                       relative_change=0.03, zeroed=5, reconstructions=records.Scored(2.0, 0.99),
                                       noisy_codes=scored, zeroed_half=scored, normal_codes=scored,
                                       test_confidence=0.99, fd_floor=1.0, n=360, measure=_measure())
        return {"code-space": code_space, "vae": _vae(prior_confidence=vae)}

    def held(judge, n) -> bool:
        return judge(n)[0] > 0

    assert held(_holes, numbers(0.6, 0.95)) and held(_vae_recognisable, numbers(0.6, 0.95))
    assert not held(_vae_recognisable, numbers(0.6, 0.7))            # the VAE's samples not read as digits either
    assert not held(_holes, numbers(0.95, 0.95)) and not held(_vae_recognisable, numbers(0.95, 0.95))
    for ae, vae in ((0.6, 0.95), (0.95, 0.6), (0.6, 0.6), (0.95, 0.95)):   # never both "garbage" and "beaten"
        n = numbers(ae, vae)
        assert not (held(_vae_recognisable, n) and not held(_holes, n))


def _measure(problems: tuple[str, ...] = ()) -> records.Measure:
    return records.Measure(judge="a judge", references={"test images": 0.97, "uniform noise": 0.1},
                           problems=list(problems))


def test_a_judge_that_fails_its_validation_judges_no_claim():
    """The claims that read "recognisable" wait for the judge's validation; a judge that reads the mean image as a
    digit leaves them "not judged", naming why, and every other claim judged as before."""
    from aeflow.eval.recognisability import validation_problems
    from aeflow.studies.lineage.claims import judge

    fine = {"test images": 0.97, "held-out training images": 0.96, "test images, blurred": 0.95,
            "the mean training image": 0.2, "uniform noise": 0.1, "test images, pixels shuffled": 0.3}
    assert validation_problems(fine) == []
    fooled = validation_problems({**fine, "the mean training image": 0.95})
    assert fooled == ["it reads the mean training image at 0.950, at least 0.9x the test images'"]
    assert validation_problems({**fine, "test images, blurred": 0.5}) and \
        validation_problems({**fine, "test images": 0.6})

    scored = records.Scored(fd=80.0, confidence=0.5)
    code_space = records.CodeSpace(code_dim=10, noise_scale=0.1, code_std=0.5, noise_change=0.3, image_spread=9.0,
                                   relative_change=0.03, zeroed=5, reconstructions=records.Scored(2.0, 0.99),
                                   noisy_codes=scored, zeroed_half=scored, normal_codes=scored, test_confidence=0.99,
                                   fd_floor=1.0, n=360, measure=_measure(tuple(fooled)))
    seeds = {"code-space": [code_space], "vae": [_vae()]}
    rows = {r.claim: r for r in judge(seeds, {"code-space": True, "vae": True})}
    assert rows["Random codes decode to garbage."].verdict == "not judged"
    assert "mean training image" in rows["Random codes decode to garbage."].measured
    assert rows["Small noise on the codes barely changes the image."].verdict == "held"
    seeds["code-space"] = [replace(code_space, measure=_measure())]
    rows = {r.claim: r for r in judge(seeds, {"code-space": True, "vae": True})}
    assert rows["Random codes decode to garbage."].verdict == "held"


def test_latent_claims_hold_and_fail_on_their_numbers():
    from aeflow.studies.lineage.claims import _latent_faster, _latent_near_decoder, _latent_vs_gmm

    def latent(fd: float, gmm: float = 20.0, reconstruction: float = 10.0, speedup: float = 3.0) -> dict:
        row = records.LatentRow(process="flow", label="heun-10", nfe=19, fd=fd, confidence=0.9, images_per_s=900.0)
        matched = records.SamplerPoint(label="midpoint-2", nfe=4, fd=fd, sampler="midpoint", options={"steps": 2})
        return {"latent": records.Latent(rows=[row], best=row, reconstruction_fd=reconstruction, gmm_fd=gmm,
                                         fd_floor=8.0, pixels=64, latent_dim=10, compression=6.4,
                                         images_per_s_pixel=300.0, pixel_matched=matched, speedup=speedup)}

    assert _latent_vs_gmm(latent(15.0))[0] > 0 and _latent_vs_gmm(latent(25.0))[0] < 0
    assert _latent_near_decoder(latent(15.0))[0] > 0 and _latent_near_decoder(latent(21.0))[0] < 0
    assert _latent_faster(latent(15.0))[0] > 0 and _latent_faster(latent(15.0, speedup=0.5))[0] < 0


def _vae(prior_confidence: float = 0.95, without: int = 0, with_: int = 3) -> records.VAE:
    def trained(units: int) -> records.Trained:
        return records.Trained(active_units=units, rate=0.1 * units, distortion=30.0)

    sweep = [records.BetaRow(beta=b, rate=4 / b, distortion=20 + b, active_units=8, mutual_information=3 / b,
                             marginal_kl=0.1, log_n=5.9, prior_confidence=0.9, prior_fd=100.0) for b in (0.5, 1, 2)]
    return records.VAE(sweep=sweep, prior_fd=190.0, prior_confidence=prior_confidence, test_confidence=0.99,
                       prior_precision=0.5, prior_recall=0.3, prior_sharpness=0.4, test_sharpness=1.0,
                       collapse=records.WarmUpPair(1.0, 8, "autoregressive", trained(without), trained(with_)),
                       contrast=records.WarmUpPair(20.0, 8, "factorised", trained(0), trained(0)))


def test_verdicts_over_seeds():
    """Held or not held only when every seed agrees by more than twice the seed-to-seed spread; one seed says so."""
    from aeflow.studies.lineage.claims import verdict

    assert verdict([0.3, 0.32, 0.28]) == "held"
    assert verdict([-0.3, -0.32, -0.28]) == "not held"
    assert verdict([0.3, -0.1, 0.2]) == "unsettled"              # the seeds disagree
    assert verdict([0.05, 0.2, 0.01]) == "unsettled"             # all held, by less than the spread
    assert verdict([0.0, 0.0, 0.0]) == "not held"                # exactly at the threshold on every seed
    assert verdict([0.01]) == "held" and verdict([-0.01]) == "not held"


def _judge(claim_text: str, numbers: dict) -> float:
    from aeflow.studies.lineage.claims import CLAIMS

    return next(c for c in CLAIMS if c.text == claim_text).judge(numbers)[0]


def test_regularised_claims_hold_and_fail_on_their_numbers():
    base = records.Regularised(
        noise=0.3, restoration_error={"plain": 5.0, "denoising": 3.0},
        code_sensitivity_per_code_std={"plain": 2.0, "contractive": 1.0},
        top_k=records.TopK(k=16, code_dim=256, fraction_exactly_k=1.0, mean_active=16.0, dead_fraction=0.02,
                           dead_after=20_000, revived_dead_after=1437, revived_dead_fraction=0.01),
        codebook=records.Codebook(size=64, perplexity_train=40.0, dead_fraction_train=0.1), mask_ratio=0.75,
        masked_error=2.0, mean_fill_error=4.0, prefix_error=[9.0, 7.0, 5.5, 5.0], test_error={"plain": 1.0})
    failing = {"The denoising autoencoder restores corrupted images better than the plain one.":
               {"restoration_error": {"plain": 3.0, "denoising": 5.0}},
               "The contractive autoencoder's code moves less when its input moves.":
               {"code_sensitivity_per_code_std": {"plain": 1.0, "contractive": 2.0}},
               "The ordered autoencoder's error falls with every code unit it keeps.":
               {"prefix_error": [9.0, 7.0, 7.2, 5.0]},
               "Top-k keeps exactly k units active, and its units are used.":
               {"top_k": replace(base.top_k, dead_fraction=0.4)},
               "The VQ-VAE uses most of its codebook.": {"codebook": replace(base.codebook, dead_fraction_train=0.7)},
               "The masked autoencoder fills hidden patches better than the mean image.": {"masked_error": 5.0}}
    for text, fields in failing.items():
        assert _judge(text, {"regularised": base}) > 0, text
        assert _judge(text, {"regularised": replace(base, **fields)}) <= 0, text


def test_byhand_names_each_models_own_gap_and_fails_on_either():
    """The final-loss tolerance applies to each model; the sentence and the follow-up give each model's gap, so a
    reader never reads the autoencoder's gap as the VAE's."""
    from aeflow.studies.lineage.claims import CLAIMS

    def numbers(ae_gap: float, vae_gap: float) -> dict:
        def model(gap: float, torch_loss: float) -> records.HandAndTwin:
            return records.HandAndTwin(final_loss_numpy=torch_loss * (1 + gap), final_loss_torch=torch_loss,
                                       relative_difference=gap, early_relative_difference=1e-15, first_loss=30.0,
                                       test_loss_numpy=21.0, steps=1320, seconds_numpy=1.0, seconds_torch=1.0)
        return {"byhand": records.ByHand(models={"autoencoder": model(ae_gap, 20.0), "vae": model(vae_gap, 26.0)},
                                         lr=0.05, momentum=0.9, batch_size=32, epochs=40)}

    claim = next(c for c in CLAIMS if c.chapter == "byhand")
    assert claim.judge(numbers(0.002, 0.003))[0] > 0
    margin, words = claim.judge(numbers(0.0369, 0.0013))
    assert margin < 0 and "autoencoder 20.7380 vs 20.0000 (3.69% apart)" in words and "(0.13% apart)" in words
    assert claim.judge(numbers(0.001, 0.05))[0] < 0
    follow_up = claim.follow_up([numbers(0.0369, 0.0013), numbers(0.007, 0.002)])
    assert "autoencoder 3.69%, 0.70% apart" in follow_up and "VAE 0.13%, 0.20% apart" in follow_up


def test_warm_up_is_judged_at_beta_1_with_the_autoregressive_decoder():
    text = "KL warm-up prevents posterior collapse."
    assert _judge(text, {"vae": _vae(without=0, with_=3)}) > 0
    assert _judge(text, {"vae": _vae(without=2, with_=2)}) <= 0 and _judge(text, {"vae": _vae(without=3, with_=1)}) < 0


def test_chapter_records_round_trip_and_refuse_another_shape():
    """A record written as JSON reads back equal and typed; a record of another shape (a field missing, a list
    where a number was, an earlier version's keys) is refused by name, and its chapter is done again."""
    from aeflow.config import to_dict
    from aeflow.errors import ConfigError
    from aeflow.studies.lineage.records import read_numbers

    vae = _vae()
    assert read_numbers("vae", json.loads(json.dumps(to_dict(vae)))) == vae
    broken = to_dict(vae)
    broken["collapse"]["warm_up"]["active_units"] = [3]
    for numbers in (broken, {**to_dict(vae), "prior_fd": "190"}, {"best_fd_20": 10.0}):
        with pytest.raises(ConfigError):
            read_numbers("vae", numbers)
    assert read_numbers("ddpm", {}) is None   # a chapter that did not apply


def test_every_number_of_every_record_has_a_unit_and_a_meaning():
    """The report's words for a number are its field's metadata (`records.number`): none may lack them."""
    from dataclasses import fields, is_dataclass
    from typing import get_args, get_type_hints

    seen, missing, todo = set(), [], list(records.RECORDS.values())
    while todo:
        record = todo.pop()
        if record in seen:
            continue
        seen.add(record)
        for f in fields(record):
            if not f.metadata.get("means"):
                missing.append(f"{record.__name__}.{f.name}")
            hint = get_type_hints(record)[f.name]
            todo += [t for t in (hint, *get_args(hint), *[a for g in get_args(hint) for a in get_args(g)])
                     if is_dataclass(t)]
    assert not missing, f"record fields without their words (records.number): {missing}"


def flatten(numbers: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested numbers as (dotted name, value) pairs, to compare two records number by number."""
    rows = []
    for key, value in numbers.items():
        rows += flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else [(f"{prefix}{key}", value)]
    return rows


def test_seeds_in_worker_processes_give_what_one_process_gives(tmp_path):
    """A seeded chapter's other seeds, run in worker processes beside seed 0, give the records and runs that one
    process gives one seed after another (to float rounding: a worker trains with its share of the threads), in
    seed order."""
    from aeflow.studies.lineage.book import open_book
    from aeflow.studies.lineage.budgets import budget_for
    from aeflow.studies.lineage.workers import Setup, lineage_workers, run_seeds

    budget = replace(budget_for("test", "digits"), seeds=3)
    chapter = next(c for c in CHAPTERS if c.key == "swiss-roll")
    written = {}
    for name, count in (("one-process", 0), ("workers", 2)):
        setup = Setup(tmp_path / name, "digits", budget, None, False, "test")
        book = open_book(setup.out, "digits", budget, None, False, False, "test")
        book.begin(7, chapter)
        with lineage_workers(count, setup) as workers:
            run_seeds(book, chapter, workers)
        written[name] = book.current
    alone, beside = written["one-process"], written["workers"]
    assert list(beside.runs) == list(alone.runs) and len(beside.other_seeds) == 2
    assert all(run.path.startswith("07-swiss-roll/") for run in beside.runs.values())
    for numbers_alone, numbers_beside in zip([alone.numbers, *alone.other_seeds],
                                             [beside.numbers, *beside.other_seeds]):
        assert dict(flatten(numbers_beside)) == pytest.approx(dict(flatten(numbers_alone)), rel=1e-3, abs=1e-4)
    assert alone.other_seeds[0] != alone.other_seeds[1]   # the seeds differ: each worker ran its own


def test_workers_run_only_where_the_work_takes_longer_than_starting_one(monkeypatch):
    from aeflow.studies.lineage.budgets import budget_for
    from aeflow.studies.lineage.workers import default_workers

    monkeypatch.setattr("aeflow.studies.lineage.workers.cores", lambda: 2)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert default_workers(budget_for("cpu", "digits")) == 2         # 3 seeds, about 95 s a seed
    assert default_workers(budget_for("test", "digits")) == 0        # seconds a seed: a worker's start costs more
    assert default_workers(budget_for("cpu", "mnist")) == 1          # one seed: a lane of chapters beside
    assert default_workers(replace(budget_for("cpu", "mnist"), seconds={"vae": 100})) == 0   # under two minutes
    monkeypatch.setattr("aeflow.studies.lineage.workers.cores", lambda: 1)
    assert default_workers(budget_for("cpu", "digits")) == 0
    monkeypatch.setattr("aeflow.studies.lineage.workers.cores", lambda: 16)
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert default_workers(budget_for("cpu", "digits")) == 0         # the chapters train on the GPU


def test_a_lane_failing_in_its_worker_is_said_at_once(capsys):
    """The lineage's own lane may run for half an hour more: a worker lane's failure is said when it happens."""
    from concurrent.futures import Future

    from aeflow.studies.lineage.lanes import _say_if_failed

    done, failed = Future(), Future()
    done.set_result(None)
    failed.set_exception(TrainingError("ddpm: out of memory"))
    _say_if_failed(done)
    assert capsys.readouterr().err == ""
    _say_if_failed(failed)
    err = capsys.readouterr().err
    assert "a lane of chapters stopped in its worker (ddpm: out of memory)" in err and "same command again" in err


def test_chapters_in_lanes_give_what_one_process_gives(tmp_path, monkeypatch, capsys):
    """With one seed and a worker, the chapters run in two lanes side by side, a chapter in the lane of the
    chapters it reads; the records are those one process writes in order (to float rounding)."""
    from aeflow.studies.lineage import lanes
    from aeflow.studies.lineage.book import open_book
    from aeflow.studies.lineage.budgets import budget_for
    from aeflow.studies.lineage.workers import Setup, lineage_workers

    chosen = [c for c in CHAPTERS if c.key in ("compression", "code-space", "swiss-roll", "one-step")]
    monkeypatch.setattr(lanes, "CHAPTERS", chosen)
    budget = replace(budget_for("test", "digits"), seeds=1,
                     seconds={"compression": 5, "code-space": 5, "swiss-roll": 5, "one-step": 20})
    assert [[c.key for _, c in lane] for lane in lanes.split(chosen, budget.seconds, 2)] == \
        [["compression", "code-space", "swiss-roll"], ["one-step"]]   # code-space reads compression: one lane
    results = {}
    for name, count in (("one-process", 0), ("lanes", 1)):
        setup = Setup(tmp_path / name, "digits", budget, None, False, "test")
        book = open_book(setup.out, "digits", budget, None, False, False, "test")
        with lineage_workers(count, setup) as workers:
            lanes.run_chapters(book, setup, workers)
        results[name] = book.results
    assert "in a worker process beside this one: One step from noise" in capsys.readouterr().err
    alone, beside = results["one-process"], results["lanes"]
    assert list(beside) == list(alone) == ["compression", "code-space", "swiss-roll", "one-step"]
    for key in alone:
        assert beside[key].runs.keys() == alone[key].runs.keys()
        a, b = dict(flatten(alone[key].numbers)), dict(flatten(beside[key].numbers))
        numbers = {k for k, v in a.items() if isinstance(v, (int, float))}
        assert {k: b[k] for k in numbers} == pytest.approx({k: a[k] for k in numbers}, rel=1e-3, abs=1e-4), key
        assert {k: b[k] for k in a.keys() - numbers} == {k: a[k] for k in a.keys() - numbers}, key


def test_the_ending_ranks_by_fd_prices_the_latent_road_with_its_autoencoder_and_says_each_target():
    from dataclasses import fields

    from aeflow.studies.lineage.book import LATENT_ROAD, PIXEL_ROAD, PRIOR_ROAD, RoutedRow
    from aeflow.studies.lineage.run import ending

    def row(name: str, route: str, fd: float, confidence: float = 0.9, rarest: float = 0.08) -> RoutedRow:
        zeros = {f.name: 0 for f in fields(RoutedRow) if f.name not in ("options", "fd_judge", "fd_judge_floor")}
        return RoutedRow(**{**zeros, "name": name, "route": route, "fd": fd, "fd_real_floor": 10.0,
                            "confidence": confidence, "test_confidence": 1.0, "train_time_s": 50.0,
                            "min_class_fraction": rarest})

    rows = [row("autoencoder + GMM", PRIOR_ROAD, 30.0), row("DCGAN", PIXEL_ROAD, 50.0, rarest=0.01),
            row("latent ddpm", LATENT_ROAD, 18.0, confidence=0.97), row("flow matching", PIXEL_ROAD, 45.0)]
    end = ending(rows, autoencoder_seconds=100.0)
    assert [g.name for g in end.rows] == ["latent ddpm", "autoencoder + GMM", "flow matching", "DCGAN"]
    assert [g.cost_s for g in end.rows] == [150.0, 50.0, 50.0, 50.0]
    assert end.best == {LATENT_ROAD: "latent ddpm", PRIOR_ROAD: "autoencoder + GMM", PIXEL_ROAD: "flow matching"}
    met = {t.target.split(",")[0]: t.met for t in end.targets}
    assert met == {"the best generator's FD": True, "the most recognisable generator's confidence": True,
                   "the best noise-to-pixels generator's FD": False, "the GAN's rarest class": False,
                   "the best noise-to-data or latent generator's FD": True}
