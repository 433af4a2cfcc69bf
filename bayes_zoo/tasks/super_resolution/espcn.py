"""ESPCN, the efficient sub-pixel convolutional network for super-resolution.

Shridhar et al., section 6.1 and Table 8, after Shi et al. (2016) as the
PyTorch super-resolution example writes it: four convolutions in the
low-resolution space, 5x5 64, 3x3 64, 3x3 32 and 3x3 `upscale_factor^2 *
channels`, each with stride 1 and "same" zero padding, then a pixel shuffle
(`depth_to_space`) that rearranges the last convolution's channels into an
image `upscale_factor` times larger. Every convolution is Bayesian (local
reparameterization, Bayes by Backprop or flipout) or plain Keras
(`"frequentist"`), chosen by the same method -> layer mapping as the
classification networks.

Activation: Table 8 names none. The paper's reference code (and the
PyTorch example Table 8 copies) puts ReLU after the hidden convolutions, so
`"relu"` is the default; Shi et al.'s original ESPCN used tanh, available as
`activation="tanh"`. The output convolution is linear here (the reference
code also clips it with a ReLU, which stops the gradient of every output that
goes negative).
"""

import keras
import tensorflow as tf

from bayes_zoo.methods import VARIATIONAL_METHODS
from bayes_zoo.methods import LayerFactory
from bayes_zoo.training import BayesianModel

METHODS = ("frequentist",) + VARIATIONAL_METHODS
ACTIVATIONS = ("relu", "tanh", "softplus")

# (filters, kernel size) of the hidden convolutions of Table 8; the output
# convolution (3x3, upscale_factor^2 * channels) follows them.
_HIDDEN_CONVOLUTIONS = ((64, 5), (64, 3), (32, 3))
_OUTPUT_KERNEL_SIZE = 3


@keras.saving.register_keras_serializable(package="bayes_zoo")
class PixelShuffle(keras.layers.Layer):
    """Sub-pixel rearrangement: [b, h, w, r*r*c] -> [b, r*h, r*w, c].

    `tf.nn.depth_to_space` with channels last; PyTorch's `PixelShuffle`
    orders the channels the same way up to the channels-first layout.

    Args:
        upscale_factor: int >= 1, the factor `r`.
        **kwargs: base layer keyword arguments, such as `name`.

    Example:

    >>> layer = bz.architectures.PixelShuffle(3)
    >>> layer(tf.zeros([2, 5, 5, 9])).shape
    TensorShape([2, 15, 15, 1])
    """

    def __init__(self, upscale_factor, **kwargs):
        super().__init__(**kwargs)
        _check_upscale_factor(upscale_factor)
        self.upscale_factor = upscale_factor

    def call(self, inputs):
        if self.upscale_factor == 1:
            return inputs
        return tf.nn.depth_to_space(inputs, self.upscale_factor)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        factor = self.upscale_factor

        def scaled(size):
            return None if size is None else size * factor

        return (batch, scaled(height), scaled(width), channels // (factor * factor))

    def get_config(self):
        config = super().get_config()
        config["upscale_factor"] = self.upscale_factor
        return config


def _check_upscale_factor(upscale_factor):
    if isinstance(upscale_factor, bool) or not isinstance(upscale_factor, int) or upscale_factor < 1:
        raise ValueError(
            "Argument `upscale_factor` must be an integer >= 1. "
            f"Received: upscale_factor={upscale_factor!r}"
        )


def _check_arguments(method, channels, num_train_examples, activation):
    if method not in METHODS:
        raise ValueError(
            f"Unknown argument `method`: expected one of {METHODS}. Received: method={method!r}"
        )
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"Unknown argument `activation`: expected one of {ACTIVATIONS}. "
            f"Received: activation={activation!r}"
        )
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(
            f"Argument `channels` must be a positive integer. Received: channels={channels!r}"
        )
    if (
        isinstance(num_train_examples, bool)
        or not isinstance(num_train_examples, int)
        or num_train_examples < 1
    ):
        raise ValueError(
            "Argument `num_train_examples` must be a positive integer. "
            f"Received: num_train_examples={num_train_examples!r}"
        )


