"""The hand-written backpropagation is checked against finite differences and against torch autograd, and
trains exactly as its torch twin does."""

import numpy as np
import pytest
import torch

from aeflow.byhand import VAE, Autoencoder, sgd_train, torch_twin_train
from aeflow.byhand.numpy_models import batches
from aeflow.byhand.twin import twin_loss


def _data(n=16, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, 64))


@pytest.mark.parametrize("cls", [Autoencoder, VAE])
def test_gradients_match_central_finite_differences(cls):
    model, x = cls(np.random.default_rng(1)), _data()
    eps = np.random.default_rng(2).standard_normal((len(x), 2))
    _, grads = model.loss_and_grads(x, eps)
    h = 1e-6
    for name, p in model.params().items():
        rng = np.random.default_rng(3)
        for index in [tuple(rng.integers(0, s) for s in p.shape) for _ in range(5)]:
            old = p[index]
            p[index] = old + h
            up, _ = model.loss_and_grads(x, eps)
            p[index] = old - h
            down, _ = model.loss_and_grads(x, eps)
            p[index] = old
            # central differences: error O(h^2) from the third derivative, plus rounding ~1e-16 / h
            assert grads[name][index] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8), name


@pytest.mark.parametrize("cls", [Autoencoder, VAE])
def test_gradients_match_torch_autograd(cls):
    model, x = cls(np.random.default_rng(1)), _data()
    eps = np.random.default_rng(2).standard_normal((len(x), 2))
    loss, grads = model.loss_and_grads(x, eps)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in model.params().items()}
    torch_loss = twin_loss(params, torch.from_numpy(x), torch.from_numpy(eps), cls is VAE)
    torch_loss.backward()
    assert float(torch_loss.detach()) == pytest.approx(loss, rel=1e-12)
    for name, p in params.items():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("cls", [Autoencoder, VAE])
def test_sgd_with_momentum_trains_like_the_torch_twin(cls):
    x = _data(64)
    order = batches(len(x), 16, 5, seed=0)
    noise = [np.random.default_rng(i).standard_normal((16, 2)) for i in range(len(order))] if cls is VAE else None
    model = cls(np.random.default_rng(1))
    twin = torch_twin_train(model, x, order, 0.05, 0.9, noise)   # starts from the same weights
    own = sgd_train(model, x, order, 0.05, 0.9, noise)
    np.testing.assert_allclose(own, twin, rtol=1e-9)
    assert own[-1] < own[0]
