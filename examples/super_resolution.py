"""Bayesian super-resolution (ESPCN, upscale factor 3) with an uncertainty map.

Trains a Bayesian ESPCN (Shridhar et al., Table 8; local reparameterization
and the paper's posterior sigma^2 = alpha mu^2 by default) and its
frequentist twin on luminance crops of photographs,
scores both against bicubic upscaling (PSNR and SSIM on the Y channel,
borders of 3 pixels left out) on held-out photographs, and writes one PNG:
the low-resolution input, bicubic upscaling, the Bayesian super-resolution
(Monte Carlo mean; colour from bicubic Cb/Cr) and its per-pixel epistemic
uncertainty.

Offline, with no data: scikit-image's bundled photographs (train on 12,
test on chelsea / coffee / rocket; `pip install scikit-image`).

    python examples/super_resolution.py

With a folder holding CBSD68/, Set5/ and Set14/ (any folders of images work):

    python examples/super_resolution.py --data-dir ../shared/data/photos \\
        --train-folder CBSD68 --test-folders Set5 Set14

The defaults train for a few minutes on a CPU. The paper trains for 200
epochs with a learning rate of 0.01 (`--epochs 200 --learning-rate 0.01`);
in short runs 0.01 is noisy (the frequentist twin after 8 epochs on CBSD68:
27.7 dB on Set5 at 0.01, 29.8 dB at 0.001, bicubic 29.1 dB), so the
example's default is 0.001.
"""

import argparse
import os
import time

import keras
import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import bayes_zoo as bz
from bayes_zoo import super_resolution as sr
from bayes_zoo.architectures.espcn import espcn

UPSCALE_FACTOR = 3
# 68 CBSD68 photographs x 64 crops: 68 batches of 64 per epoch.
CROPS_PER_EPOCH = 4352
POSTERIORS = {
    "multiplicative": lambda: bz.posteriors.MultiplicativeNormal(log_alpha_init=-10.0),
    "mean_field": bz.posteriors.MeanFieldNormal,
}


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder of the photograph folders; "
                        "scikit-image's bundled photographs when omitted")
    parser.add_argument("--train-folder", default="CBSD68")
    parser.add_argument("--test-folders", nargs="+", default=["Set5", "Set14"])
    parser.add_argument("--method", default="lrt", choices=["lrt", "bbb", "flipout"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.001,
                        help="Adam's; the paper's 0.01 is noisier in short runs")
    parser.add_argument("--crop-size", type=int, default=51,
                        help="high-resolution crop side (17x17 low-resolution inputs)")
    parser.add_argument("--crops-per-image", type=int,
                        help="random crops per photograph; by default about "
                        f"{CROPS_PER_EPOCH} crops in all")
    parser.add_argument("--noise-stddev", type=float, default=sr.NOISE_STDDEV,
                        help="the Gaussian likelihood's standard deviation (sets the KL weight)")
    parser.add_argument("--posterior", default="multiplicative",
                        choices=["multiplicative", "mean_field"],
                        help="sigma^2 = alpha mu^2 with log alpha = -10 (the paper's appendix), "
                        "or sigma = softplus(rho) with rho ~ N(-5, 0.1)")
    parser.add_argument("--num-samples", type=int, default=20, help="Monte Carlo draws")
    parser.add_argument("--no-frequentist", action="store_true",
                        help="skip the frequentist twin")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="super_resolution.png")
    return parser.parse_args()


def load_photographs(arguments):
    """(training photographs, {test set name: {image name: photograph}})."""
    if arguments.data_dir is None:
        print("Photographs: scikit-image's bundled samples")
        train = list(sr.bundled_photographs(sr.BUNDLED_TRAIN_PHOTOGRAPHS).values())
        return train, {"skimage": sr.bundled_photographs(sr.BUNDLED_TEST_PHOTOGRAPHS)}
    print(f"Photographs: {arguments.data_dir}")
    train = sr.read_images(os.path.join(arguments.data_dir, arguments.train_folder))
    tests = {}
    for folder in arguments.test_folders:
        path = os.path.join(arguments.data_dir, folder)
        names = sorted(n for n in os.listdir(path) if n.lower().endswith(sr.IMAGE_EXTENSIONS))
        tests[folder] = dict(zip((os.path.splitext(n)[0] for n in names), sr.read_images(path)))
    return train, tests


def train_model(method, low_res, high_res, arguments):
    keras.utils.set_random_seed(arguments.seed)
    model = espcn(
        method=method,
        upscale_factor=UPSCALE_FACTOR,
        num_train_examples=sr.elbo_num_train_examples(high_res, arguments.noise_stddev),
        posterior=POSTERIORS[arguments.posterior](),
        seed=arguments.seed,
    )
    print(f"\nTraining ESPCN ({method}) for {arguments.epochs} epochs")
    start = time.time()
    sr.train(
        model,
        low_res,
        high_res,
        epochs=arguments.epochs,
        batch_size=arguments.batch_size,
        learning_rate=arguments.learning_rate,
        seed=arguments.seed,
        verbose=2,
    )
    print(f"  {time.time() - start:.0f} s")
    return model


