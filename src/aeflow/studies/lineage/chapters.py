"""The thirteen chapters of the story, each a function of the `Book` that trains what it needs (with `ensure`),
measures it with aeflow's own metrics and draws it. They return numbers; the claims (claims.py) judge them.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from aeflow.byhand import VAE as NumpyVAE
from aeflow.byhand import Autoencoder as NumpyAutoencoder
from aeflow.byhand import sgd_train, torch_twin_train
from aeflow.byhand.numpy_models import batches
from aeflow.eval.discriminator import duel
from aeflow.eval.latent import active_units, elbo_surgery, plane_grid
from aeflow.eval.rows import GeneratorRow
from aeflow.eval.sample_quality import sharpness
from aeflow.eval.samples import floor_images
from aeflow.figures import Curves, ImageGrid
from aeflow.priors import NormalPrior, decoded_samples
from aeflow.runs import SampleRequest, draw, load, read_summary
from aeflow.runs.folder import writing_run
from aeflow.runs.sampling import fitted_prior
from aeflow.samplers import choose_sampler, generate
from aeflow.studies.lineage import records
from aeflow.studies.lineage.book import Book, Chapter
from aeflow.studies.lineage.shaping import regularised, swiss_roll
from aeflow.studies.reproduce.hinton import methods
from aeflow.training import read_metrics


def _rows(images: torch.Tensor, per_row: int = 16) -> list[torch.Tensor]:
    return [images[i:i + per_row] for i in range(0, len(images), per_row)]


def compression(book: Book) -> records.Compression:
    data, b = book.data, book.budget
    rows, errors = {}, {}
    for label, model, options, train, _ in methods(len(data.train_x), data.shape, b.ae_epochs, False,
                                                   b.kernel_subset):
        run = book.train(label, model, options, train)
        errors[label] = read_summary(run)["test_recon_error"]
        with torch.no_grad():
            rows[label] = load(run).reconstruct(data.test_x[:12]).float().clamp(0, 1)
    code = methods(len(data.train_x), data.shape, b.ae_epochs, False, b.kernel_subset)[0][2]["code_dim"]
    book.figure("reconstructions.png", ImageGrid([data.test_x[:12], *rows.values()], ["test", *rows],
                                                 f"test images and their reconstructions from {code}-d codes"),
                "Test images (top) and their reconstructions from each method's code.")
    return records.Compression(code_dim=code, test_error=records.ByMethod(**{k.replace("-", "_"): v
                                                                              for k, v in errors.items()}))


def byhand(book: Book) -> records.ByHand:
    b = book.budget
    x = book.data.train_x.flatten(1).double().numpy()
    test = book.data.test_x.flatten(1).double().numpy()
    order = batches(len(x), 32, b.byhand_epochs, seed=book.seed)
    results, codes, curves = {}, {}, {}
    for name, cls in (("autoencoder", NumpyAutoencoder), ("vae", NumpyVAE)):
        noise = [np.random.default_rng((book.seed, i)).standard_normal((32, 2)) for i in range(len(order))] \
            if cls is NumpyVAE else None
        model = cls(np.random.default_rng(book.seed))
        start = time.perf_counter()
        twin = torch_twin_train(model, x, order, 0.05, 0.9, noise)   # a copy, from the same starting weights
        twin_s = time.perf_counter() - start
        start = time.perf_counter()
        own = sgd_train(model, x, order, 0.05, 0.9, noise)
        own_s = time.perf_counter() - start
        per_epoch = len(order) // b.byhand_epochs
        final_own, final_twin = float(np.mean(own[-per_epoch:])), float(np.mean(twin[-per_epoch:]))
        test_eps = np.random.default_rng(12345).standard_normal((len(test), 2))
        results[name] = records.HandAndTwin(
            final_loss_numpy=final_own, final_loss_torch=final_twin,
            relative_difference=abs(final_own - final_twin) / abs(final_twin),
            early_relative_difference=float(np.max(np.abs(np.subtract(own[:100], twin[:100])) / np.abs(twin[:100]))),
            first_loss=float(own[0]), test_loss_numpy=float(model.loss_and_grads(test, test_eps)[0]),
            steps=len(order), seconds_numpy=round(own_s, 2), seconds_torch=round(twin_s, 2))
        codes[name] = model.encode(test)
        epochs = list(range(1, b.byhand_epochs + 1))
        curves[f"{name}, NumPy"] = (epochs, [float(np.mean(own[i * per_epoch:(i + 1) * per_epoch])) for i in
                                             range(b.byhand_epochs)])
        curves[f"{name}, torch twin"] = (epochs, [float(np.mean(twin[i * per_epoch:(i + 1) * per_epoch])) for i in
                                                  range(b.byhand_epochs)])
    book.figure("loss.png", Curves(curves, "epoch", "training loss (nats)", "hand-written backprop vs autograd"),
                "Training loss per epoch of the NumPy models and their torch twins: the lines lie on top of "
                "each other.")
    _scatter(book, "codes.png", codes, "2-D codes of the test digits: NumPy autoencoder and VAE (posterior means)")
    return records.ByHand(models=results, lr=0.05, momentum=0.9, batch_size=32, epochs=b.byhand_epochs)


def code_space(book: Book) -> records.CodeSpace:
    data, b = book.data, book.budget
    ae = load(book.run_path("compression", "autoencoder"))
    x = data.test_x[:b.n_eval]
    g = torch.Generator().manual_seed(book.seed)
    with torch.no_grad():
        z = ae.encode(x)
        recon = ae.decode(z).clamp(0, 1)
        noisy = ae.decode(z + 0.1 * torch.randn(z.shape, generator=g)).clamp(0, 1)
        k = z.shape[1] // 2
        zeroed = ae.decode(torch.cat([z[:, :-k], torch.zeros(len(z), k)], 1)).clamp(0, 1)
    normal = decoded_samples(ae, NormalPrior().fit(ae, x), len(x), torch.Generator().manual_seed(book.seed))
    change = float((noisy - recon).pow(2).flatten(1).sum(1).mean())
    spread = float((recon - recon.roll(1, 0)).pow(2).flatten(1).sum(1).mean())  # two different test images
    scores = {name: book.score(images) for name, images in
              (("reconstructions", recon), ("noisy_codes", noisy), ("zeroed_half", zeroed), ("normal_codes", normal))}
    book.generator("autoencoder + N(0, I) codes", book.run_path("compression", "autoencoder"),
                   SampleRequest(source="normal"), model=ae, label="decoded N(0, I)")
    book.figure("perturbations.png", ImageGrid([recon[:12], noisy[:12], zeroed[:12], normal[:12]],
                                               ["recon.", "+0.1 noise", f"last {k} zeroed", "N(0, I)"],
                                               f"the {z.shape[1]}-d code space of the deep autoencoder"),
                "Decoded codes: of test images, with 0.1 N(0, I) noise added, with the last half of the dimensions "
                "zeroed, and pure N(0, I) codes.")
    plane = {}
    for name, model, options in (("autoencoder-2d", "autoencoder", {"hidden": [128, 64], "code_dim": 2}),
                                 ("vae-2d", "vae", {"hidden": [128, 64], "latent_dim": 2})):
        run = book.train(name, model, options, {"epochs": b.plane_epochs, "batch_size": b.batch_size, "lr": 3e-3})
        plane[name] = load(run)
    codes = {name: m.encode(data.test_x).detach().numpy() for name, m in plane.items()}
    _scatter(book, "planes.png", codes, "2-D codes of the test images: autoencoder (islands) vs VAE (one blob)")
    for name, m in plane.items():
        with torch.no_grad():
            images = m.decode(plane_grid(torch.tensor(codes[name]), 12)).clamp(0, 1)
        book.figure(f"{name}-plane.png", ImageGrid(_rows(images, 12), [""] * 12, f"{name}: decoded grid over its code "
                                                                                 "plane (2nd-98th percentiles)"),
                    f"The {name} decoder over a grid spanning its test codes.")
    scored = {name: records.Scored(fd=s["fd"], confidence=s["confidence"]) for name, s in scores.items()}
    return records.CodeSpace(code_dim=int(z.shape[1]), noise_scale=0.1, code_std=float(z.std()), noise_change=change,
                             image_spread=spread, relative_change=change / spread, zeroed=k, **scored,
                             test_confidence=scores["reconstructions"]["test_confidence"],
                             fd_floor=scores["reconstructions"]["fd_real_floor"], n=scores["reconstructions"]["n"],
                             measure=_measure(book))


def _measure(book: Book) -> records.Measure:
    """The judge that says "recognisable" in the claims, with its validation on the reference sets."""
    judge = book.extractor.judge
    return records.Measure(judge=judge.description, references=judge.references, problems=judge.problems)


def density(book: Book) -> records.Density:
    run = book.run_path("compression", "autoencoder")
    ae = load(run)
    options = {"n_components": 10, "seed": book.seed}
    with writing_run(run):   # the prior is kept in its run, where the explorer and `aeflow sample` read it
        fitted_prior(ae, run, "gmm", options, book.data)
    row = book.generator("autoencoder + GMM", run, SampleRequest(source="gmm", prior_options=options), model=ae,
                         label="GMM, 10 components")
    images, _ = draw(ae, run, SampleRequest(source="gmm", prior_options=options, n=48, seed=book.seed), book.data)
    book.figure("samples.png", ImageGrid(_rows(images), [""] * 3, "decoded samples of a 10-component GMM on the codes"),
                "New images: codes drawn from a Gaussian mixture fitted to the training codes, decoded.")
    return records.Density(fd=row.fd, fd_floor=row.fd_real_floor, precision=row.precision,
                           recall=row.recall, fraction_closer_than_test_p1=row.fraction_closer_than_test_p1,
                           components=10)


def vae(book: Book) -> records.VAE:
    data, b = book.data, book.budget
    train = {"epochs": b.vae_epochs, "batch_size": b.batch_size}
    sweep, prior_rows = [], []
    for beta in b.betas:
        run = book.train(f"beta-{beta:g}", "vae", {"latent_dim": 8, "beta": beta}, train)
        model, final = load(run), read_summary(run)["final"]
        surgery = elbo_surgery(model, data.test_x[:2000])
        images, _ = draw(model, run, SampleRequest(n=b.n_eval, seed=book.seed), data)   # the follow-up: per beta
        prior = book.score(images)
        prior_rows.append(images[:8])
        sweep.append(records.BetaRow(beta=beta, rate=final["test/kl"], distortion=final["test/recon"],
                                     active_units=active_units(model, data.test_x)["active_units"],
                                     mutual_information=surgery["mutual_information"],
                                     marginal_kl=surgery["marginal_kl"], log_n=surgery["log_n"],
                                     prior_confidence=prior["confidence"], prior_fd=prior["fd"]))
    main = book.run_path("vae", _main_beta(b))
    row = book.generator("VAE prior", main, SampleRequest(), label="N(0, I) decoded")
    collapse = _warm_up_pair(book, "beta-1-autoregressive", 1.0, "autoregressive")
    contrast = _warm_up_pair(book, f"beta-{b.collapse_beta:g}", b.collapse_beta, "factorised")
    images = load(main).sample(32, torch.Generator().manual_seed(book.seed)).clamp(0, 1)
    book.figure("samples.png", ImageGrid([data.test_x[:16], *_rows(images)], ["test", "prior", "prior"],
                                         "VAE: N(0, I) codes decoded, under test images"),
                "Samples from the VAE's prior (beta = 1) under test images.")
    book.figure("prior-by-beta.png", ImageGrid(prior_rows, [f"beta {r.beta:g}" for r in sweep],
                                               "N(0, I) codes decoded by each beta's VAE"),
                "The follow-up: prior samples of every beta of the sweep (same codes per column); the rate each keeps "
                "and how confidently the classifier reads its samples are in the numbers below.")
    book.figure("rate-distortion.png", Curves({"": ([r.rate for r in sweep], [r.distortion for r in sweep])},
                                              "rate: KL (nats)", "distortion: -log p(x|z) (nats)",
                                              "one point per beta: " + ", ".join(f"{r.beta:g}" for r in sweep)),
                "The rate-distortion curve of the beta sweep (test set).")
    book.figure("elbo-surgery.png", Curves({"I(X; Z)": ([r.beta for r in sweep], [r.mutual_information for r in sweep]),
                                            "KL(q(z) || p(z))": ([r.beta for r in sweep],
                                                                 [r.marginal_kl for r in sweep])},
                                           "beta", "nats", "the average KL split (ELBO surgery)", log_x=True),
                "The average KL of each beta split into the mutual information between image and code and the "
                "distance of the aggregate posterior from the prior.")
    return records.VAE(sweep=sweep, prior_fd=row.fd, prior_confidence=row.confidence,
                       test_confidence=row.test_confidence, prior_precision=row.precision,
                       prior_recall=row.recall, prior_sharpness=row.sharpness,
                       test_sharpness=_test_sharpness(book), collapse=collapse, contrast=contrast)


def _warm_up_pair(book: Book, name: str, beta: float, decoder: str) -> records.WarmUpPair:
    """A VAE (8-d code) trained without and with a linear KL warm-up over the first half of its epochs: active
    units, rate and distortion of each on the test set."""
    b, trained = book.budget, {}
    for label, weights in (("no-warm-up", {}), ("warm-up", {"kl": {"kind": "linear", "start": 0.0, "end": 1.0,
                                                                   "epochs": max(1, b.vae_epochs // 2)}})):
        run = book.train(f"{name}-{label}", "vae", {"latent_dim": 8, "beta": beta, "decoder": decoder},
                         {"epochs": b.vae_epochs, "batch_size": b.batch_size, "loss_weights": weights})
        final = read_summary(run)["final"]
        trained[label] = records.Trained(active_units=active_units(load(run), book.data.test_x)["active_units"],
                                         rate=final["test/kl"], distortion=final["test/recon"])
    return records.WarmUpPair(beta=beta, latent_dim=8, decoder=decoder, no_warm_up=trained["no-warm-up"],
                              warm_up=trained["warm-up"])


def _main_beta(budget) -> str:
    """The sweep's run whose prior samples stand for "the VAE": beta = 1, the ELBO itself."""
    return "beta-1" if 1.0 in budget.betas else f"beta-{budget.betas[0]:g}"