def espcn(
    method="lrt",
    upscale_factor=3,
    channels=1,
    num_train_examples=10000,
    prior=None,
    posterior=None,
    activation="relu",
    train_samples=1,
    seed=None,
):
    """Bayesian (or frequentist) ESPCN (Shridhar et al., Table 8).

    conv 5x5 64, conv 3x3 64, conv 3x3 32 (each followed by `activation`),
    conv 3x3 `upscale_factor^2 * channels` (linear), pixel shuffle. All
    convolutions have stride 1 and pad their input with zeros (2 for the 5x5,
    1 for the 3x3 ones) so that the feature maps keep the input's size. The
    model takes low-resolution images of any size.

    Args:
        method: `"lrt"` (local reparameterization, the paper's), `"bbb"`
            (reparameterization), `"flipout"` or `"frequentist"` (plain Keras
            convolutions).
        upscale_factor: int >= 1, 3 in the paper.
        channels: int >= 1, the image channels: 1 for the luminance (Y)
            channel the paper trains on.
        num_train_examples: int >= 1; the variational layers start with
            `kl_weight = 1 / num_train_examples`. With the mean squared error
            as the loss, `bz.super_resolution.elbo_num_train_examples` gives
            the value that makes the loss the negative ELBO (the number of
            target pixels over twice the likelihood's variance, not the number
            of crops).
        prior: a `bz.priors.Prior` for the variational layers,
            `Normal(0, 0.1)` when None.
        posterior: a `bz.posteriors.Posterior`, `MeanFieldNormal()` when None
            (the paper's appendix uses `MultiplicativeNormal(-10)`).
        activation: `"relu"` (the reference code's), `"tanh"` (Shi et al.'s)
            or `"softplus"`, after the three hidden convolutions.
        train_samples: int >= 1, weight samples per training step (see
            `bz.training.BayesianModel`).
        seed: int or None, seeds the noise of the variational layers (each
            gets its own). Initial weights follow Keras' global seed.

    Arguments a method does not use (prior, posterior, num_train_examples for
    `"frequentist"`) are ignored, so one set of keyword arguments builds
    every method.

    Returns:
        An uncompiled `bz.training.BayesianModel` mapping low-resolution
        images `[b, h, w, channels]` in [0, 1] to super-resolved images
        `[b, upscale_factor * h, upscale_factor * w, channels]`. Every call is
        one Monte Carlo draw; see `bz.super_resolution.
        monte_carlo_super_resolution` for the mean and the uncertainty map.

    Example:

    >>> model = bz.architectures.espcn(method="lrt", num_train_examples=2_000_000_000)
    >>> model.compile(keras.optimizers.Adam(0.01), "mse")
    >>> model(tf.zeros([1, 17, 17, 1])).shape
    TensorShape([1, 51, 51, 1])
    """
    _check_upscale_factor(upscale_factor)
    _check_arguments(method, channels, num_train_examples, activation)
    factory = LayerFactory(
        method, prior, posterior, 1.0 / num_train_examples, dropout_rate=0.0, seed=seed
    )
    inputs = keras.Input((None, None, channels), name="low_resolution")
    x = inputs
    convolutions = _HIDDEN_CONVOLUTIONS + (
        (upscale_factor * upscale_factor * channels, _OUTPUT_KERNEL_SIZE),
    )
    for index, (filters, kernel_size) in enumerate(convolutions, 1):
        is_output = index == len(convolutions)
        # Explicit zero padding and a valid convolution, as PyTorch's
        # `padding=k // 2`: the variational layers' "same" would pad alike,
        # but this keeps the layout of the classification builders.
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"pad{index}")(x)
        x = factory.conv(
            filters,
            kernel_size,
            strides=1,
            activation=None if is_output else activation,
            name=f"conv{index}",
        )(x)
    outputs = PixelShuffle(upscale_factor, name="pixel_shuffle")(x)
    return BayesianModel(
        inputs, outputs, train_samples=train_samples, name=f"espcn_{method}"
    )
