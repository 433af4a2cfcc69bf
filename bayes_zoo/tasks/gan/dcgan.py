"""DCGAN with a Bayesian discriminator (Shridhar et al., section 6.2, Tables 9 and 10).

- `dcgan_generator`: Radford et al.'s generator (Table 9): a 4x4 transposed
  convolution from the latent vector to a 4x4 map of `ngf * 2^k` channels,
  then 4x4 stride-2 transposed convolutions halving the channels and doubling
  the size down to `ngf`, each with batch normalisation and ReLU, and a last
  one to `channels` with tanh. For 64x64 images the widths are `ngf * 8, *
  4, * 2, * 1` as in the table; for 32x32 one stage fewer (`ngf * 4, * 2, *
  1`).
- `dcgan_discriminator`: Table 10 with Bayesian convolutions: 4x4 stride-2
  convolutions (zero padding 1) doubling the channels from `ndf`, each with
  LeakyReLU(0.2) and, as in DCGAN, batch normalisation on all but the first
  (the table lists no normalisation; `batch_norm=False` drops it), then a
  4x4 valid convolution to one logit (the table's sigmoid is applied in the
  loss, from logits, which is the numerically stable form).
- `BayesianDCGAN`: the Keras model that trains them with its own
  `train_step`, so `fit` gives progress bars, callbacks and logs; the
  discriminator's KL enters its loss, and every step logs its epistemic
  uncertainty on real and on generated images.
- `dcgan`: builds all three.

Images are in [-1, 1] (the paper's normalisation with 0.5: `x * 2 - 1` for
x in [0, 1]).
"""

import math

import keras
import tensorflow as tf

from bayes_zoo import posteriors
from bayes_zoo.methods import VARIATIONAL_METHODS
from bayes_zoo.methods import LayerFactory

METHODS = ("frequentist",) + VARIATIONAL_METHODS
_LEAKY_RELU_SLOPE = 0.2
# PyTorch's BatchNorm2d defaults (momentum 0.1 there is 0.9 here), as DCGAN.
_BATCH_NORM_MOMENTUM = 0.9
_BATCH_NORM_EPSILON = 1e-5
# DCGAN initialises every weight from N(0, 0.02); the discriminator's
# posterior means start there too. (The paper's "standard deviation equal to
# 1" cannot be meant literally. The library's N(0, 0.1) makes the last
# convolution's logits large and, behind batch normalisation, slows the
# discriminator's learning about 25-fold: measured on CIFAR-10, D(real) fell
# to 0.3 and D(fake) rose to 0.85 over 250 steps, against 0.95 and 0.04
# after 150 steps from N(0, 0.02).)
_INIT_STDDEV = 0.02


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Argument `{name}` must be a positive integer. Received: {name}={value!r}")


def _num_stride2_stages(image_size):
    """Stride-2 stages between 4x4 and `image_size`; raises for other sizes."""
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, int)
        or image_size < 8
        or image_size & (image_size - 1)
    ):
        raise ValueError(
            "Argument `image_size` must be a power of two >= 8 (64 in the paper, 32 "
            f"for CIFAR-10 at its own size). Received: image_size={image_size!r}"
        )
    return int(math.log2(image_size)) - 2


def dcgan_generator(latent_dim=100, image_size=64, channels=3, ngf=64, name="generator"):
    """The DCGAN generator of Table 9: latent vectors to images in [-1, 1].

    Args:
        latent_dim: int >= 1, `nz`, 100 in the paper.
        image_size: power of two >= 8, the side of the square images (64 in
            the paper's appendix; 32 is CIFAR-10's own size).
        channels: int >= 1, `nc`, 3 for colour images.
        ngf: int >= 1, the generator's width factor, 64 in the paper.
        name: str, the model's name.

    Returns:
        A functional `keras.Model` mapping `[b, latent_dim]` to `[b,
        image_size, image_size, channels]`.

    Example:

    >>> generator = bz.architectures.dcgan_generator(image_size=32, ngf=32)
    >>> generator(tf.random.normal([4, 100])).shape
    TensorShape([4, 32, 32, 3])
    """
    for argument, value in (("latent_dim", latent_dim), ("channels", channels), ("ngf", ngf)):
        _check_positive_int(argument, value)
    stages = _num_stride2_stages(image_size)
    initializer = keras.initializers.RandomNormal(0.0, _INIT_STDDEV)
    latent = keras.Input((latent_dim,), name="latent")
    x = keras.layers.Reshape((1, 1, latent_dim), name="latent_as_map")(latent)
    # 1x1 -> 4x4 (PyTorch's ConvTranspose2d(nz, ngf * 2^k, 4, 1, 0)), then
    # every stride-2 stage doubles the size ((4, 2, 1) is Keras' "same").
    widths = [ngf * 2 ** (stages - 1 - stage) for stage in range(stages)]
    for index, filters in enumerate(widths, 1):
        x = keras.layers.Conv2DTranspose(
            filters,
            4,
            strides=1 if index == 1 else 2,
            padding="valid" if index == 1 else "same",
            use_bias=False,
            kernel_initializer=initializer,
            name=f"deconv{index}",
        )(x)
        x = keras.layers.BatchNormalization(
            momentum=_BATCH_NORM_MOMENTUM, epsilon=_BATCH_NORM_EPSILON, name=f"bn{index}"
        )(x)
        x = keras.layers.ReLU(name=f"relu{index}")(x)
    images = keras.layers.Conv2DTranspose(
        channels,
        4,
        strides=2,
        padding="same",
        use_bias=False,
        activation="tanh",
        kernel_initializer=initializer,
        name=f"deconv{len(widths) + 1}",
    )(x)
    return keras.Model(latent, images, name=name)


