"""Classification networks of the papers: LeNet-5, AlexNet, AlexNetHalf, 3Conv3FC, Gal's LeNet.

Each builder writes its network down as a list of layer specifications
(`_Conv`, `_Pool`, `_Dense`); `_build` walks that list and asks a
`LayerFactory` for the layers of the requested method. `bz.methods.WEIGHT_LAYERS` is
the one place that says which Keras layers implement which method:

| method | convolution / dense layers | noise |
|---|---|---|
| `"frequentist"` | `keras.layers.Conv2D` / `Dense` | none |
| `"bbb"` | `Conv2DReparameterization` / `DenseReparameterization` | one weight sample per call |
| `"lrt"` | `Conv2DLocalReparameterization` / `DenseLocalReparameterization` | the paper's default |
| `"flipout"` | `Conv2DFlipout` / `DenseFlipout` | |
| `"mc_dropout"` | `keras.layers.Conv2D` / `Dense` | `MCDropout` after every hidden layer |

Explicit paddings ("pad 5" in the paper's tables) are zero padding followed by
a valid convolution, as in the PyTorch reference code; pools are valid max
pools (PyTorch's floor mode). The variational layers get
`kl_weight = 1 / num_train_examples`, so that `fit` minimises the negative
ELBO per example.
"""

import numbers
from typing import NamedTuple

import keras

from bayes_zoo.methods import METHODS
from bayes_zoo.methods import LayerFactory
from bayes_zoo.training import BayesianModel

ACTIVATIONS = ("softplus", "relu")
GAL_DROPOUT_PLACEMENTS = ("all", "ip", "none")

class _Conv(NamedTuple):
    """A hidden convolution: zero padding, valid convolution, activation."""

    filters: int
    kernel_size: int
    strides: int = 1
    padding: int = 0
    activation: bool = True
    # Whether an MC dropout layer follows it (method "mc_dropout" only).
    dropout: bool = True


class _Pool(NamedTuple):
    """A valid max pool."""

    pool_size: int
    strides: int


class _Dense(NamedTuple):
    """A hidden fully connected layer with the activation."""

    units: int
    dropout: bool = True


def _output_size(size, window, strides, padding=0):
    return (size + 2 * padding - window) // strides + 1


def _check_arguments(
    method, input_shape, num_classes, num_train_examples, activation, dropout_rate
):
    if method not in METHODS:
        raise ValueError(
            f"Unknown argument `method`: expected one of {METHODS}. "
            f"Received: method={method!r}"
        )
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"Unknown argument `activation`: expected one of {ACTIVATIONS}. "
            f"Received: activation={activation!r}"
        )
    if (
        not isinstance(input_shape, (tuple, list))
        or len(input_shape) != 3
        or not all(isinstance(d, int) and d > 0 for d in input_shape)
    ):
        raise ValueError(
            "Argument `input_shape` must be (height, width, channels) with positive "
            f"integers. Received: input_shape={input_shape!r}"
        )
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(
            "Argument `num_classes` must be an integer >= 2. "
            f"Received: num_classes={num_classes!r}"
        )
    if (
        isinstance(num_train_examples, bool)
        or not isinstance(num_train_examples, numbers.Integral)
        or num_train_examples < 1
    ):
        raise ValueError(
            "Argument `num_train_examples` must be a positive integer. "
            f"Received: num_train_examples={num_train_examples!r}"
        )
    if (
        isinstance(dropout_rate, bool)
        or not isinstance(dropout_rate, numbers.Real)
        or not 0.0 <= dropout_rate < 1.0
    ):
        raise ValueError(
            "Argument `dropout_rate` must be a number in [0, 1). "
            f"Received: dropout_rate={dropout_rate!r}"
        )


