import json
import math

import pytest
import torch

import aeflow
from aeflow.config import WeightSchedule
from aeflow.errors import ConfigError
from aeflow.eval.latent import (
    active_units,
    interpolate,
    noise_sweep,
    posterior_and_prior_samples,
    traversal,
    truncation_sweep,
)
from aeflow.models.registry import build_model
from aeflow.nn.distributions import gaussian_kl
from aeflow.priors import GMMPrior, NormalPrior, decoded_samples
from aeflow.priors.gmm import GMMConfig


def test_closed_form_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.tensor([0.7, -1.2]), torch.tensor([-0.5, 0.8])
    std = (0.5 * logvar).exp()
    z = mu + std * torch.randn(400_000, 2, generator=g)
    log_q = torch.distributions.Normal(mu, std).log_prob(z)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z)
    mc = (log_q - log_p).mean(0)
    assert torch.allclose(gaussian_kl(mu, logvar), mc, atol=0.01)


def test_reparameterised_gradient_matches_the_analytic_one():
    # d/dmu E_{z ~ N(mu, s^2)}[z^2] = 2 mu, estimated through z = mu + s * eps.
    mu = torch.tensor(0.8, requires_grad=True)
    eps = torch.randn(200_000, generator=torch.Generator().manual_seed(0))
    (mu + 0.5 * eps).pow(2).mean().backward()
    assert mu.grad.item() == pytest.approx(1.6, abs=0.01)


@pytest.mark.parametrize("options", [
    {"architecture": "mlp"}, {"architecture": "conv"}, {"likelihood": "gaussian"},
    {"likelihood": "gaussian", "gaussian_std": 0.1}, {"iwae_k": 4}, {"free_bits": 0.5}, {"binarize": True},
])
def test_vae_variants_give_finite_losses_and_gradients(options):
    model = build_model("vae", {"latent_dim": 3, **options}, (1, 8, 8))
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    terms = model.loss({"x": x})
    terms["loss"].backward()
    assert torch.isfinite(terms["loss"])
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.sample(5, torch.Generator().manual_seed(0)).shape == (5, 1, 8, 8)


def test_iwae_bound_grows_with_k_from_the_elbo(tmp_path):
    config = aeflow.make_config("vae", "digits", {"latent_dim": 2}, {"epochs": 3, "batch_size": 64, "progress": False})
    model = aeflow.load(aeflow.train(config, tmp_path / "vae"))
    x = aeflow.load_dataset("digits").test_x[:64]
    with torch.no_grad():
        log_w = model.log_importance_weights(x, 2000, torch.Generator().manual_seed(0))  # (2000, 64)

    def iwae(k):  # the average of 2000 / k independent IWAE_k estimates: low variance
        groups = log_w.reshape(2000 // k, k, -1)
        return float((torch.logsumexp(groups, 1) - math.log(k)).mean())

    values = [iwae(k) for k in (1, 10, 100, 1000)]
    assert values[0] == pytest.approx(float(log_w.mean()), abs=1e-4)  # IWAE_1 is the ELBO
    assert values == sorted(values) and values[-1] > values[0] + 0.01


def test_kl_warm_up_schedule_reaches_the_model(tmp_path):
    config = aeflow.make_config("vae", "digits", {"latent_dim": 4},
                                {"epochs": 2, "batch_size": 128, "progress": False,
                                 "loss_weights": {"kl": {"kind": "linear", "start": 0, "end": 1, "epochs": 4}}})
    run = aeflow.train(config, tmp_path / "vae")
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # 11 steps per epoch; the weight logged is the last step's: 10/11/4 and 21/11/4.
    assert [m["weight/kl"] for m in lines] == [pytest.approx(10 / 44), pytest.approx(21 / 44)]


def test_schedules():
    warm = WeightSchedule("linear", 0.0, 1.0, epochs=10)
    assert [warm.value(e) for e in (0, 5, 10, 50)] == [0.0, 0.5, 1.0, 1.0]
    cyc = WeightSchedule("cyclical", 0.0, 1.0, epochs=4, ramp=0.5)
    assert [cyc.value(e) for e in (0, 1, 2, 3, 4, 5)] == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5]
    with pytest.raises(ConfigError, match="schedule kind must be one of linear, cyclical, constant"):
        aeflow.make_config("vae", "digits", train_options={"loss_weights": {"kl": {"kind": "cosine"}}})


def test_gmm_prior_round_trip_gives_identical_samples(tmp_path):
    data = aeflow.load_dataset("digits")
    model = build_model("pca", {"n_components": 5}, data.shape)
    model.fit(data.train_x)
    prior = GMMPrior(GMMConfig(n_components=3, covariance_type="full")).fit(model, data.train_x)
    prior.save(tmp_path)
    again = GMMPrior.load(tmp_path)
    a = decoded_samples(model, prior, 50, torch.Generator().manual_seed(7))
    b = decoded_samples(model, again, 50, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == (50, 1, 8, 8)
    assert again.config.n_components == 3 and again.extra["n_codes"] == len(data.train_x)


def test_interpolation_endpoints_and_spherical_norms():
    z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 4.0])
    for mode in ("linear", "spherical"):
        path = interpolate(z0, z1, 5, mode)
        assert torch.allclose(path[0], z0) and torch.allclose(path[-1], z1)
    slerp = interpolate(z0, z1, 5, "spherical")
    assert torch.allclose(slerp.norm(dim=1), torch.linspace(3, 4, 5))  # no dip in norm mid-way
    assert interpolate(z0, z1, 5, "linear")[2].norm() < 3