def dcgan_discriminator(
    method="lrt",
    image_size=64,
    channels=3,
    ndf=64,
    num_train_examples=50000,
    prior=None,
    posterior=None,
    batch_norm=True,
    seed=None,
    name="discriminator",
):
    """The Bayesian DCGAN discriminator of Table 10: images to real-vs-fake logits.

    Args:
        method: `"lrt"` (local reparameterization), `"bbb"`
            (reparameterization), `"flipout"`, or `"frequentist"` (plain
            Keras convolutions: the original DCGAN).
        image_size: power of two >= 8, the side of the square images.
        channels: int >= 1, `nc`.
        ndf: int >= 1, the discriminator's width factor, 64 in the paper.
        num_train_examples: int >= 1, the number of real training images; the
            variational layers start with `kl_weight = 1 / num_train_examples`.
        prior: a `bz.priors.Prior`, `Normal(0, 0.1)` when None.
        posterior: a `bz.posteriors.Posterior`; when None, `MeanFieldNormal`
            with its means drawn from N(0, 0.02), DCGAN's initialisation.
            (The frequentist discriminator keeps Keras' default
            initialisation.)
        batch_norm: bool, batch normalisation after every convolution but the
            first and the last, as in DCGAN.
        seed: int or None, seeds the noise of the variational layers.
        name: str, the model's name.

    Returns:
        A functional `keras.Model` mapping `[b, image_size, image_size,
        channels]` images in [-1, 1] to `[b, 1]` logits; `sigmoid(logit)` is
        the probability that the image is real. Every call draws new
        weights (or activations) from the posterior.

    Example:

    >>> discriminator = bz.architectures.dcgan_discriminator(
    ...     method="lrt", image_size=32, ndf=32, num_train_examples=50000)
    """
    if method not in METHODS:
        raise ValueError(
            f"Unknown argument `method`: expected one of {METHODS}. Received: method={method!r}"
        )
    for argument, value in (
        ("channels", channels),
        ("ndf", ndf),
        ("num_train_examples", num_train_examples),
    ):
        _check_positive_int(argument, value)
    stages = _num_stride2_stages(image_size)
    if posterior is None:
        posterior = posteriors.MeanFieldNormal(
            loc_initializer=keras.initializers.RandomNormal(0.0, _INIT_STDDEV)
        )
    factory = LayerFactory(
        method, prior, posterior, 1.0 / num_train_examples, dropout_rate=0.0, seed=seed
    )
    images = keras.Input((image_size, image_size, channels), name="images")
    x = images
    for index in range(1, stages + 1):
        # PyTorch's Conv2d(.., 4, 2, 1): zero padding 1, valid convolution.
        x = keras.layers.ZeroPadding2D(1, name=f"pad{index}")(x)
        x = factory.conv(ndf * 2 ** (index - 1), 4, 2, None, f"conv{index}")(x)
        if batch_norm and index > 1:
            x = keras.layers.BatchNormalization(
                momentum=_BATCH_NORM_MOMENTUM, epsilon=_BATCH_NORM_EPSILON, name=f"bn{index}"
            )(x)
        x = keras.layers.LeakyReLU(_LEAKY_RELU_SLOPE, name=f"leaky_relu{index}")(x)
    x = factory.conv(1, 4, 1, None, f"conv{stages + 1}")(x)
    logits = keras.layers.Flatten(name="logits")(x)
    return keras.Model(images, logits, name=name)