def _unet_train(book: Book, epochs: int) -> dict:
    return {"epochs": epochs, "batch_size": book.budget.batch_size, "lr": 2e-3, "ema_decay": 0.999}


def _unet(book: Book) -> dict:
    return {"channels": list(book.budget.unet)}


def one_step(book: Book) -> records.OneStep:
    run = book.train("onestep", "onestep", _unet(book), _unet_train(book, book.budget.onestep_epochs),
                     images=book.budget.onestep_images)
    row = book.generator("one-step", run, SampleRequest(), label="direct", picture=True)
    return records.OneStep(fd=row.fd, diversity=row.diversity, fd_floor=row.fd_real_floor)


def ddpm(book: Book) -> records.DDPM:
    b = book.budget
    run = book.train("ddpm", "ddpm", {**_unet(book), "timesteps": b.ddpm_timesteps, "schedule": b.ddpm_schedule},
                     _unet_train(book, b.gen_epochs))
    model = load(run)
    steps = b.ancestral_steps or b.ddpm_timesteps
    ancestral = SampleRequest(sampler="ddpm") if steps == b.ddpm_timesteps else \
        SampleRequest(sampler="ddim", options={"steps": steps, "eta": 1.0})
    row = book.generator("DDPM", run, ancestral, model=model, picture=True,
                         label=f"ancestral, {steps} of T = {b.ddpm_timesteps} steps")
    for steps in b.ddim_steps:
        book.generator("DDPM", run, SampleRequest(sampler="ddim", options={"steps": steps}), model=model,
                       curve="DDPM, DDIM")
    return records.DDPM(fd=row.fd, fd_floor=row.fd_real_floor, nfe=row.nfe, precision=row.precision,
                        recall=row.recall, timesteps=b.ddpm_timesteps)