def colour_from_luminance(luminance, rgb):
    """Replaces the Y channel of `rgb` (its Cb/Cr kept) by `luminance`."""
    yuv = tf.image.rgb_to_yuv(rgb)
    merged = tf.concat([luminance, yuv[..., 1:]], axis=-1)
    return np.clip(tf.image.yuv_to_rgb(merged).numpy(), 0.0, 1.0)


def write_figure(model, name, photograph, num_samples, path):
    """LR input, bicubic, Bayesian SR and uncertainty map of one photograph."""
    high_res = sr.crop_to_multiple(photograph, UPSCALE_FACTOR)[np.newaxis]
    low_res = sr.downscale(high_res, UPSCALE_FACTOR)
    bicubic = sr.bicubic_upscale(low_res, UPSCALE_FACTOR)
    low_res_y = sr.luminance(low_res)
    mean, stddev = sr.super_resolve(model, low_res_y, num_samples)
    target_y = sr.luminance(high_res)
    scores = {
        "bicubic": (sr.psnr(sr.luminance(bicubic), target_y, UPSCALE_FACTOR)[0],
                    sr.ssim(sr.luminance(bicubic), target_y, UPSCALE_FACTOR)[0]),
        "bayesian": (sr.psnr(mean, target_y, UPSCALE_FACTOR)[0],
                     sr.ssim(mean, target_y, UPSCALE_FACTOR)[0]),
    }
    grayscale = photograph.shape[-1] == 1
    if grayscale:
        panels = [low_res[0, ..., 0], bicubic[0, ..., 0], mean[0, ..., 0]]
    else:
        panels = [low_res[0].numpy(), bicubic[0].numpy(),
                  colour_from_luminance(mean, bicubic)[0]]
    titles = [
        f"low resolution ({low_res.shape[2]}x{low_res.shape[1]})",
        "bicubic: {:.2f} dB, SSIM {:.3f}".format(*scores["bicubic"]),
        "Bayesian ESPCN (MC mean): {:.2f} dB, SSIM {:.3f}".format(*scores["bayesian"]),
        f"epistemic uncertainty (MC std of Y, T={num_samples})",
    ]
    figure = Figure(figsize=(20, 5.6), dpi=110)
    for index, (panel, title) in enumerate(zip(panels + [stddev[0, ..., 0]], titles), 1):
        axes = figure.add_subplot(1, 4, index)
        if index == 4:
            shown = axes.imshow(panel, cmap="magma")
            figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.02)
        else:
            # The low-resolution input is drawn with big pixels, at the same
            # size as the others.
            axes.imshow(panel, cmap="gray" if grayscale else None, vmin=0, vmax=1,
                        interpolation="nearest")
        axes.set_title(title, fontsize=10)
        axes.axis("off")
    figure.suptitle(f"{name}: super-resolution x{UPSCALE_FACTOR} on the Y channel")
    figure.tight_layout()
    FigureCanvasAgg(figure).print_png(path)
    print(f"\nWrote {path}")


def main():
    arguments = parse_arguments()
    train_photos, test_sets = load_photographs(arguments)
    low_res, high_res = sr.training_pairs(
        train_photos,
        upscale_factor=UPSCALE_FACTOR,
        crop_size=arguments.crop_size,
        crops_per_image=arguments.crops_per_image
        or max(1, round(CROPS_PER_EPOCH / len(train_photos))),
        seed=arguments.seed,
    )
    print(f"{len(low_res)} training crops of {arguments.crop_size}x{arguments.crop_size} "
          f"from {len(train_photos)} photographs")
    models = {"bayesian": train_model(arguments.method, low_res, high_res, arguments)}
    if not arguments.no_frequentist:
        models["frequentist"] = train_model("frequentist", low_res, high_res, arguments)

    print(f"\nY-channel PSNR (dB) / SSIM, shave {UPSCALE_FACTOR}, "
          f"Bayesian = MC mean of {arguments.num_samples} draws")
    header = f"{'test set':<10} {'bicubic':>16}" + "".join(f" {name:>16}" for name in models)
    print(header + f" {'mean MC std':>12}")
    for set_name, photographs in test_sets.items():
        scores = {
            name: sr.evaluate(model, list(photographs.values()), UPSCALE_FACTOR,
                              arguments.num_samples)
            for name, model in models.items()
        }
        bicubic = scores["bayesian"]
        row = f"{set_name:<10} {bicubic['bicubic_psnr']:>8.2f} / {bicubic['bicubic_ssim']:.3f}"
        row += "".join(f" {s['psnr']:>8.2f} / {s['ssim']:.3f}" for s in scores.values())
        print(row + f" {scores['bayesian']['uncertainty']:>12.4f}")

    set_name, photographs = next(iter(test_sets.items()))
    name, photograph = next(iter(photographs.items()))
    write_figure(models["bayesian"], f"{set_name}/{name}", photograph, arguments.num_samples,
                 arguments.output)


if __name__ == "__main__":
    main()
