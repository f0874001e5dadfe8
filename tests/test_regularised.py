"""The mechanics of the regularised autoencoders, not only their shapes."""

import json

import numpy as np
import pytest
import torch

import aeflow
from aeflow.diffusion.corruption import corrupt, keep_prefix, psnr, random_mask
from aeflow.eval.embedding import rank_correlation
from aeflow.models.contractive import code_sensitivity, jacobian_frobenius, jacobian_spectrum
from aeflow.models.conv_ae import nyquist_energy_fraction
from aeflow.models.registry import build_model
from aeflow.models.sparse import keep_top_k, kl_sparsity
from aeflow.priors import CategoricalPrior
from aeflow.studies.reproduce.swissroll import reproduce_swissroll

FAST = {"epochs": 2, "batch_size": 64, "progress": False}


def digits_run(tmp_path, model, options, **train):
    return aeflow.train(aeflow.make_config(model, "digits", options, {**FAST, **train}), tmp_path / model)


def test_top_k_keeps_exactly_k():
    pre = torch.randn(50, 40)
    z = keep_top_k(pre, 7)
    assert ((z != 0).sum(1) <= 7).all() and (z >= 0).all()
    positive = pre.abs() + 0.1  # all positive: exactly k survive, and they are the k largest
    z = keep_top_k(positive, 7)
    assert ((z != 0).sum(1) == 7).all()
    torch.testing.assert_close(z.sum(1), positive.topk(7, dim=1).values.sum(1))
    model = build_model("sparse-ae", {"code_dim": 32, "k": 5}, (1, 8, 8))
    assert ((model.encode(torch.rand(10, 1, 8, 8)) > 0).sum(1) <= 5).all()
    assert ((model.encode(torch.rand(10, 1, 8, 8), k=2) > 0).sum(1) <= 2).all()  # the slider


def test_kl_sparsity_penalty_is_zero_at_the_target_and_positive_elsewhere():
    assert float(kl_sparsity(0.05, torch.full((10,), 0.05))) == pytest.approx(0.0, abs=1e-6)
    assert float(kl_sparsity(0.05, torch.full((10,), 0.2))) > 0.1
    rho_hat = torch.full((3,), 0.3, requires_grad=True)
    kl_sparsity(0.3, rho_hat).backward()
    assert rho_hat.grad.abs().max() < 1e-5  # a minimum, not just a zero


@pytest.mark.parametrize("sparsity", ["l1", "kl", "topk"])
def test_sparse_autoencoder_trains_and_reports(tmp_path, sparsity):
    run = digits_run(tmp_path, "sparse-ae", {"sparsity": sparsity, "code_dim": 64, "k": 8, "dead_after": 500})
    report = json.loads((run / "summary.json").read_text())["sparsity"]
    assert 0 <= report["dead_fraction"] <= 1 and report["l0"] > 0 and report["normalised_mse_centred"]
    assert [r["k"] for r in report["top_k_slider"]][:3] == [1, 2, 4]
    assert (run / "dictionary.png").exists() and (run / "top_k_slider.png").exists()
    model = aeflow.load(run)
    norms = model.unit_dictionary().norm(dim=0)
    torch.testing.assert_close(norms, torch.ones_like(norms))  # decoder columns at unit norm


def test_stochastic_jacobian_estimate_matches_the_exact_norm():
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 6))
    x = torch.rand(20, 1, 8, 8)
    exact = jacobian_frobenius(encoder, x, "exact")
    jac = torch.autograd.functional.jacobian(lambda v: encoder(v).sum(0), x)  # (6, 20, 1, 8, 8), per-example blocks
    torch.testing.assert_close(exact, jac.pow(2).sum((0, 2, 3, 4)), rtol=1e-4, atol=1e-6)
    estimate = jacobian_frobenius(encoder, x, "stochastic", projections=4000)
    torch.testing.assert_close(estimate, exact, rtol=0.1, atol=0)
    single = torch.stack([jacobian_frobenius(encoder, x, "stochastic", 1) for _ in range(2000)]).mean(0)
    torch.testing.assert_close(single, exact, rtol=0.1, atol=0)  # unbiased: one projection, averaged


def test_jacobian_spectrum_of_a_linear_encoder_is_its_singular_values():
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 5))
    spectrum = jacobian_spectrum(encoder, torch.rand(7, 1, 8, 8))
    torch.testing.assert_close(spectrum, torch.linalg.svdvals(encoder[1].weight.detach()), rtol=1e-5, atol=1e-6)