def flow(book: Book) -> records.Flow:
    b = book.budget
    run = book.train("flow", "flow", _unet(book), _unet_train(book, b.gen_epochs))
    model = load(run)
    points = []
    for sampler, steps_list in b.flow_steps.items():
        for steps in steps_list:
            points.append(_point(book.generator("flow", run, SampleRequest(sampler=sampler,
                                                                           options={"steps": steps}),
                                                model=model, curve=f"flow, {sampler}")))
    best = min((p for p in points if p.nfe <= 20), key=lambda p: p.fd)
    book.generator("flow matching", run, SampleRequest(sampler=best.sampler, options=best.options), model=model,
                   picture=True)
    return records.Flow(best_fd=best.fd, best=best, points=points)


def reflow(book: Book) -> records.Reflow:
    b = book.budget
    teacher = book.run_path("flow", "flow")
    run = book.train("reflow", "flow", {**_unet(book), "reflow_from": str(teacher), "reflow_pairs": b.reflow_pairs,
                                        "reflow_sampler": "midpoint", "reflow_steps": 10,
                                        "time_sampling": "u_shaped", "velocity_loss": "pseudo_huber"},
                     _unet_train(book, b.reflow_epochs))
    model = load(run)
    points = [_point(book.generator("reflow", run, SampleRequest(sampler=s, options={"steps": k}), model=model,
                                    curve=f"reflow, {s}")) for s in ("euler", "midpoint") for k in (1, 2, 4)]
    best = min(points, key=lambda p: p.fd)
    book.generator("reflow", run, SampleRequest(sampler=best.sampler, options=best.options), model=model,
                   picture=True)
    return records.Reflow(best_fd=best.fd, best=best, points=points, pairs=b.reflow_pairs)