def _build(
    architecture,
    specs,
    method,
    input_shape,
    num_classes,
    num_train_examples,
    prior,
    posterior,
    activation,
    train_samples,
    dropout_rate,
    seed,
):
    """Turns a list of layer specifications into a `BayesianModel` giving logits."""
    _check_arguments(
        method, input_shape, num_classes, num_train_examples, activation, dropout_rate
    )
    # NumPy scalars pass the checks; the layers' configs want Python numbers.
    num_classes, num_train_examples = int(num_classes), int(num_train_examples)
    dropout_rate = float(dropout_rate)
    factory = LayerFactory(
        method, prior, posterior, 1.0 / num_train_examples, dropout_rate, seed
    )
    inputs = keras.Input(tuple(input_shape), name="images")
    x = inputs
    height, width = input_shape[:2]
    counts = {"conv": 0, "pool": 0, "fc": 0}

    def check_fits(window, padding, layer_name):
        if min(height, width) + 2 * padding < window:
            raise ValueError(
                f"Argument `input_shape` is too small for {architecture}: the feature "
                f"maps are {height}x{width} at {layer_name}, whose window is "
                f"{window}x{window}. Received: input_shape={tuple(input_shape)}"
            )

    def add_dropout(x, after):
        dropout = factory.dropout(name=f"dropout_{after}")
        return x if dropout is None else dropout(x)

    for spec in specs:
        if isinstance(spec, _Conv):
            counts["conv"] += 1
            name = f"conv{counts['conv']}"
            check_fits(spec.kernel_size, spec.padding, name)
            if spec.padding:
                x = keras.layers.ZeroPadding2D(spec.padding, name=f"pad{counts['conv']}")(x)
            x = factory.conv(
                spec.filters,
                spec.kernel_size,
                spec.strides,
                activation if spec.activation else None,
                name,
            )(x)
            if spec.dropout:
                x = add_dropout(x, name)
            height, width = (
                _output_size(size, spec.kernel_size, spec.strides, spec.padding)
                for size in (height, width)
            )
        elif isinstance(spec, _Pool):
            counts["pool"] += 1
            name = f"pool{counts['pool']}"
            check_fits(spec.pool_size, 0, name)
            x = keras.layers.MaxPooling2D(spec.pool_size, spec.strides, name=name)(x)
            height, width = (
                _output_size(size, spec.pool_size, spec.strides) for size in (height, width)
            )
        else:
            counts["fc"] += 1
            name = f"fc{counts['fc']}"
            if len(x.shape) > 2:
                x = keras.layers.Flatten(name="flatten")(x)
            x = factory.dense(spec.units, activation, name)(x)
            if spec.dropout:
                x = add_dropout(x, name)
    if len(x.shape) > 2:
        x = keras.layers.Flatten(name="flatten")(x)
    logits = factory.dense(num_classes, None, "logits")(x)
    return BayesianModel(
        inputs, logits, train_samples=train_samples, name=f"{architecture}_{method}"
    )


_BUILDER_ARGS_DOC = """
    Args:
        method: `"lrt"` (local reparameterization, the paper's default),
            `"bbb"` (reparameterization), `"flipout"`, `"frequentist"`
            (plain Keras layers) or `"mc_dropout"` (plain Keras layers with
            `bz.layers.MCDropout` after every hidden convolution and dense
            layer, before pooling as Gal & Ghahramani place it).
        input_shape: (height, width, channels) of the images.
        num_classes: int >= 2, the number of logits.
        num_train_examples: int, the training set size; the variational
            layers start with `kl_weight = 1 / num_train_examples`.
        prior: a `bz.priors.Prior` for the variational layers,
            `Normal(0, 0.1)` when None.
        posterior: a `bz.posteriors.Posterior` for the variational layers,
            `MeanFieldNormal()` when None.
        activation: `"softplus"` (the paper's) or `"relu"`, after every hidden
            layer.
        train_samples: int >= 1, weight samples per training step (see
            `bz.training.BayesianModel`).
        dropout_rate: float in [0, 1), the rate of the MC dropout layers.
        seed: int or None, seeds the noise of the stochastic layers (each
            gets its own). Initial weights follow Keras' global seed
            (`keras.utils.set_random_seed`).

    Arguments a method does not use (prior, posterior and num_train_examples
    without variational layers, dropout_rate without MC dropout) are
    ignored, so one set of keyword arguments builds every method.

    Returns:
        An uncompiled `bz.training.BayesianModel` mapping images to logits.
"""


def _with_args_doc(builder):
    builder.__doc__ = builder.__doc__.replace("    {args}\n", _BUILDER_ARGS_DOC)
    return builder