def test_contractive_penalty_shrinks_the_jacobian(tmp_path):
    options = {"hidden": [64], "code_dim": 8, "norm": "none"}
    plain = digits_run(tmp_path, "autoencoder", options, epochs=20)
    contractive = digits_run(tmp_path, "contractive-ae", {**options, "contractive_weight": 1.0}, epochs=20)
    x = aeflow.load_dataset("digits").test_x[:200]
    norm_plain = float(jacobian_frobenius(aeflow.load(plain).encode, x).mean())
    norm_contractive = float(jacobian_frobenius(aeflow.load(contractive).encode, x).mean())
    assert norm_contractive < 0.5 * norm_plain
    moved_plain = code_sensitivity(aeflow.load(plain), x)["code_sensitivity"]
    moved_contractive = code_sensitivity(aeflow.load(contractive), x)["code_sensitivity"]
    assert moved_contractive < 0.5 * moved_plain  # the codes move less under the same input perturbation
    report = json.loads((contractive / "summary.json").read_text())["contractive"]
    assert report["jacobian_frobenius_sq_stochastic_8"] == pytest.approx(report["jacobian_frobenius_sq_exact"], rel=0.3)


def test_denoising_corruptions_and_psnr():
    x = torch.rand(200, 1, 8, 8)
    masked = corrupt(x, "masking", 0.3, torch.Generator().manual_seed(0))
    assert float((masked != x).float().mean()) == pytest.approx(0.3, abs=0.02)
    salted = corrupt(x, "salt_pepper", 0.2, torch.Generator().manual_seed(0))
    changed = salted != x
    assert set(salted[changed].unique().tolist()) <= {0.0, 1.0}
    assert float(changed.float().mean()) == pytest.approx(0.2, abs=0.02)
    assert psnr(x, x + 0.1) == pytest.approx(20.0, abs=1e-3)  # MSE 0.01 -> 20 dB


def test_denoising_autoencoder_beats_its_noisy_input(tmp_path):
    run = digits_run(tmp_path, "denoising-ae", {"hidden": [128], "code_dim": 16, "level": 0.3}, epochs=40)
    sweep = json.loads((run / "summary.json").read_text())["denoising"]["sweep"]
    at_training_level = next(r for r in sweep if r["level"] == 0.3)
    assert at_training_level["psnr_denoised"] > at_training_level["psnr_noisy"] + 3
    assert (run / "denoising.png").exists()


def test_nested_dropout_first_unit_alone_reconstructs_best(tmp_path):
    run = digits_run(tmp_path, "ordered-ae", {"hidden": [64], "code_dim": 6, "nested_p": 0.3}, epochs=40)
    model = aeflow.load(run)
    x = aeflow.load_dataset("digits").test_x
    with torch.no_grad():
        z = model.encode(x)
        single = [float((model.decode(z * torch.nn.functional.one_hot(torch.tensor(j), 6)) - x).pow(2).sum((1, 2, 3))
                        .mean()) for j in range(6)]
    assert single[0] == min(single)
    errors = model.prefix_errors(x)
    assert errors[0] > errors[-1] and errors == sorted(errors, reverse=True)  # coarse to fine
    torch.testing.assert_close(keep_prefix(torch.ones(2, 4), torch.tensor([1, 3])),
                               torch.tensor([[1.0, 0, 0, 0], [1, 1, 1, 0]]))


def test_nyquist_energy_tells_a_checkerboard_from_a_smooth_image():
    i, j = torch.meshgrid(torch.arange(28), torch.arange(28), indexing="ij")
    checkerboard = ((i + j) % 2).float()[None, None]
    smooth = torch.sin(i / 28 * 3.14).float()[None, None] * torch.ones(1, 1, 28, 28)
    assert nyquist_energy_fraction(checkerboard) == pytest.approx(1.0)
    assert nyquist_energy_fraction(smooth) < 0.01


@pytest.mark.parametrize("upsampling", ["resize", "transpose"])
def test_conv_autoencoder_reports_its_checkerboard_measure(tmp_path, upsampling):
    run = digits_run(tmp_path, "conv-ae", {"channels": [8, 16], "upsampling": upsampling})
    report = json.loads((run / "summary.json").read_text())["checkerboard"]
    assert report["upsampling"] == upsampling and 0 <= report["nyquist_energy_reconstructions"] <= 1
    transposed = any(isinstance(m, torch.nn.ConvTranspose2d) for m in aeflow.load(run).modules())
    assert transposed == (upsampling == "transpose")