def test_latent_sweeps_and_active_units():
    data = aeflow.load_dataset("digits")
    pca = build_model("pca", {"n_components": 6}, data.shape)
    pca.fit(data.train_x)
    sweep = noise_sweep(pca, data.test_x, [0.0, 0.5, 2.0])
    assert sweep[0]["error"] < sweep[1]["error"] < sweep[2]["error"]
    trunc = truncation_sweep(pca, data.test_x)
    assert [r["zeroed"] for r in trunc] == list(range(7))
    assert trunc[0]["error"] < trunc[-1]["error"]
    units = active_units(pca, data.test_x)
    assert units["active_units"] == 6 and not units["collapsed"]


def test_traversal_moves_one_dimension_and_posterior_samples_follow_the_posterior():
    data = aeflow.load_dataset("digits")
    pca = build_model("pca", {"n_components": 4}, data.shape)
    pca.fit(data.train_x)
    z = pca.encode(data.test_x[:3])
    images = traversal(pca, z, 2, torch.tensor([-1.0, float(z[1, 2]), 1.0]))
    assert images.shape == (3, 3, 1, 8, 8)
    torch.testing.assert_close(images[1, 1], pca.decode(z[1:2])[0])  # its own value: its own reconstruction
    assert not torch.allclose(images[0, 0], images[0, 2])
    model = build_model("vae", {"latent_dim": 4}, (1, 8, 8)).eval()
    with torch.no_grad():
        model.encoder[-1].bias[4:] = -30.0  # log-variance far below zero: posterior samples = the mean's decoding
    posterior, prior = posterior_and_prior_samples(model, data.test_x[:2], 5)
    assert posterior.shape == prior.shape == (2, 5, 1, 8, 8)
    torch.testing.assert_close(posterior[0], model.reconstruct(data.test_x[:1]).expand(5, -1, -1, -1), atol=5e-3,
                               rtol=0)
    assert (prior[0] - prior[0, :1]).abs().max() > 1e-3


def test_posterior_collapse_is_detected():
    model = build_model("vae", {"latent_dim": 4}, (1, 8, 8)).eval()
    for p in model.encoder.parameters():  # an encoder that ignores x and outputs the prior: collapse
        torch.nn.init.zeros_(p)
    units = active_units(model, aeflow.load_dataset("digits").test_x)
    assert units["active_units"] == 0 and units["collapsed"] and units["kl_total"] == pytest.approx(0.0)


def test_likelihood_report_has_the_elbo_terms(tmp_path):
    from aeflow.eval import likelihood_bounds

    model = build_model("vae", {"latent_dim": 3}, (1, 8, 8)).eval()
    x = aeflow.load_dataset("digits").test_x[:50]
    bounds = likelihood_bounds(model, x, k=20, binarize=True)
    assert bounds["binarized"] and set(bounds["terms"]) >= {"recon", "kl", "elbo"}
    # The one-sample ELBO from the loss and the bound's ELBO estimate agree up to Monte-Carlo noise.
    assert bounds["terms"]["elbo"] == pytest.approx(bounds["elbo"], rel=0.05)


def test_temperature_zero_decodes_the_prior_mean_and_train_subset_is_applied(tmp_path):
    config = aeflow.make_config("vae", "digits", {"latent_dim": 3}, {"epochs": 1, "batch_size": 64, "progress": False},
                                train_subset=200)
    run = aeflow.train(config, tmp_path / "vae")
    assert json.loads((run / "summary.json").read_text())["n_train"] == 200
    model = aeflow.load(run)
    images = decoded_samples(model, NormalPrior().fit(model, None), 4, temperature=0.0)
    assert torch.allclose(images, images[:1].expand_as(images))


def test_autoregressive_decoder_sees_only_the_pixels_before_each_one(tmp_path):
    """The MADE decoder: the logit of pixel i depends on z and on pixels 1..i-1, never on i or later; a VAE built
    with it trains, reloads from its folder and draws binary samples pixel by pixel."""
    model = build_model("vae", {"hidden": [32], "latent_dim": 3, "decoder": "autoregressive"}, (1, 8, 8))
    x = torch.rand(1, 64, requires_grad=True)
    logits = model.decoder(x, torch.randn(1, 3))
    for i in (0, 1, 30, 63):
        (grad,) = torch.autograd.grad(logits[0, i], x, retain_graph=True)
        assert grad[0, i:].abs().sum() == 0 and (i == 0 or grad[0, :i].abs().sum() > 0)
    config = aeflow.make_config("vae", "digits", {"hidden": [32], "latent_dim": 3, "decoder": "autoregressive"},
                                {"epochs": 1, "batch_size": 64, "progress": False}, train_subset=128)
    run = aeflow.train(config, tmp_path / "made")
    loaded = aeflow.load(run)
    samples = loaded.sample(4, torch.Generator().manual_seed(0))
    assert samples.shape == (4, 1, 8, 8) and set(samples.unique().tolist()) <= {0.0, 1.0}
    assert torch.isfinite(loaded.log_importance_weights(torch.rand(5, 1, 8, 8), 3)).all()


def test_autoregressive_decoder_needs_a_bernoulli_likelihood():
    with pytest.raises(ConfigError, match="likelihood=bernoulli"):
        build_model("vae", {"decoder": "autoregressive", "likelihood": "gaussian"}, (1, 8, 8))