def _point(row: GeneratorRow) -> records.SamplerPoint:
    return records.SamplerPoint(label=row.label, nfe=row.nfe, fd=row.fd, sampler=row.sampler,
                                options=row.options)


def gan(book: Book) -> records.GAN:
    run = book.train("dcgan", "dcgan", {}, {"epochs": book.budget.gan_epochs, "ema_decay": 0.999,
                                             "sample_every": 0})
    row = book.generator("DCGAN", run, SampleRequest(), label="direct", picture=True)
    curve = duel(read_metrics(run / "metrics.jsonl"))
    epochs, d_real, d_fake = curve["epoch"], curve["d_real"], curve["d_fake"]
    book.figure("discriminator.png", Curves({"D(x), test images": (epochs, d_real), "D(G(z))": (epochs, d_fake)},
                                            "epoch", "discriminator output", "the two players, epoch by epoch"),
                "What a learned loss looks like: the discriminator's mean output on test images and on fakes, "
                "after each epoch: a game, with no fixed loss to decrease; how much D(G(z)) still moves over the "
                "second half of training is in the numbers below.")
    half = d_fake[len(d_fake) // 2:]
    return records.GAN(fd=row.fd, precision=row.precision, recall=row.recall, coverage=row.coverage,
                       sharpness=row.sharpness, min_class_fraction=row.min_class_fraction,
                       d_fake_std_second_half=float(np.std(half)), d_real_last=d_real[-1], d_fake_last=d_fake[-1])


def latent(book: Book) -> records.Latent:
    """Flow matching and DDPM (MLPs) on the compression autoencoder's codes, against the mixture on the same codes
    (the density chapter) and the autoencoder's own reconstructions, and timed against the pixel-space flow."""
    b = book.budget
    ae_run = book.run_path("compression", "autoencoder")
    ae = load(ae_run)
    floor = floor_images(book.data, min(b.n_eval, len(book.data.train_x)), 0)
    with torch.no_grad():
        reconstruction = book.score(ae.reconstruct(floor).clamp(0, 1))
    steps = b.ancestral_steps or b.ddpm_timesteps
    rows, models = [], {}
    for process, request in (("flow", SampleRequest(sampler="heun", options={"steps": 10})),
                             ("ddpm", SampleRequest(sampler="ddim", options={"steps": steps, "eta": 1.0}))):
        run = book.train(f"latent-{process}", "latent-flow",
                         {"autoencoder_run": str(ae_run), "process": process,
                          "process_config": {"hidden": list(b.latent_hidden)}},
                         {"epochs": b.latent_epochs, "batch_size": b.batch_size, "lr": 1e-3, "ema_decay": 0.999})
        models[process] = load(run)
        row = book.generator(f"latent {process}", run, request, model=models[process], picture=True)
        rows.append(records.LatentRow(process=process, label=row.label, nfe=row.nfe, fd=row.fd,
                                      confidence=row.confidence, images_per_s=row.images_per_s))
    best = min(rows, key=lambda r: r.fd)
    chosen = SampleRequest(sampler="heun", options={"steps": 10}) if best.process == "flow" else \
        SampleRequest(sampler="ddim", options={"steps": steps, "eta": 1.0})
    matched, speeds = _matched_speeds(book, models[best.process], chosen, best.fd)
    density = book.numbers("density")
    model = models[best.process]
    return records.Latent(rows=rows, best=best, reconstruction_fd=reconstruction["fd"], gmm_fd=density.fd,
                          fd_floor=reconstruction["fd_real_floor"], pixels=math.prod(book.data.shape),
                          latent_dim=model.code_dim, compression=model.compression,
                          images_per_s_pixel=speeds["pixel"], pixel_matched=matched,
                          speedup=speeds["latent"] / speeds["pixel"])


TIMINGS = 3


def _matched_speeds(book: Book, model, request: SampleRequest, fd: float
                    ) -> tuple[records.SamplerPoint, dict[str, float]]:
    """The pixel-space flow's cheapest setting at least as good as `fd` (its best setting when none is), and the
    images/s of it and of `request` on `model`, both timed here in one process: TIMINGS times each, in turn, the
    fastest kept (as timeit does: other work on the machine only ever slows a timing down)."""
    b = book.budget
    points = book.numbers("flow").points
    matched = min((p for p in points if p.fd <= fd), key=lambda p: p.nfe, default=None) or \
        min(points, key=lambda p: p.fd)
    pixel = load(book.run_path("flow", "flow"))
    speeds = {"latent": 0.0, "pixel": 0.0}
    for _ in range(TIMINGS):
        for name, m, choice in (("latent", model, choose_sampler(model, request.sampler, request.options)),
                                ("pixel", pixel, choose_sampler(pixel, matched.sampler, matched.options))):
            start = time.perf_counter()
            generate(m, b.n_eval, choice, torch.Generator().manual_seed(book.seed))
            speeds[name] = max(speeds[name], b.n_eval / (time.perf_counter() - start))
    return matched, speeds


def _test_sharpness(book: Book) -> float:
    return sharpness(book.data.test_x[:book.budget.n_eval])


def _scatter(book: Book, name: str, codes: dict, title: str) -> None:
    """2-D codes coloured by label, one panel per model (as curves: one series per class)."""
    labels = book.data.test_y.numpy() if book.data.test_y is not None else np.zeros(len(next(iter(codes.values()))))
    for model_name, z in codes.items():
        series = {str(c): (z[labels == c, 0].tolist(), z[labels == c, 1].tolist()) for c in np.unique(labels)}
        book.figure(f"{model_name}-{name}", Curves(series, "z1", "z2", f"{title}: {model_name}", scatter=True),
                    f"{title} ({model_name}); colours are the classes.")


def _not_8x8(data) -> str | None:
    return None if tuple(data.shape) == (1, 8, 8) else ("the by-hand models are 64-32-2-32-64 networks for the 8x8 "
                                                        "digits; run the lineage with --dataset digits to see them")


CHAPTERS = [
    Chapter("compression", "Compression", "A deep autoencoder against PCA, logistic PCA and kernel PCA, each with the "
            "same code size: a nonlinear code keeps more of the image.", compression, seeded=True),
    Chapter("byhand", "By hand", "The same idea in NumPy with every gradient written out (64-32-2-32-64, SGD with "
            "momentum), against a torch twin trained by autograd on the same data, weights, batches and noise.",
            byhand, _not_8x8, seeded=True),
    Chapter("code-space", "The code space", "An autoencoder's codes are only where its training images put them: "
            "small moves stay on the data, but codes drawn at random fall in the holes between.", code_space,
            seeded=True, reads=("compression",)),
    Chapter("density", "A density on the codes", "Fit a Gaussian mixture to the training codes and sample from it: "
            "the codes land where the data's codes are.", density, seeded=True, reads=("compression",)),
    Chapter("vae", "The VAE", "Make the encoder output a distribution and pull it towards N(0, I) (a KL term "
            "weighted by beta): prior samples become images, blurry ones; beta trades rate for distortion; a decoder "
            "strong enough to model the image alone lets the code collapse unless the KL is warmed up.", vae,
            seeded=True),
    Chapter("regularised", "Shaping the code", "Regularised autoencoders of one size, each shaping its code for a "
            "purpose: a denoising one is fed corrupted images, a contractive one penalises its encoder's Jacobian, "
            "an ordered one is trained on random prefixes of its code, a top-k one keeps k of 256 units, a VQ-VAE "
            "snaps its code to a codebook, a masked one fills in hidden patches.", regularised, seeded=True),
    Chapter("swiss-roll", "The Swiss roll", "A 3-D manifold (scikit-learn's Swiss roll) coded in 2-D by a "
            "3-64-64-2 autoencoder and by PCA: which keeps the roll's neighbourhoods?", swiss_roll, seeded=True),
    Chapter("one-step", "One step from noise", "A network trained to map noise straight to an image by squared "
            "error learns the average image: noise and image are independent.", one_step, seeded=True),
    Chapter("ddpm", "Many small steps", "Denoising diffusion: undo a little noise at a time, hundreds of steps from "
            "noise to image, with a UNet trained on 1,000 noise levels and sampled on all or a respaced subset.",
            ddpm),
    Chapter("flow", "A straight path", "Flow matching on the same network: learn the velocity along a straight "
            "noise-to-data path and integrate it with an ODE solver in few steps.", flow),
    Chapter("reflow", "Straighter", "Reflow: train a new flow on the (noise, sample) pairs of the first; its paths "
            "straighten, so 1-4 steps suffice.", reflow, reads=("flow",)),
    Chapter("gan", "A learned loss", "A DCGAN: a discriminator is the loss, trained against the generator.", gan),
    Chapter("latent", "In a good code space", "Flow matching and DDPM on the codes of the first chapter's deep "
            "autoencoder, whose decoder makes images close to the data: the generator walks a much smaller state, "
            "against the Gaussian mixture on the same codes, and the decoder makes the image.", latent,
            reads=("compression", "density", "flow")),
]