def test_vq_straight_through_gradient_reaches_the_encoder():
    model = build_model("vq-vae", {"channels": [8, 16], "ema": False, "kmeans_init": False}, (1, 8, 8))
    model.train()
    model.loss({"x": torch.rand(16, 1, 8, 8)})["recon"]  # warm-up call (codebook buffers)
    model.zero_grad()
    z_e = model.encode_continuous(torch.rand(16, 1, 8, 8))
    e = model.codebook[model.nearest(z_e)]
    z_q = z_e + (e - z_e).detach()
    logits = model.decoder(z_q.transpose(1, 2).reshape(16, -1, model.grid_h, model.grid_w))
    logits.sum().backward()
    first_conv = model.encoder[0]
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0
    model.zero_grad()
    model.loss({"x": torch.rand(16, 1, 8, 8)})["loss"].backward()  # and through the model's own loss
    assert first_conv.weight.grad.abs().sum() > 0 and model.codebook.grad.abs().sum() > 0


def test_kmeans_lowers_the_cost_and_ends_at_cluster_means():
    from aeflow.models.vqvae import kmeans

    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = torch.cat([c + torch.randn(50, 2, generator=torch.Generator().manual_seed(i))
                        for i, c in enumerate(centres)])

    def cost(c):
        return float(torch.cdist(points, c).min(1).values.pow(2).sum())

    start = kmeans(points, 3, iterations=0, generator=torch.Generator().manual_seed(0))  # the random initial points
    found = kmeans(points, 3, iterations=20, generator=torch.Generator().manual_seed(0))
    assert cost(found) < cost(start)
    assign = torch.cdist(points, found).argmin(1)
    for j in assign.unique():  # a fixed point of Lloyd's algorithm: each centre is the mean of its points
        torch.testing.assert_close(found[j], points[assign == j].mean(0), atol=1e-4, rtol=0)


def test_vq_vae_trains_with_ema_kmeans_restarts_and_samples(tmp_path):
    run = digits_run(tmp_path, "vq-vae", {"channels": [8, 16], "codebook_size": 32, "restart_after": 5})
    metrics = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert 1 <= metrics["test/perplexity"] <= 32 and 0 <= metrics["test/dead_fraction"] <= 1
    model = aeflow.load(run)
    assert bool(model.initialised)
    samples, made = aeflow.draw(model, run, aeflow.SampleRequest(n=5))  # the run's default: its categorical prior
    assert samples.shape == (5, 1, 8, 8) and made["source"] == "categorical"
    probs = CategoricalPrior.load(run).state["logits"].softmax(-1)
    torch.testing.assert_close(probs.sum(-1), torch.ones(model.positions))


def test_masking_hides_exactly_the_stated_fraction():
    for ratio, patches in ((0.75, 49), (0.5, 16), (0.9, 49), (0.0, 16)):
        hidden = random_mask(100, patches, ratio, torch.Generator().manual_seed(0))
        assert (hidden.sum(1) == round(ratio * patches)).all()
    model = build_model("mae", {"dim": 16, "depth": 1, "heads": 2, "decoder_dim": 8}, (1, 28, 28))
    x = torch.rand(3, 1, 28, 28)
    assert model.n_patches == 49
    torch.testing.assert_close(model.unpatchify(model.patchify(x)), x)
    hidden = random_mask(3, 49, 0.75)
    assert model.encode_visible(x, hidden).shape == (3, 49 - round(0.75 * 49), 16)
    error, _ = model.masked_error(x, hidden)
    predicted = model.decode_tokens(model.encode_visible(x, hidden), hidden)
    manual = ((predicted - model.patchify(x)).pow(2).sum(-1) * hidden).sum(1)
    torch.testing.assert_close(error, manual)  # visible patches do not count


def test_mae_trains_and_reports(tmp_path):
    run = digits_run(tmp_path, "mae", {"dim": 16, "depth": 1, "heads": 2, "decoder_dim": 8})
    report = json.loads((run / "summary.json").read_text())["masking"]
    assert [r["mask_ratio"] for r in report["sweep"]] == [0.25, 0.5, 0.75, 0.9]
    assert (run / "masked_reconstructions.png").exists()


def test_swiss_roll_metrics(tmp_path):
    t = np.linspace(0, 10, 200)
    assert rank_correlation(t, np.stack([np.cos(t) * 0.01, t], 1)) == pytest.approx(1.0)
    rows = reproduce_swissroll(tmp_path, epochs=3, progress=False)
    assert [r["method"] for r in rows] == ["autoencoder", "pca"]
    assert all(0 < r["trustworthiness"] <= 1 and 0 <= r["rank_correlation_with_t"] <= 1 for r in rows)
    assert (tmp_path / "embedding_pca.png").exists()
