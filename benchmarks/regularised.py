"""The regularised autoencoders on one dataset: each family trained once, its own numbers printed (the
ones its `report` writes into the run's summary.json), with a plain autoencoder of the same widths as
the reference where a comparison needs one (code sensitivity, error against a code prefix).

    python benchmarks/regularised.py --dataset mnist --data-dir ../shared/data/mnist

Runs go to runs/regularised-DATASET/ (finished runs are reused, interrupted ones resumed); the tables
are printed and written to tables.md there. The pictures are in each run folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import aeflow
from aeflow.diffusion.corruption import keep_prefix
from aeflow.models.contractive import code_sensitivity, jacobian_frobenius, jacobian_spectrum
from aeflow.runs import ensure, read_summary
from aeflow.viz import save_curves

MLP = {"hidden": [512, 256], "code_dim": 16, "norm": "layer", "activation": "silu"}


def families(epochs: int, conv_epochs: int) -> dict[str, tuple[str, dict, dict]]:
    mlp_train = {"epochs": epochs, "batch_size": 128, "lr": 2e-3}
    conv_train = {"epochs": conv_epochs, "batch_size": 128, "lr": 2e-3}
    return {
        "plain": ("autoencoder", MLP, mlp_train),
        "sparse-topk": ("sparse-ae", {"code_dim": 1024, "sparsity": "topk", "k": 32}, mlp_train),
        "sparse-l1": ("sparse-ae", {"code_dim": 1024, "sparsity": "l1", "l1_weight": 0.02}, mlp_train),
        "sparse-kl": ("sparse-ae", {"code_dim": 1024, "sparsity": "kl", "rho": 0.03}, mlp_train),
        "denoising": ("denoising-ae", {**MLP, "corruption": "gaussian", "level": 0.3}, mlp_train),
        "contractive": ("contractive-ae", {**MLP, "contractive_weight": 0.1}, mlp_train),
        "ordered": ("ordered-ae", {**MLP, "nested_p": 0.1}, mlp_train),
        "conv-resize": ("conv-ae", {"channels": [32, 64], "code_dim": 32, "upsampling": "resize"}, conv_train),
        "conv-transpose": ("conv-ae", {"channels": [32, 64], "code_dim": 32, "upsampling": "transpose"}, conv_train),
        "vq-vae": ("vq-vae", {"channels": [32, 64], "code_dim": 16, "codebook_size": 128}, conv_train),
        "mae": ("mae", {"mask_ratio": 0.75}, conv_train),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the MLP families")
    parser.add_argument("--conv-epochs", type=int, default=3, help="epochs of the convolutional / transformer ones")
    parser.add_argument("--only", default=None, help="comma-separated subset of the families")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    out = Path(args.out or f"runs/regularised-{args.dataset}")
    data = aeflow.load_dataset(args.dataset, args.data_dir)
    chosen = families(args.epochs, args.conv_epochs)
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",") or k == "plain"}
    summaries = {}
    for name, (model, options, train) in chosen.items():
        config = aeflow.make_config(model, args.dataset, options, {**train, "progress": False}, args.data_dir)
        summaries[name] = read_summary(ensure(config, out / name, dataset=data))

    lines = [f"# Regularised autoencoders on {args.dataset}", ""]
    lines += ["| run | test error / image | train time (s) | parameters |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {k} | {s['test_recon_error']:.3f} | {s['train_time_s']:.0f} | {s['n_parameters']} |"
              for k, s in summaries.items()]
    sparse = [k for k in summaries if k.startswith("sparse")]
    if sparse:
        lines += ["", "| sparse | L0 | dead fraction | normalised MSE (centred) | error at k = 4 / 8 / 16 (slider) |",
                  "| --- | ---: | ---: | ---: | --- |"]
        for k in sparse:
            s = summaries[k]["sparsity"]
            slider = {r["k"]: r["error"] for r in s["top_k_slider"]}
            lines.append(f"| {k} | {s['l0']:.1f} | {s['dead_fraction']:.3f} | {s['normalised_mse']:.4f} | "
                         + " / ".join(f"{slider[j]:.2f}" for j in (4, 8, 16)) + " |")
    if "denoising" in summaries:
        d = summaries["denoising"]["denoising"]
        lines += ["", f"| {d['corruption']} level (trained at {d['trained_level']:g}) | PSNR noisy (dB) | "
                      "PSNR denoised (dB) |", "| ---: | ---: | ---: |"]
        lines += [f"| {r['level']:g} | {r['psnr_noisy']:.2f} | {r['psnr_denoised']:.2f} |" for r in d["sweep"]]
    x = data.test_x[:1000]
    if "contractive" in summaries:
        plain = aeflow.load(out / "plain")
        rows = {"plain": {"jacobian_frobenius_sq_exact": float(jacobian_frobenius(plain.encode, x[:500]).mean()),
                          **code_sensitivity(plain, data.test_x)},
                "contractive": summaries["contractive"]["contractive"]}
        spectra = {k: jacobian_spectrum(aeflow.load(out / k).encode, x[:50]).tolist() for k in rows}
        lines += ["", "| encoder | mean ||J||_F^2 (exact) | code movement / input movement | the same / code std "
                      "| Jacobian singular values, largest / smallest |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {k} | {r['jacobian_frobenius_sq_exact']:.4f} | {r['code_sensitivity']:.4f} | "
                  f"{r['code_sensitivity_per_code_std']:.4f} | {spectra[k][0]:.3f} / {spectra[k][-1]:.3f} |"
                  for k, r in rows.items()]
        save_curves({k: (list(range(1, len(v) + 1)), v) for k, v in spectra.items()}, out / "jacobian_spectra.png",
                    "singular value index", "singular value of d code / d x", "encoder Jacobian spectra", log_y=True)
    if "ordered" in summaries:
        o = summaries["ordered"]["ordered"]
        plain = aeflow.load(out / "plain")
        with torch.no_grad():
            z = plain.encode(x)
            plain_errors = [float((plain.decode(keep_prefix(z, k)) - x).pow(2).flatten(1).sum(1).mean())
                            for k in range(1, z.shape[1] + 1)]
        ks = [k for k in (1, 2, 4, 8, 16) if k <= len(o["prefix_error"])]
        lines += ["", "| first k units kept | " + " | ".join(str(k) for k in ks) + " |",
                  "| --- |" + " ---: |" * len(ks)]
        lines.append("| nested dropout | " + " | ".join(f"{o['prefix_error'][k - 1]:.2f}" for k in ks) + " |")
        lines.append("| PCA (k components) | " + " | ".join(f"{o['pca_error'][k - 1]:.2f}" for k in ks) + " |")
        lines.append("| plain autoencoder | " + " | ".join(f"{plain_errors[k - 1]:.2f}" for k in ks) + " |")
    conv = [k for k in summaries if k.startswith("conv")]
    if conv:
        lines += ["", "| upsampling | test error | Nyquist energy: reconstructions | test images | constant code "
                      "| decoder at initialisation |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for k in conv:
            c = summaries[k]["checkerboard"]
            lines.append(f"| {c['upsampling']} | {summaries[k]['test_recon_error']:.3f} | "
                         f"{c['nyquist_energy_reconstructions']:.5f} | {c['nyquist_energy_test_images']:.5f} | "
                         f"{c['nyquist_energy_constant_code']:.5f} | {c['nyquist_energy_at_initialisation']:.5f} |")
    if "vq-vae" in summaries:
        c = summaries["vq-vae"]["codebook"]
        last = summaries["vq-vae"]["final"]
        lines += ["", f"VQ-VAE: codebook {c['size']}, code grid {c['grid']}, {c['bits_per_image']:.0f} bits per "
                      f"image; training-set perplexity {c['perplexity_train']:.1f}, dead codes "
                      f"{c['dead_fraction_train']:.3f}; test perplexity per batch {last['test/perplexity']:.1f}; "
                      f"prior: {c['prior']}"]
    if "mae" in summaries:
        m = summaries["mae"]["masking"]
        lines += ["", f"| mask ratio (trained at {m['trained_ratio']:g}, patch {m['patch_size']}) | squared error per "
                      "hidden pixel |", "| ---: | ---: |"]
        lines += [f"| {r['mask_ratio']:g} | {r['hidden_sq_err_per_pixel']:.4f} |" for r in m["sweep"]]
    text = "\n".join(lines) + "\n"
    print(text)
    (out / "tables.md").write_text(text)


if __name__ == "__main__":
    main()