@_with_args_doc
def lenet5(
    method="lrt",
    input_shape=(32, 32, 1),
    num_classes=10,
    num_train_examples=60000,
    prior=None,
    posterior=None,
    activation="softplus",
    train_samples=1,
    dropout_rate=0.5,
    seed=None,
):
    """LeNet-5 (Shridhar et al., appendix Table 11).

    conv 6 5x5, max-pool 2x2, conv 16 5x5, max-pool 2x2, FC 120, FC 84, FC
    `num_classes`. MNIST is padded to 32x32 for it.
    {args}
    Example:

    >>> model = bz.architectures.lenet5(method="lrt", num_train_examples=60000)
    >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    """
    specs = [
        _Conv(6, 5),
        _Pool(2, 2),
        _Conv(16, 5),
        _Pool(2, 2),
        _Dense(120),
        _Dense(84),
    ]
    return _build(
        "lenet5",
        specs,
        method=method,
        input_shape=input_shape,
        num_classes=num_classes,
        num_train_examples=num_train_examples,
        prior=prior,
        posterior=posterior,
        activation=activation,
        train_samples=train_samples,
        dropout_rate=dropout_rate,
        seed=seed,
    )


def _alexnet_specs(widths):
    conv1, conv2, conv3, conv4, conv5 = widths
    return [
        _Conv(conv1, 11, strides=4, padding=5),
        _Pool(2, 2),
        _Conv(conv2, 5, padding=2),
        _Pool(2, 2),
        _Conv(conv3, 3, padding=1),
        _Conv(conv4, 3, padding=1),
        _Conv(conv5, 3, padding=1),
        _Pool(2, 2),
    ]


@_with_args_doc
def alexnet(
    method="lrt",
    input_shape=(32, 32, 1),
    num_classes=10,
    num_train_examples=60000,
    prior=None,
    posterior=None,
    activation="softplus",
    train_samples=1,
    dropout_rate=0.5,
    seed=None,
):
    """AlexNet as the paper uses it on 32x32 images (Shridhar et al., Table 12).

    conv 64 11x11 stride 4 pad 5, max-pool 2x2, conv 192 5x5 pad 2, max-pool
    2x2, conv 384 / 256 / 128 3x3 pad 1, max-pool 2x2, FC `num_classes`. A
    32x32 image leaves 1x1x128 features; inputs smaller than 29x29 vanish
    before the last pool and raise ValueError.
    {args}
    Example:

    >>> model = bz.architectures.alexnet(method="lrt", input_shape=(32, 32, 3))
    """
    return _build(
        "alexnet",
        _alexnet_specs((64, 192, 384, 256, 128)),
        method=method,
        input_shape=input_shape,
        num_classes=num_classes,
        num_train_examples=num_train_examples,
        prior=prior,
        posterior=posterior,
        activation=activation,
        train_samples=train_samples,
        dropout_rate=dropout_rate,
        seed=seed,
    )


@_with_args_doc
def alexnet_half(
    method="lrt",
    input_shape=(32, 32, 1),
    num_classes=10,
    num_train_examples=60000,
    prior=None,
    posterior=None,
    activation="softplus",
    train_samples=1,
    dropout_rate=0.5,
    seed=None,
):
    """AlexNetHalf: AlexNet with every width halved (Shridhar et al., Table 5).

    conv 32 11x11 stride 4 pad 5, max-pool 2x2, conv 96 5x5 pad 2, max-pool
    2x2, conv 192 / 128 / 64 3x3 pad 1, max-pool 2x2, FC `num_classes`. The
    Bayesian AlexNetHalf has about as many parameters as the frequentist
    AlexNet.
    {args}
    Example:

    >>> model = bz.architectures.alexnet_half(method="lrt", input_shape=(32, 32, 3))
    """
    return _build(
        "alexnet_half",
        _alexnet_specs((32, 96, 192, 128, 64)),
        method=method,
        input_shape=input_shape,
        num_classes=num_classes,
        num_train_examples=num_train_examples,
        prior=prior,
        posterior=posterior,
        activation=activation,
        train_samples=train_samples,
        dropout_rate=dropout_rate,
        seed=seed,
    )


