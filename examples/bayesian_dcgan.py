"""DCGAN with a Bayesian discriminator on CIFAR-10 (Shridhar et al., section 6.2).

The generator is DCGAN's (Table 9); the discriminator has Bayesian
convolutions (Table 10; local reparameterization by default) whose KL enters
its loss. Every epoch writes a grid of samples; at the end a plot shows both
losses and the discriminator's epistemic uncertainty (Monte Carlo standard
deviation of D(x)) on real and on generated images.

    python examples/bayesian_dcgan.py --data-dir ../shared/data/cifar10-jpeg/cifar10-jpeg.tar.gz

`--data-dir` is a folder that `bz.data` reads CIFAR-10 from (TFDS,
`cifar-10-batches-py/`, or a `train/<class>/*.jpg` tree) or a `.tar.gz` of
such a tree, extracted to a temporary folder. The defaults (32x32 images,
ngf = ndf = 32, 5 epochs of 50 batches) take a few minutes on a CPU; the
paper's setting is `--image-size 64 --ngf 64 --ndf 64 --epochs 100
--steps-per-epoch 0` (full epochs).
"""

import argparse
import os
import tarfile
import tempfile
import time

import keras

from bayes_zoo import gan as gan_lib
from bayes_zoo.architectures.dcgan import dcgan


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True,
                        help="CIFAR-10 folder, or a .tar.gz of its image tree")
    parser.add_argument("--method", default="lrt",
                        choices=["lrt", "bbb", "flipout", "frequentist"],
                        help="the discriminator's layers")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--ndf", type=int, default=32)
    parser.add_argument("--latent-dim", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps-per-epoch", type=int, default=50,
                        help="batches per epoch; 0 for full passes over the data")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=gan_lib.LEARNING_RATE)
    parser.add_argument("--uncertainty-samples", type=int, default=4,
                        help="Monte Carlo draws of D per step for its uncertainty")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="bayesian_dcgan")
    return parser.parse_args()


def train(arguments, data_dir):
    keras.utils.set_random_seed(arguments.seed)
    start = time.time()
    images, num_images = gan_lib.real_images(
        "cifar10",
        data_dir=data_dir,
        image_size=arguments.image_size,
        batch_size=arguments.batch_size,
        seed=arguments.seed,
    )
    print(f"{num_images} CIFAR-10 training images, read in {time.time() - start:.0f} s")
    gan = dcgan(
        method=arguments.method,
        image_size=arguments.image_size,
        latent_dim=arguments.latent_dim,
        ngf=arguments.ngf,
        ndf=arguments.ndf,
        num_train_examples=num_images,
        uncertainty_samples=arguments.uncertainty_samples,
        seed=arguments.seed,
    )
    samples = os.path.join(arguments.output_dir, "samples")
    start = time.time()
    history = gan_lib.train(
        gan,
        images,
        epochs=arguments.epochs,
        learning_rate=arguments.learning_rate,
        steps_per_epoch=arguments.steps_per_epoch or None,
        sample_dir=samples,
        verbose=2,
    )
    print(f"Trained in {time.time() - start:.0f} s; sample grids in {samples}/")
    plot = gan_lib.plot_training(
        history,
        os.path.join(arguments.output_dir, "training.png"),
        title=f"DCGAN, {arguments.method} discriminator, CIFAR-10 {arguments.image_size}x"
        f"{arguments.image_size}",
    )
    print(f"Wrote {plot}")
    gan.save(os.path.join(arguments.output_dir, "model.keras"))


def main():
    arguments = parse_arguments()
    if arguments.data_dir.endswith((".tar.gz", ".tgz")):
        with tempfile.TemporaryDirectory() as folder:
            print(f"Extracting {arguments.data_dir} to {folder}")
            with tarfile.open(arguments.data_dir) as archive:
                archive.extractall(folder, filter="data")
            train(arguments, folder)
    else:
        train(arguments, arguments.data_dir)


if __name__ == "__main__":
    main()
