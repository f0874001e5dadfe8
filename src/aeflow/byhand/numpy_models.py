"""A 64-32-2-32-64 autoencoder and VAE in NumPy with hand-written backpropagation (float64).

Encoder 64 -> 32 (tanh) -> 2 (the VAE: 2 means and 2 log-variances); decoder 2 -> 32 (tanh) -> 64
(sigmoid). Loss: Bernoulli negative log-likelihood summed over pixels (binary cross-entropy on the grey
levels), plus for the VAE the KL divergence to N(0, I); averaged over the batch, in nats, as everywhere
in aeflow. The VAE samples z = mu + exp(logvar / 2) eps with eps given by the caller (reparameterisation),
so the same noise can be fed to a twin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Layer:
    """y = x W + b."""

    w: np.ndarray
    b: np.ndarray

    @classmethod
    def init(cls, n_in: int, n_out: int, rng: np.random.Generator) -> Layer:
        bound = 1 / np.sqrt(n_in)  # torch.nn.Linear's default range
        return cls(rng.uniform(-bound, bound, (n_in, n_out)), rng.uniform(-bound, bound, n_out))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x @ self.w + self.b

    def backward(self, x: np.ndarray, grad_y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dL/dx, dL/dW, dL/db) from dL/dy."""
        return grad_y @ self.w.T, x.T @ grad_y, grad_y.sum(0)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * a))  # no overflow for large |a|


def _bce(logits: np.ndarray, x: np.ndarray) -> np.ndarray:
    """-log Bernoulli(x | sigmoid(logits)) summed over pixels, per row: softplus(a) - x a."""
    return (np.logaddexp(0, logits) - x * logits).sum(1)


class Autoencoder:
    """64-32-2-32-64, tanh hidden layers, a linear 2-d code, sigmoid outputs."""

    names = ("enc1", "enc2", "dec1", "dec2")

    def __init__(self, rng: np.random.Generator, sizes: tuple[int, ...] = (64, 32, 2)) -> None:
        d, h, k = sizes
        self.layers = {"enc1": Layer.init(d, h, rng), "enc2": Layer.init(h, self.code_width(k), rng),
                       "dec1": Layer.init(k, h, rng), "dec2": Layer.init(h, d, rng)}

    def code_width(self, k: int) -> int:
        return k

    def params(self) -> dict[str, np.ndarray]:
        """Every parameter by name ("enc1.w", ...): the arrays themselves, updated in place."""
        return {f"{n}.{p}": getattr(self.layers[n], p) for n in self.names for p in ("w", "b")}

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.layers["enc2"](np.tanh(self.layers["enc1"](x)))

    def decode(self, z: np.ndarray) -> np.ndarray:
        return _sigmoid(self.layers["dec2"](np.tanh(self.layers["dec1"](z))))

    def loss_and_grads(self, x: np.ndarray, eps: np.ndarray | None = None) -> tuple[float, dict[str, np.ndarray]]:
        """The batch-mean loss and its gradient for every parameter, by the chain rule written out."""
        n = len(x)
        L = self.layers
        a1 = L["enc1"](x)
        h1 = np.tanh(a1)
        z = L["enc2"](h1)
        a2 = L["dec1"](z)
        h2 = np.tanh(a2)
        logits = L["dec2"](h2)
        loss = _bce(logits, x).mean()
        # dL/dlogits of the mean BCE: (sigmoid(a) - x) / n
        g_logits = (_sigmoid(logits) - x) / n
        grads = {}
        g_h2, grads["dec2.w"], grads["dec2.b"] = L["dec2"].backward(h2, g_logits)
        g_a2 = g_h2 * (1 - h2 ** 2)                       # tanh' = 1 - tanh^2
        g_z, grads["dec1.w"], grads["dec1.b"] = L["dec1"].backward(z, g_a2)
        g_h1, grads["enc2.w"], grads["enc2.b"] = L["enc2"].backward(h1, g_z)
        g_a1 = g_h1 * (1 - h1 ** 2)
        _, grads["enc1.w"], grads["enc1.b"] = L["enc1"].backward(x, g_a1)
        return float(loss), grads


class VAE(Autoencoder):
    """The same shape with a Gaussian encoder (2 means, 2 log-variances) and a KL term to N(0, I)."""

    def code_width(self, k: int) -> int:
        return 2 * k

    def encode(self, x: np.ndarray) -> np.ndarray:
        """The posterior mean."""
        return np.split(super().encode(x), 2, axis=1)[0]

    def loss_and_grads(self, x: np.ndarray, eps: np.ndarray | None = None) -> tuple[float, dict[str, np.ndarray]]:
        """Loss = BCE(x | decode(mu + sigma eps)) + KL(N(mu, sigma^2) || N(0, I)), batch means; `eps` is the
        reparameterisation noise (n, 2)."""
        n = len(x)
        L = self.layers
        a1 = L["enc1"](x)
        h1 = np.tanh(a1)
        mu, logvar = np.split(L["enc2"](h1), 2, axis=1)
        std = np.exp(0.5 * logvar)
        z = mu + std * eps
        a2 = L["dec1"](z)
        h2 = np.tanh(a2)
        logits = L["dec2"](h2)
        kl = 0.5 * (mu ** 2 + std ** 2 - 1 - logvar).sum(1)
        loss = (_bce(logits, x) + kl).mean()
        grads = {}
        g_h2, grads["dec2.w"], grads["dec2.b"] = L["dec2"].backward(h2, (_sigmoid(logits) - x) / n)
        g_z, grads["dec1.w"], grads["dec1.b"] = L["dec1"].backward(z, g_h2 * (1 - h2 ** 2))
        # z = mu + exp(logvar / 2) eps: dz/dmu = 1, dz/dlogvar = std eps / 2; KL adds mu and (std^2 - 1) / 2
        g_mu = g_z + mu / n
        g_logvar = g_z * std * eps / 2 + 0.5 * (std ** 2 - 1) / n
        g_h1, grads["enc2.w"], grads["enc2.b"] = L["enc2"].backward(h1, np.concatenate([g_mu, g_logvar], 1))
        _, grads["enc1.w"], grads["enc1.b"] = L["enc1"].backward(x, g_h1 * (1 - h1 ** 2))
        return float(loss), grads


def batches(n: int, batch_size: int, epochs: int, seed: int) -> list[np.ndarray]:
    """The row indices of every batch of every epoch (full batches, reshuffled each epoch): shared with the
    twin so both see the same data in the same order."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(epochs):
        order = rng.permutation(n)
        out += [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]
    return out


def sgd_train(model: Autoencoder, x: np.ndarray, order: list[np.ndarray], lr: float, momentum: float,
              noise: list[np.ndarray] | None = None) -> list[float]:
    """SGD with momentum as torch.optim.SGD does it (buf = momentum buf + g; p -= lr buf), one step per batch
    of `order`; `noise[i]` is the VAE's eps for step i. The loss of every step."""
    params = model.params()
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    losses = []
    for step, rows in enumerate(order):
        loss, grads = model.loss_and_grads(x[rows], None if noise is None else noise[step])
        for k, p in params.items():
            velocity[k] = momentum * velocity[k] + grads[k] if step else grads[k].copy()
            p -= lr * velocity[k]
        losses.append(loss)
    return losses
