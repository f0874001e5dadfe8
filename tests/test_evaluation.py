import math

import numpy as np
import pytest
import torch

from aeflow.data import load_dataset
from aeflow.errors import ConfigError, DataError
from aeflow.eval import frechet_distance_between, likelihood_bounds
from aeflow.eval.features import extract
from aeflow.eval.sample_quality import memorisation, mode_coverage, precision_recall
from aeflow.eval.samples import check_samples, load_samples
from aeflow.models.registry import build_model
from aeflow.runs import score
from aeflow.runs.features import extractor_accuracy, feature_extractor


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture
def digits(feature_cache, monkeypatch):
    """The digits, with the feature classifier built once per test session in a shared cache."""
    monkeypatch.setenv("AEFLOW_CACHE", str(feature_cache))
    data = load_dataset("digits")
    feature_extractor("digits", data, progress=False)
    return data


def test_feature_classifier_is_accurate(digits):
    assert extractor_accuracy("digits") >= 0.97


def test_fd_zero_for_identical_sets_large_for_noise_and_order_free(digits):
    model = feature_extractor("digits", build=False).model
    real, _ = extract(model, digits.test_x)
    assert abs(frechet_distance_between(real, real)) < 1e-3
    shuffled = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(1))]
    assert frechet_distance_between(shuffled, real) == pytest.approx(frechet_distance_between(real, real), abs=1e-3)
    noise, _ = extract(model, torch.rand(len(digits.test_x), 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    floor = score(digits.train_x, digits, progress=False)["fd_real_floor"]
    assert frechet_distance_between(noise, real) > 20 * floor


def test_blurred_samples_score_worse_than_real(digits):
    blur = torch.nn.functional.avg_pool2d(digits.train_x, 3, stride=1, padding=1, count_include_pad=False)
    real_scores = score(digits.train_x, digits, progress=False)
    blur_scores = score(blur, digits, progress=False)
    assert blur_scores["fd"] > 3 * real_scores["fd"]
    assert real_scores["fd"] < 2 * real_scores["fd_real_floor"]  # real images sit at the floor, up to noise


def test_precision_recall_are_one_for_identical_sets():
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(0))
    assert precision_recall(x, x.clone()) == {"precision": 1.0, "recall": 1.0}
    far = precision_recall(x, x + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0}


def test_mode_coverage_and_memorisation():
    probs = torch.eye(4)[torch.tensor([0, 0, 1, 1])]
    cov = mode_coverage(probs, ["a", "b", "c", "d"])
    assert cov["class_fractions"] == {"a": 0.5, "b": 0.5, "c": 0.0, "d": 0.0}
    assert cov["class_entropy"] == pytest.approx(np.log(2))
    train = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    test = torch.rand(50, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    copies = memorisation(train[:50], train, test)
    assert copies["nn_ratio"] == 0 and copies["fraction_closer_than_test_p1"] == 1.0
    fresh = memorisation(torch.rand(50, 1, 8, 8, generator=torch.Generator().manual_seed(2)), train, test)
    assert 0.8 < fresh["nn_ratio"] < 1.25


@pytest.mark.parametrize("array,message", [
    (np.zeros((10, 64), np.float32), "shape (10, 64); expected N x 1 x 8 x 8"),
    (np.zeros((10, 1, 8, 8), np.uint8), "dtype uint8; expected floats"),
    (np.full((10, 1, 8, 8), 2.0, np.float32), "values in [2, 2]; expected [0, 1]"),
    (np.full((10, 1, 8, 8), np.nan, np.float32), "NaN"),
])
def test_bad_sample_files_are_refused(tmp_path, array, message):
    path = tmp_path / "s.npy"
    np.save(path, array)
    with pytest.raises(DataError) as e:
        check_samples(load_samples(path), (1, 8, 8), str(path))
    assert message in str(e.value)


def test_pickled_sample_files_are_refused(tmp_path):
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="cannot read"):
        load_samples(path)


@pytest.fixture(scope="module")
def ppca_models():
    data = load_dataset("digits")
    exact = build_model("ppca", {"n_components": 5}, data.shape)
    exact.fit(data.train_x)
    loose = build_model("ppca", {"n_components": 5, "proposal_std_scale": 2.0}, data.shape)
    loose.load_state_dict(exact.state_dict())
    return data.test_x, exact, loose


def test_iwae_is_exact_with_the_true_posterior(ppca_models):
    x, exact, _ = ppca_models
    truth = float(exact.log_likelihood(x).mean())
    bounds = likelihood_bounds(exact, x, k=3)
    assert bounds["elbo"] == pytest.approx(truth, abs=1e-6)
    assert bounds["iwae_3"] == pytest.approx(truth, abs=1e-6)


def test_iwae_tightens_with_k_and_stays_below_the_truth(ppca_models):
    x, _, loose = ppca_models
    truth = float(loose.log_likelihood(x).mean())
    values = [likelihood_bounds(loose, x, k=k, k_chunk=250)[f"iwae_{k}"] for k in (1, 10, 100, 1000)]
    assert values == sorted(values)
    assert values[-1] < truth
    assert truth - values[-1] < 0.1 * (truth - values[0])  # most of the gap closes by k = 1000


def test_likelihood_needs_a_likelihood_model():
    model = build_model("pca", {"n_components": 3}, (1, 8, 8))
    with pytest.raises(ConfigError, match="defines no likelihood"):
        likelihood_bounds(model, torch.rand(2, 1, 8, 8))


class _GaussianPosterior:
    """A stand-in encoder with given posteriors, for the ELBO-surgery identities."""

    def __init__(self, mu, logvar):
        self.mu, self.logvar = mu, logvar

    def posterior(self, x):
        return self.mu, self.logvar


def test_elbo_surgery_limits():
    from aeflow.eval.latent import elbo_surgery

    n, d = 200, 3
    at_prior = elbo_surgery(_GaussianPosterior(torch.zeros(n, d), torch.zeros(n, d)), None, samples=4)
    assert at_prior["average_kl"] == pytest.approx(0) and abs(at_prior["mutual_information"]) < 1e-9
    apart = torch.arange(n, dtype=torch.float64)[:, None].repeat(1, d) * 10   # far apart: each z names its image
    separated = elbo_surgery(_GaussianPosterior(apart, torch.full((n, d), -4.0)), None, samples=2)
    assert separated["mutual_information"] == pytest.approx(math.log(n), abs=1e-6)
    assert separated["marginal_kl"] == pytest.approx(separated["average_kl"] - math.log(n))


def test_sharpness_falls_with_blur_and_diversity_with_copies(digits):
    from aeflow.eval.sample_quality import diversity, sharpness

    blurred = torch.nn.functional.avg_pool2d(digits.test_x, 3, stride=1, padding=1, count_include_pad=False)
    assert sharpness(blurred) < 0.5 * sharpness(digits.test_x)
    assert diversity(digits.test_x, digits.test_x) == pytest.approx(1.0, rel=0.05)
    assert diversity(digits.test_x[:1].repeat(100, 1, 1, 1), digits.test_x) == 0
