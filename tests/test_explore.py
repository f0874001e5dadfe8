"""The explorer: every endpoint with good and bad input on runs trained here (digits, seconds), never a 5xx,
nothing written into a run; and every panel in real headless Chromium, its control moved, its picture
changed, no console error."""

import pytest

import aeflow
from aeflow.studies.reproduce.swissroll import reproduce_swissroll

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from aeflow.explore.app import create_app  # noqa: E402
from tests.conftest import serving  # noqa: E402

FAST = {"epochs": 2, "batch_size": 64, "progress": False}
RUNS = {
    "vae-2d": ("vae", {"hidden": [32], "latent_dim": 2, "beta": 1.0}),
    "vae-beta4": ("vae", {"hidden": [32], "latent_dim": 2, "beta": 4.0}),
    "autoencoder": ("autoencoder", {"hidden": [32], "code_dim": 6}),
    "ordered": ("ordered-ae", {"hidden": [32], "code_dim": 6}),
    "sparse": ("sparse-ae", {"code_dim": 32, "k": 4, "sparsity": "topk"}),
    "denoising": ("denoising-ae", {"hidden": [32], "code_dim": 6}),
    "vq": ("vq-vae", {"channels": [8, 16], "codebook_size": 16}),
    "mae": ("mae", {"dim": 16, "depth": 1, "heads": 2, "decoder_dim": 16}),
    "flow": ("flow", {"network": "mlp", "hidden": [32]}),
    "ddpm": ("ddpm", {"network": "mlp", "hidden": [32], "timesteps": 20, "schedule": "cosine"}),
    "gan": ("dcgan", {}),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore") / "runs"
    for name, (model, options) in RUNS.items():
        aeflow.train(aeflow.make_config(model, "digits", options, FAST, train_subset=300), root / name)
    aeflow.train(aeflow.make_config("latent-flow", "digits", {"autoencoder_run": str(root / "vae-2d"),
                                                              "process_config": {"hidden": [16]}}, FAST,
                                    train_subset=300), root / "latent")
    reproduce_swissroll(out=root / "swissroll", epochs=2, progress=False)
    return root


@pytest.fixture(scope="module")
def client(folder):
    return TestClient(create_app([folder]))


@pytest.fixture(scope="module")
def ids(client):
    return {r["name"].split("/", 1)[1]: r["id"] for r in client.get("/api/runs").json()}


def test_the_discriminator_scores_real_and_generated_images_and_its_curve(client, ids):
    answer = client.get(f"/api/runs/{ids['gan']}/discriminator?n=5").json()
    assert len(answer["real_scores"]) == len(answer["fake_scores"]) == 5
    assert all(0 <= v <= 1 for v in answer["real_scores"] + answer["fake_scores"])
    assert answer["epoch"] == [1, 2] and len(answer["d_real"]) == len(answer["d_fake"]) == 2


def test_nearest_training_images_are_nearest_first(client, ids):
    answer = client.get(f"/api/runs/{ids['vae-2d']}/nearest?z=0.3,0.1&k=4").json()
    assert len(answer["indices"]) == len(answer["labels"]) == 4
    assert answer["distances"] == sorted(answer["distances"]) and answer["distances"][0] > 0


def test_the_trajectory_says_which_steps_it_shows(client, ids):
    every = client.get(f"/api/runs/{ids['flow']}/trajectory?sampler=euler&steps=8&columns=4").json()
    times = [s["t"] for s in every["shown"]]
    assert every["steps"] >= 8 and len(times) == 4 and times == sorted(times) and times[-1] == 1.0
    listed = client.get(f"/api/runs/{ids['flow']}/trajectory?sampler=euler&steps=8&columns=20").json()["shown"]
    one = client.get(f"/api/runs/{ids['flow']}/trajectory?sampler=euler&steps=8&frame=3").json()["shown"]
    assert [s["index"] for s in one] == [listed[3]["index"]]   # more columns than steps: every step is listed


def test_runs_are_listed_with_capabilities_and_numbers(client, ids):
    runs = {r["name"].split("/", 1)[1]: r for r in client.get("/api/runs").json()}
    assert set(RUNS) | {"latent", "swissroll/autoencoder", "swissroll/pca"} <= set(runs)
    assert "posterior" in runs["vae-2d"]["capabilities"] and runs["vae-2d"]["code_dim"] == 2
    assert runs["flow"]["samplers"] == ["euler", "midpoint", "heun", "adaptive"]
    assert runs["vq"]["default_source"] == "categorical"
    assert runs["autoencoder"]["numbers"]["test_recon_error"] > 0


GOOD = [
    ("vae-2d", "image.png?index=3&recon=true"), ("vae-2d", "codes?n=50"), ("vae-2d", "decode.png?z=0.5,-1"),
    ("vae-2d", "manifold.png?size=4"), ("vae-2d", "interpolate.png?a=0&b=5&mode=spherical"),
    ("autoencoder", "perturb.png?index=2&scale=0.5&zero=3"), ("autoencoder", "samples.png?source=normal&n=8"),
    ("autoencoder", "samples.png?source=gmm&n=8"), ("vae-2d", "samples.png?source=normal&n=8&temperature=0.5"),
    ("vae-2d", "posterior?indices=0,1&dims=0,1"), ("vae-2d", "epsilon.png?index=1&eps=0.5,-0.5"),
    ("vae-2d", "traverse.png?dim=1&index=2"), ("vae-2d", "activity"), ("ordered", "prefix?k=3"),
    ("ordered", "prefix.png?k=2"), ("sparse", "sparse?k=4"), ("sparse", "sparse.png?k=2"),
    ("denoising", "denoise?kind=masking&level=0.5"), ("denoising", "denoise.png?kind=salt_pepper"),
    ("vq", "codebook"), ("vq", "tokens?index=4"), ("vq", "swap.png?position=1&code=3"), ("vq", "samples.png?n=4"),
    ("mae", "mask.png?ratio=0.5"), ("flow", "samples.png?sampler=midpoint&steps=3&shift=2&n=4"),
    ("flow", "trajectory.png?sampler=euler&steps=4"), ("flow", "trajectory.png?steps=4&frame=2"),
    ("ddpm", "trajectory.png?sampler=ddim&steps=3"), ("ddpm", "samples.png?sampler=ddpm&n=2"), ("flow", "sweep"),
    ("latent", "pipeline"), ("latent", "pipeline.png?steps=3"), ("latent", "samples.png?n=4&steps=2"),
    ("gan", "discriminator?start=5&n=4&seed=2"), ("gan", "discriminator.png?n=3"),
    ("vae-2d", "nearest?z=0.5,-1&k=3"), ("vae-2d", "nearest.png?z=0,0"), ("ddpm", "trajectory?sampler=ddim&steps=3"),
]


@pytest.mark.parametrize("run, path", GOOD)
def test_endpoint_answers(client, ids, run, path):
    response = client.get(f"/api/runs/{ids[run]}/{path}")
    assert response.status_code == 200, response.text
    if ".png" in path:
        assert response.headers["content-type"] == "image/png" and response.content[:4] == b"\x89PNG"


def test_swissroll_endpoint(client):
    data = client.get("/api/swissroll").json()
    assert len(data["points"]) == len(data["pca"]) == len(data["autoencoder"]) == len(data["t"])
    assert 0 < data["pca_trustworthiness"] <= 1


BAD = [
    ("vae-2d", "decode.png?z=1"), ("vae-2d", "decode.png?z=nan,1"), ("vae-2d", "decode.png?z=a,b"),
    ("vae-2d", "decode.png?z=1e9,0"), ("vae-2d", "image.png?index=99999"), ("vae-2d", "image.png?index=-1"),
    ("autoencoder", "perturb.png?scale=inf"), ("autoencoder", "perturb.png?zero=99"),
    ("autoencoder", "samples.png?n=100000"), ("autoencoder", "samples.png?source=uniform"),
    ("autoencoder", "samples.png?temperature=nan"), ("autoencoder", "posterior"), ("autoencoder", "codebook"),
    ("flow", "samples.png?sampler=ddim"), ("flow", "samples.png?steps=0"), ("flow", "samples.png?sampler=bogus"),
    ("flow", "samples.png?eta=0.5"), ("flow", "trajectory.png?frame=-1&steps=2"),
    ("ddpm", "samples.png?sampler=ddpm&n=64"),
    ("vae-2d", "posterior?dims=0,5"), ("vae-2d", "posterior?indices=x"), ("vae-2d", "traverse.png?dim=9"),
    ("ordered", "prefix?k=99"), ("sparse", "sparse?k=0"), ("denoising", "denoise?kind=fire"),
    ("denoising", "denoise?level=7"), ("vq", "swap.png?code=9999"), ("mae", "mask.png?ratio=1.5"),
    ("autoencoder", "manifold.png"), ("flow", "pipeline"), ("autoencoder", "sparse"), ("autoencoder", "mask.png"),
    ("flow", "discriminator"), ("gan", "discriminator?n=17"), ("gan", "discriminator.png?start=99999"),
    ("vae-2d", "nearest?z=0,0&k=99"), ("flow", "nearest?z=0,0"), ("vae-2d", "nearest.png?z=1"),
]


@pytest.mark.parametrize("run, path", BAD)
def test_bad_input_gets_a_4xx_with_a_message(client, ids, run, path):
    response = client.get(f"/api/runs/{ids[run]}/{path}")
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["detail"]


def test_unknown_runs_and_paths_are_refused(client):
    assert client.get("/api/runs/../../etc/passwd/image.png").status_code == 404
    response = client.get("/api/runs/0123456789/image.png")
    assert response.status_code == 422 and "run_id" in response.text   # not one of the runs found


def test_nothing_is_written_into_the_runs(folder, client, ids):
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    client.get(f"/api/runs/{ids['vae-2d']}/samples.png?source=gmm&n=4")   # fits a prior: kept in memory only
    client.get(f"/api/runs/{ids['flow']}/samples.png?n=4")
    after = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    assert before == after


@pytest.fixture(scope="module")
def server(folder):
    with serving(create_app([folder])) as url:
        yield url


# panel -> (a control to move (the data-key of an input or select), the image or canvas that must change)
PANELS = {
    "plane": ("b", "#interp"), "codespace": ("scale", "#perturb"), "gallery": ("temperature", "#gallery"),
    "beta": ("beta_index", "#beta_samples"), "cloud": ("e0", "#epsilon"), "traversal": ("dim", "#traverse"),
    "prefix": ("k", "#prefix"), "sparse": ("k", "#sparse"), "denoiser": ("level", "#denoise"),
    "vq": ("code", "#swap"), "mask": ("ratio", "#mask"), "swissroll": ("angle", "#roll"),
    "noise": ("frame", "#frame"), "pipeline": ("seed", "#pipe"), "gan": ("seed", "#judged"),
}


@pytest.mark.parametrize("panel", list(PANELS))
def test_panel_in_headless_chromium(server, panel, chromium):
    key, target = PANELS[panel]
    with chromium() as (page, errors):
        page.goto(f"{server}#panel={panel}")
        page.wait_for_load_state("networkidle")
        assert page.locator(".hint").count() == 0, page.locator("main").inner_text()
        before = _picture(page, target)
        control = page.locator(f"[data-key='{key}']")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(index=1)
        else:
            control.evaluate("e => { e.value = e.value === e.min ? e.max : e.min;"
                             " e.dispatchEvent(new Event('input')); }")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        after = _picture(page, target)
    assert not errors, errors
    assert before != after, f"{panel}: {target} did not change when {key} moved"


def test_a_reply_for_a_panel_left_is_dropped(server, chromium):
    """A slow reply that lands after its panel was left must not touch the panel shown now (it once threw
    'Cannot set properties of null' when a user switched panels quickly)."""
    held = []
    with chromium() as (page, errors):
        page.goto(f"{server}#panel=noise")
        page.wait_for_selector("#frame")
        page.route("**/pipeline", lambda route: held.append(route))
        page.click("nav a[data-key='pipeline']")
        page.wait_for_selector("#pipe")
        for _ in range(50):
            if held:
                break
            page.wait_for_timeout(100)
        page.click("nav a[data-key='noise']")
        page.wait_for_selector("#frame")
        assert held, "the pipeline panel asked for nothing"
        held[0].continue_()
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        assert page.locator("#frame").count() == 1
    assert not errors, errors


def test_each_panel_keeps_its_own_view_in_the_url(server, chromium):
    """A link opens one panel's view; another panel starts from its own defaults (no seed leaks across), and
    coming back restores the first panel's view, in the page and in the URL."""
    seed = "[data-key='seed']"
    with chromium() as (page, errors):
        page.goto(f"{server}#panel=pipeline&seed=7")
        page.wait_for_selector(seed)
        assert page.locator(seed).input_value() == "7"
        page.click("nav a[data-key='noise']")
        page.wait_for_selector("#frame")
        noise = (page.locator(seed).input_value(), page.evaluate("location.hash"))
        page.click("nav a[data-key='pipeline']")
        page.wait_for_selector("#pipe")
        back = (page.locator(seed).input_value(), page.evaluate("location.hash"))
    assert not errors, errors
    assert noise[0] == "0" and "panel=noise" in noise[1] and "seed=7" not in noise[1], noise
    assert back[0] == "7" and "panel=pipeline" in back[1] and "seed=7" in back[1], back


def test_run_ids_survive_a_moved_folder(folder, tmp_path):
    """A link names runs by id: the same folder served from elsewhere gives every run the same id."""
    import shutil

    from aeflow.explore.runs import find_runs

    moved = tmp_path / "elsewhere" / "runs"
    shutil.copytree(folder, moved)
    ids = {r.name: rid for rid, r in find_runs([folder]).items()}
    assert ids == {r.name: rid for rid, r in find_runs([moved]).items()}
    assert len(set(ids.values())) == len(ids)


def _picture(page, selector: str) -> str:
    """What the element shows: an image's loaded pixels, or a canvas's."""
    page.wait_for_function("""s => { const e = document.querySelector(s);
        return e && (e.tagName === 'CANVAS' || (e.complete && e.naturalWidth > 0)); }""", arg=selector)
    return page.evaluate("""s => { const e = document.querySelector(s); const c = document.createElement('canvas');
        c.width = e.naturalWidth || e.width; c.height = e.naturalHeight || e.height;
        c.getContext('2d').drawImage(e, 0, 0); return c.toDataURL(); }""", selector)


def test_a_run_that_cannot_be_read_is_listed_with_its_reason_and_the_others_work(folder, tmp_path):
    """A damaged run (weights of another model, a summary.json field of the wrong type, a config that is not
    YAML) turns its own panels off with a one-line reason; the run list and every other run still answer."""
    import shutil

    root = tmp_path / "runs"
    for name in ("vae-2d", "autoencoder", "flow"):
        shutil.copytree(folder / name, root / name)
    for name, damage in (("weights", lambda p: (p / "model.safetensors").write_bytes(b"not safetensors")),
                         ("summary", lambda p: (p / "summary.json").write_text('{"samples": [1], "final": 3, '
                                                                                  '"test_recon_error": "x"}')),
                         ("config", lambda p: (p / "config.yaml").write_text("model: [unclosed"))):
        shutil.copytree(folder / "autoencoder", root / f"broken-{name}")
        damage(root / f"broken-{name}")
    client = TestClient(create_app([root]))
    listed = client.get("/api/runs")
    assert listed.status_code == 200
    runs = {r["name"].split("/", 1)[1]: r for r in listed.json()}
    assert runs["broken-weights"]["problem"] and "model.safetensors" in runs["broken-weights"]["problem"]
    assert runs["broken-config"]["problem"] and "config.yaml" in runs["broken-config"]["problem"]
    assert runs["broken-summary"]["problem"] is None and runs["broken-summary"]["numbers"]["test_recon_error"] is None
    answer = client.get(f"/api/runs/{runs['broken-weights']['id']}/samples.png?source=normal&n=4")
    assert answer.status_code == 409 and "cannot be used" in answer.json()["detail"]
    assert client.get(f"/api/runs/{runs['vae-2d']['id']}/samples.png?n=4").status_code == 200
    assert client.get(f"/api/runs/{runs['broken-summary']['id']}/samples.png?source=normal&n=4").status_code == 200


def test_the_explorer_honours_or_refuses_every_sampling_option(client, ids):
    """Options a source does not take are refused (409: well formed, but not for this run), never dropped nor
    turned into another source: a temperature on a sampler or on a VAE's own prior (the one sampling policy,
    SampleRequest, says so as it does for `aeflow sample`), steps on the ddpm sampler, DDIM steps beyond T."""
    for run, query, words in (("flow", "samples.png?n=4&temperature=0.5", "takes no temperature"),
                              ("vae-2d", "samples.png?n=4&temperature=0.5", "--prior normal --temperature T"),
                              ("ddpm", "samples.png?n=2&sampler=ddpm&steps=5", "runs every one of the model's T"),
                              ("ddpm", "samples.png?n=2&sampler=ddim&steps=50", "T = 20 steps"),
                              ("ddpm", "trajectory.png?sampler=ddpm&steps=4", "runs every one of the model's T")):
        answer = client.get(f"/api/runs/{ids[run]}/{query}")
        assert answer.status_code == 409 and words in answer.json()["detail"], (query, answer.text)
    assert client.get(f"/api/runs/{ids['ddpm']}/trajectory.png?sampler=ddpm").status_code == 200


def test_the_run_list_is_made_without_loading_weights(folder):
    """What a run can do comes from its config, built on the meta device, and its weights file's header: the
    page answers before any model loads; a run's weights load when a panel first uses it."""
    from aeflow.explore.runs import find_runs

    runs = {r.name.split("/", 1)[1]: r for r in find_runs([folder]).values()}
    described = {name: run.describe() for name, run in runs.items()}
    assert described["vae-2d"]["code_dim"] == 2 and "posterior" in described["vae-2d"]["capabilities"]
    assert described["flow"]["sampler_options"]["euler"] == ["steps", "shift", "churn"]
    assert not any("model" in run.__dict__ for run in runs.values())
    assert runs["vae-2d"].usable() and "model" in runs["vae-2d"].__dict__


@pytest.mark.parametrize("route", ["samples.png?sampler=euler&steps=200&n=64", "trajectory.png?sampler=euler&steps=50"])
def test_a_dropped_request_stops_its_work(server, ids, monkeypatch, route):
    """The client leaves after 0.5 s of a request that would take several seconds: the server stops at its next
    sampler step (it checks every 0.1 s whether anyone is waiting) instead of computing on for nobody."""
    import time

    import httpx

    from aeflow.samplers import flow

    steps = []
    iterate = flow.Euler.iterate

    def slow(self, *args, **kwargs):   # 0.05 s a step: the request takes 10 s (samples) or 2.5 s (trajectory)
        for step in iterate(self, *args, **kwargs):
            time.sleep(0.05)
            steps.append(step.index)
            yield step

    monkeypatch.setattr(flow.Euler, "iterate", slow)
    with pytest.raises(httpx.TimeoutException):
        httpx.get(f"{server}api/runs/{ids['flow']}/{route}", timeout=0.5)
    time.sleep(1.0)
    done = len(steps)
    time.sleep(1.0)
    assert len(steps) == done < 40, f"{done} steps done, {len(steps)} a second later: the work went on"


def test_generated_requests_find_nothing_with_every_schemathesis_check(server, tmp_path):
    """The schema says what the server does: schemathesis's every check (no 5xx, every status and content type
    documented, every body as its model says, schema-valid requests accepted or refused with a documented
    reason, invalid ones rejected) on requests generated from /openapi.json, against the live server."""
    pytest.importorskip("schemathesis", reason="schemathesis is not installed (it is in the test extra)")
    import subprocess
    import sys
    from pathlib import Path

    command = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{server.rstrip('/')}/openapi.json",
               "--checks", "all", "--max-examples", "25", "--phases", "examples,coverage,fuzzing",
               "--request-timeout", "60", "--generation-deterministic"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)   # its cache there
    failures = done.stdout[done.stdout.find("FAILURES"):]
    assert done.returncode == 0, "\n".join(line[:300] for line in failures.splitlines()[-80:])