@_with_args_doc
def three_conv_three_fc(
    method="lrt",
    input_shape=(32, 32, 1),
    num_classes=10,
    num_train_examples=60000,
    prior=None,
    posterior=None,
    activation="softplus",
    train_samples=1,
    dropout_rate=0.5,
    seed=None,
):
    """3Conv3FC, the paper's small baseline (its reference code).

    conv 32 5x5 pad 2, max-pool 3x3 stride 2, conv 64 5x5 pad 2, max-pool
    3x3 stride 2, conv 128 5x5 pad 1, max-pool 3x3 stride 2, FC 1000, FC
    1000, FC `num_classes`. A 32x32 image leaves 2x2x128 features.
    {args}
    Example:

    >>> model = bz.architectures.three_conv_three_fc(method="bbb", input_shape=(32, 32, 3))
    """
    specs = [
        _Conv(32, 5, padding=2),
        _Pool(3, 2),
        _Conv(64, 5, padding=2),
        _Pool(3, 2),
        _Conv(128, 5, padding=1),
        _Pool(3, 2),
        _Dense(1000),
        _Dense(1000),
    ]
    return _build(
        "three_conv_three_fc",
        specs,
        method=method,
        input_shape=input_shape,
        num_classes=num_classes,
        num_train_examples=num_train_examples,
        prior=prior,
        posterior=posterior,
        activation=activation,
        train_samples=train_samples,
        dropout_rate=dropout_rate,
        seed=seed,
    )


def gal_lenet(
    method="mc_dropout",
    dropout=None,
    dropout_rate=0.5,
    input_shape=(28, 28, 1),
    num_classes=10,
    num_train_examples=60000,
    prior=None,
    posterior=None,
    activation="relu",
    train_samples=1,
    seed=None,
):
    """Gal & Ghahramani's LeNet, the Caffe LeNet of their Bayesian CNN experiments.

    conv 20 5x5, max-pool 2x2, conv 50 5x5, max-pool 2x2, FC 500 with
    `activation`, FC `num_classes`. As in Caffe's LeNet the convolutions have
    no nonlinearity. MC dropout goes where `dropout` says, each right after
    its layer (before pooling, as in Gal & Ghahramani):

    - `"all"`: after both convolutions and after FC 500 (their Bayesian CNN,
      "lenet-all"),
    - `"ip"`: after FC 500 only ("lenet-ip", standard dropout placement),
    - `"none"`: no dropout ("lenet-none").

    Standard-dropout evaluation of the same network is
    `bz.layers.posterior_mean(model)`.

    Args:
        method: one of `METHODS`, `"mc_dropout"` by default. The other
            methods have no dropout layers.
        dropout: `"all"`, `"ip"`, `"none"`, or None: `"all"` for
            `"mc_dropout"` and `"none"` for the other methods, which take no
            other value.
        dropout_rate: float in [0, 1), 0.5 as in the paper.
        input_shape: (height, width, channels), (28, 28, 1) for MNIST.
        num_classes: int >= 2.
        num_train_examples: int, the variational layers start with
            `kl_weight = 1 / num_train_examples`.
        prior, posterior: for the variational methods, as in `lenet5`.
        activation: `"relu"` (theirs) or `"softplus"`, after FC 500.
        train_samples: int >= 1, weight samples per training step.
        seed: int or None, seeds the noise of the stochastic layers.

    Returns:
        An uncompiled `bz.training.BayesianModel` mapping images to logits.

    Example:

    >>> model = bz.architectures.gal_lenet(dropout="all", dropout_rate=0.5)
    >>> with bz.layers.posterior_mean(model):  # standard dropout
    ...     logits = model.predict(images)
    """
    if dropout is None:
        dropout = "all" if method == "mc_dropout" else "none"
    if dropout not in GAL_DROPOUT_PLACEMENTS:
        raise ValueError(
            f"Unknown argument `dropout`: expected one of {GAL_DROPOUT_PLACEMENTS}. "
            f"Received: dropout={dropout!r}"
        )
    if dropout != "none" and method != "mc_dropout":
        raise ValueError(
            "Argument `dropout` places MC dropout layers, which only method="
            f"'mc_dropout' has. Received: dropout={dropout!r} with method={method!r}"
        )
    conv_dropout = dropout == "all"
    specs = [
        _Conv(20, 5, activation=False, dropout=conv_dropout),
        _Pool(2, 2),
        _Conv(50, 5, activation=False, dropout=conv_dropout),
        _Pool(2, 2),
        _Dense(500, dropout=dropout != "none"),
    ]
    return _build(
        "gal_lenet",
        specs,
        method=method,
        input_shape=input_shape,
        num_classes=num_classes,
        num_train_examples=num_train_examples,
        prior=prior,
        posterior=posterior,
        activation=activation,
        train_samples=train_samples,
        dropout_rate=dropout_rate,
        seed=seed,
    )