def discriminator_uncertainty(discriminator, images, num_samples):
    """Monte Carlo mean and standard deviation of D's probability that images are real.

    `num_samples` calls of the discriminator in inference mode (batch
    normalisation with its moving statistics), each a draw from the weight
    posterior; the standard deviation over the draws is the epistemic
    uncertainty. A frequentist discriminator gives zero. Traceable inside a
    `tf.function` (the draws are unrolled in the graph).

    Args:
        discriminator: a model giving one logit per image.
        images: float tensor `[N, height, width, channels]` in [-1, 1].
        num_samples: int >= 2, the draws T.

    Returns:
        `(mean, stddev)`: float32 tensors `[N]`.

    Example:

    >>> mean, stddev = bz.architectures.discriminator_uncertainty(
    ...     gan.discriminator, real_images, num_samples=8)
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 2:
        raise ValueError(
            f"Argument `num_samples` must be an integer >= 2. Received: num_samples={num_samples!r}"
        )
    probabilities = keras.ops.stack(
        [
            keras.ops.sigmoid(keras.ops.reshape(discriminator(images, training=False), [-1]))
            for _ in range(num_samples)
        ]
    )
    return keras.ops.mean(probabilities, axis=0), keras.ops.std(probabilities, axis=0)


@keras.saving.register_keras_serializable(package="bayes_zoo")
class BayesianDCGAN(keras.Model):
    """A DCGAN whose discriminator is Bayesian, trained by `fit`.

    Each training step (Radford et al.'s, with the non-saturating generator
    loss):

    1. discriminator: `d_loss = BCE(D(x), 1) + BCE(D(G(z)), 0) + KL`, where
       the KL is what the discriminator's variational layers add
       (`kl_weight * KL(q || p)`, `1 / num_train_examples` by default), on
       a real batch `x` and generated images `G(z)`, `z ~ N(0, I)`;
    2. generator: `g_loss = BCE(D(G(z)), 1)` with the updated
       discriminator;
    3. monitoring (no gradients): the discriminator's epistemic uncertainty,
       the Monte Carlo standard deviation over `uncertainty_samples` draws of
       its probability, averaged over the real and over the generated batch.

    `fit` logs the epoch means of `d_loss`, `g_loss`, `d_kl`, `d_real` (the
    mean of D(x)), `d_fake` (of D(G(z)), before the update) and
    `d_uncertainty_real`, `d_uncertainty_fake`. Calling the model generates
    images from latent vectors. It saves to and loads from `.keras` files,
    optimizers included.

    Args:
        generator: a model from latent vectors to images in [-1, 1], e.g.
            `dcgan_generator`.
        discriminator: a model from images to one logit, e.g.
            `dcgan_discriminator`.
        latent_dim: int >= 1, the generator's input size.
        uncertainty_samples: int >= 2, or 0 to skip the monitoring (faster).
        seed: int or None, seeds the latent vectors drawn in training.
        **kwargs: `keras.Model` keyword arguments, such as `name`.

    Example:

    >>> gan = bz.architectures.BayesianDCGAN(generator, discriminator, latent_dim=100)
    >>> gan.compile(d_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5),
    ...             g_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5))
    >>> history = gan.fit(images_in_minus_one_one, epochs=5)
    >>> history.history["d_uncertainty_real"]
    """

    def __init__(
        self, generator, discriminator, latent_dim, uncertainty_samples=4, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        _check_positive_int("latent_dim", latent_dim)
        if (
            isinstance(uncertainty_samples, bool)
            or not isinstance(uncertainty_samples, int)
            or uncertainty_samples < 0
            or uncertainty_samples == 1
        ):
            raise ValueError(
                "Argument `uncertainty_samples` must be 0 or an integer >= 2. "
                f"Received: uncertainty_samples={uncertainty_samples!r}"
            )
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.uncertainty_samples = uncertainty_samples
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._trackers = {
            name: keras.metrics.Mean(name=name)
            for name in (
                "d_loss",
                "g_loss",
                "d_kl",
                "d_real",
                "d_fake",
                "d_uncertainty_real",
                "d_uncertainty_fake",
            )
        }
        self._binary_cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
        # The generator and the discriminator come built.
        self.built = True

    def call(self, latent, training=False):
        return self.generator(latent, training=training)

    @property
    def metrics(self):
        # Listed here so that Keras resets them at the start of every epoch.
        return list(self._trackers.values())

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        """Sets the two optimizers (the paper: Adam, learning rate 1e-4, beta_1 0.5).

        Args:
            d_optimizer: a `keras.optimizers.Optimizer` (or its name) for the
                discriminator.
            g_optimizer: likewise, for the generator.
            **kwargs: further `keras.Model.compile` arguments, such as
                `jit_compile`.
        """
        super().compile(**kwargs)
        self.d_optimizer = keras.optimizers.get(d_optimizer)
        self.g_optimizer = keras.optimizers.get(g_optimizer)
        # Built now, so that a model saved before training has the
        # optimizers' variables that loading restores.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return {
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
        }

    def compile_from_config(self, config):
        self.compile(
            d_optimizer=keras.saving.deserialize_keras_object(config["d_optimizer"]),
            g_optimizer=keras.saving.deserialize_keras_object(config["g_optimizer"]),
        )

    def _cross_entropy(self, logits, label):
        return self._binary_cross_entropy(keras.ops.full_like(logits, label), logits)

    def train_step(self, data):
        real = data[0] if isinstance(data, (tuple, list)) else data
        batch_size = keras.ops.shape(real)[0]
        latent = keras.random.normal(
            (batch_size, self.latent_dim), seed=self.seed_generator
        )

        # One generator pass serves both updates, as in DCGAN's reference
        # code: the discriminator learns on the detached images, then the
        # generator's loss goes through the updated discriminator.
        with tf.GradientTape() as generator_tape:
            fake = self.generator(latent, training=True)
            with tf.GradientTape() as discriminator_tape:
                real_logits = self.discriminator(real, training=True)
                fake_logits = self.discriminator(tf.stop_gradient(fake), training=True)
                # Each call of the discriminator replaces its `losses` with
                # the KL terms of that call: one KL per step.
                kl = sum(self.discriminator.losses, keras.ops.zeros(()))
                d_loss = (
                    self._cross_entropy(real_logits, 1.0)
                    + self._cross_entropy(fake_logits, 0.0)
                    + kl
                )
            variables = self.discriminator.trainable_variables
            self.d_optimizer.apply_gradients(
                zip(discriminator_tape.gradient(d_loss, variables), variables)
            )
            g_loss = self._cross_entropy(self.discriminator(fake, training=True), 1.0)
        variables = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(
            zip(generator_tape.gradient(g_loss, variables), variables)
        )

        values = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_kl": kl,
            "d_real": keras.ops.mean(keras.ops.sigmoid(real_logits)),
            "d_fake": keras.ops.mean(keras.ops.sigmoid(fake_logits)),
        }
        if self.uncertainty_samples:
            for kind, images in (("real", real), ("fake", fake)):
                _, stddev = discriminator_uncertainty(
                    self.discriminator, images, self.uncertainty_samples
                )
                values[f"d_uncertainty_{kind}"] = keras.ops.mean(stddev)
        for name, value in values.items():
            self._trackers[name].update_state(value)
        return {name: self._trackers[name].result() for name in values}

    def generate(self, num_images, seed=None):
        """Draws `num_images` images in [-1, 1] (generator in inference mode).

        Args:
            num_images: positive int.
            seed: int or None, seeds the latent vectors.

        Returns:
            A float32 tensor `[num_images, height, width, channels]`.
        """
        _check_positive_int("num_images", num_images)
        latent = keras.random.normal((num_images, self.latent_dim), seed=seed)
        return self.generator(latent, training=False)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "latent_dim": self.latent_dim,
                "uncertainty_samples": self.uncertainty_samples,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def dcgan(
    method="lrt",
    image_size=64,
    channels=3,
    latent_dim=100,
    ngf=64,
    ndf=64,
    num_train_examples=50000,
    prior=None,
    posterior=None,
    batch_norm=True,
    uncertainty_samples=4,
    seed=None,
):
    """A DCGAN with a Bayesian discriminator (Shridhar et al., Tables 9 and 10).

    Args:
        method: the discriminator's layers: `"lrt"`, `"bbb"`, `"flipout"` or
            `"frequentist"` (the original DCGAN).
        image_size: power of two >= 8; 64 in the paper's appendix, 32 for
            CIFAR-10 at its own size.
        channels: int >= 1, `nc`.
        latent_dim: int >= 1, `nz`, 100 in the paper.
        ngf, ndf: ints >= 1, the width factors, 64 in the paper (smaller ones
            train faster on a CPU).
        num_train_examples: int >= 1, the real training images (the
            discriminator's KL weight is its inverse).
        prior, posterior: the discriminator's, as in `dcgan_discriminator`.
        batch_norm: bool, batch normalisation in the discriminator.
        uncertainty_samples: int >= 2 or 0, see `BayesianDCGAN`.
        seed: int or None, seeds the discriminator's noise and the training
            latent vectors.

    Returns:
        An uncompiled `BayesianDCGAN`.

    Example:

    >>> gan = bz.architectures.dcgan(method="lrt", image_size=32, ngf=32, ndf=32)
    >>> gan.compile(keras.optimizers.Adam(1e-4, beta_1=0.5),
    ...             keras.optimizers.Adam(1e-4, beta_1=0.5))
    """
    generator = dcgan_generator(latent_dim, image_size, channels, ngf)
    discriminator = dcgan_discriminator(
        method=method,
        image_size=image_size,
        channels=channels,
        ndf=ndf,
        num_train_examples=num_train_examples,
        prior=prior,
        posterior=posterior,
        batch_norm=batch_norm,
        seed=seed,
    )
    return BayesianDCGAN(
        generator,
        discriminator,
        latent_dim=latent_dim,
        uncertainty_samples=uncertainty_samples,
        seed=seed,
        name=f"dcgan_{method}",
    )
