import pytest
import torch
from sklearn.decomposition import KernelPCA as SkKernelPCA

from aeflow.data import load_dataset
from aeflow.errors import ConfigError
from aeflow.models.baselines import _bce_sum
from aeflow.models.registry import build_model, resolve
from aeflow.protocols import Reconstructs, Samples


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_pca_is_exact_when_k_equals_d(digits):
    pca = build_model("pca", {"n_components": 64}, digits.shape)
    pca.fit(digits.train_x)
    x_hat = pca.reconstruct(digits.test_x)
    assert (x_hat - digits.test_x).abs().max() < 1e-5  # float32 round-off only


def test_pca_error_falls_with_k(digits):
    errors = []
    for k in (2, 8, 32):
        pca = build_model("pca", {"n_components": k}, digits.shape)
        pca.fit(digits.train_x)
        errors.append(float((pca.reconstruct(digits.test_x) - digits.test_x).pow(2).sum()))
    assert errors[0] > errors[1] > errors[2]


def _code_gradient_and_bound(model, z, x, unit_roundoff):
    """The code objective's gradient at `z` (float64), and how small a solver working at `unit_roundoff` can
    make it: Newton with step halving stops once a step's decrease g H^-1 g / 2 >= |g|^2 / (2 lambda_max(H))
    falls below the objective's rounding error, about 2 n u sum_n |terms| for n pixels, so
    |g| <= sqrt(2 lambda_max(H) 2 n u sum|terms|) per image."""
    z = z.detach().double().requires_grad_(True)
    components, bias = model.components.double(), model.bias.double()
    logits = z @ components + bias
    objective = _bce_sum(logits, x) + 0.5 * model.config.l2 * z.pow(2).sum(-1)
    (grad,) = torch.autograd.grad(objective.sum(), z)
    p = torch.sigmoid(logits).detach()
    hessian = (torch.einsum("kn,ln,bn->bkl", components, components, p * (1 - p))
               + model.config.l2 * torch.eye(len(components), dtype=torch.float64))
    terms = (torch.nn.functional.softplus(logits) + (x * logits).abs()).sum(1).detach()
    resolution = 2 * x.shape[1] * unit_roundoff * terms
    return grad, (2 * torch.linalg.eigvalsh(hessian)[:, -1] * resolution).sqrt()


def test_logistic_pca_codes_solve_their_convex_problem(digits):
    model = build_model("logistic-pca", {"n_components": 5, "iterations": 10}, digits.shape)
    model.fit(digits.train_x)
    x = digits.test_x.flatten(1).double()
    # encode solves in float32; the same Newton solver in float64 shows the problem itself is solved.
    for z, unit_roundoff in ((model.encode(digits.test_x.double()), 2.0 ** -24), (model._codes(x, 25), 2.0 ** -53)):
        grad, bound = _code_gradient_and_bound(model, z, x, unit_roundoff)
        assert (grad.abs().amax(1) <= bound).all()
    pca = build_model("pca", {"n_components": 5}, digits.shape)
    pca.fit(digits.train_x)
    # In Bernoulli likelihood, the logistic model beats the linear one at equal rank.
    nll = lambda x_hat: float(-(x * x_hat.clamp(1e-6, 1 - 1e-6).log()  # noqa: E731
                                + (1 - x) * (1 - x_hat).clamp(1e-6, 1 - 1e-6).log()).sum(1).mean())
    assert nll(model.reconstruct(digits.test_x.double()).flatten(1)) < nll(pca.reconstruct(digits.test_x.double())
                                                                          .flatten(1))


def test_kernel_pca_encoding_matches_scikit_learn(digits):
    model = build_model("kernel-pca", {"n_components": 6, "fit_subset": 500}, digits.shape)
    model.fit(digits.train_x)
    x = digits.train_x[:500].flatten(1).double().numpy()
    reference = SkKernelPCA(6, kernel="rbf", gamma=1 / 64, eigen_solver="arpack", random_state=0).fit(x)
    ours = model.encode(digits.test_x.double()).numpy()
    theirs = reference.transform(digits.test_x.flatten(1).double().numpy())
    # Eigenvectors are defined up to sign.
    assert abs(abs(ours) - abs(theirs)).max() < 1e-8
    assert model.reconstruct(digits.test_x).shape == digits.test_x.shape


def test_kernel_pca_subset_larger_than_data_is_a_clear_error(digits):
    model = build_model("kernel-pca", {"n_components": 6, "fit_subset": 5000}, digits.shape)
    with pytest.raises(ConfigError, match="fit_subset=5000 but only 1437"):
        model.fit(digits.train_x)


def test_autoencoder_protocol(digits):
    model = build_model("autoencoder", {"hidden": [32], "code_dim": 4}, digits.shape)
    model.eval()
    with torch.no_grad():
        z = model.encode(digits.test_x)
        x_hat = model.decode(z)
        terms = model.loss({"x": digits.test_x})
    assert z.shape == (len(digits.test_x), 4)
    assert x_hat.shape == digits.test_x.shape and 0 <= float(x_hat.min()) and float(x_hat.max()) <= 1
    assert set(terms) == {"loss", "recon", "sq_err"}
    bce = torch.nn.functional.binary_cross_entropy(x_hat.flatten(1), digits.test_x.flatten(1), reduction="sum")
    assert torch.allclose(terms["recon"], bce / len(digits.test_x), rtol=1e-4)
    assert isinstance(model, Reconstructs) and not isinstance(model, Samples)


def test_presets_and_unknown_names():
    family, model_cfg, train_cfg = resolve("hinton")
    assert family == "autoencoder" and model_cfg["hidden"] == [1000, 500, 250] and model_cfg["code_dim"] == 30
    with pytest.raises(ConfigError, match="unknown model 'wgan'; choose one of autoencoder"):
        resolve("wgan")
    with pytest.raises(ConfigError, match="recon_loss=bce needs output=sigmoid"):
        build_model("autoencoder", {"output": "linear"}, (3,))
    with pytest.raises(ConfigError, match="hidden must be a list"):
        build_model("autoencoder", {"hidden": 5}, (3,))
