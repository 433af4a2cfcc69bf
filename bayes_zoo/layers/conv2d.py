"""2D variational convolutions."""

import keras

from bayes_zoo.layers.base_variational_conv import BaseVariationalConv


@keras.saving.register_keras_serializable(package="bayes_zoo")
class Conv2DVariational(BaseVariationalConv):
    """2D convolution with a Gaussian posterior over kernel and bias.

    Behaves like `keras.layers.Conv2D` (strides, padding, dilation,
    activation and bias alike) but every weight has a posterior
    `N(mu, sigma^2)`, a fresh sample is drawn on every call (in training and
    in inference), and `kl_weight * KL(q || p)` is added to the model's
    losses. The estimator is chosen by `estimator`, or by using one of
    `Conv2DReparameterization`, `Conv2DLocalReparameterization` and
    `Conv2DFlipout`.

    Args:
        filters: int > 0, the number of output channels.
        kernel_size: int or tuple of 2 ints, the size of the window.
        strides: int or tuple of 2 ints.
        padding: `"valid"` or `"same"`.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        dilation_rate: int or tuple of 2 ints.
        activation: activation function, or None.
        use_bias: bool, whether the layer has a variational bias.
        estimator: `"local_reparameterization"` (default),
            `"reparameterization"` or `"flipout"`.
        prior: a `bayes_zoo.priors.Prior`, `Normal(0, 0.1)` by default.
        posterior: a `bayes_zoo.posteriors.Posterior`, `MeanFieldNormal()` by
            default.
        kl_weight: float, initial weight of the KL term; use
            `1 / num_train_examples` for the negative ELBO per example.
        use_posterior_mean: bool, predict from the posterior means.
        seed: int or None, seed of the layer's noise.

    Example:

    >>> inputs = keras.Input((32, 32, 1))
    >>> outputs = bz.layers.Conv2DVariational(
    ...     16, 5, activation="softplus", kl_weight=1 / 60000)(inputs)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        **kwargs,
    ):
        super().__init__(
            rank=2,
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="bayes_zoo")
class Conv2DReparameterization(Conv2DVariational):
    """`Conv2DVariational` with the reparameterization estimator.

    It samples the kernel and the bias once per call and convolves with
    them, as `tfp.layers.Convolution2DReparameterization` does.

    Takes the arguments of `Conv2DVariational` except `estimator`.

    Example:

    >>> inputs = keras.Input((32, 32, 1))
    >>> outputs = bz.layers.Conv2DReparameterization(16, 5)(inputs)
    """

    fixed_estimator = "reparameterization"


@keras.saving.register_keras_serializable(package="bayes_zoo")
class Conv2DLocalReparameterization(Conv2DVariational):
    """`Conv2DVariational` with the local reparameterization estimator.

    It runs the paper's two operations, one on the posterior means and one
    on the posterior variances (`op(x^2, sigma^2)`), and samples each output
    activation from the Normal they define (Shridhar et al., section 4.1).

    Takes the arguments of `Conv2DVariational` except `estimator`.

    Example:

    >>> inputs = keras.Input((32, 32, 1))
    >>> outputs = bz.layers.Conv2DLocalReparameterization(16, 5)(inputs)
    """

    fixed_estimator = "local_reparameterization"


@keras.saving.register_keras_serializable(package="bayes_zoo")
class Conv2DFlipout(Conv2DVariational):
    """`Conv2DVariational` with the flipout estimator.

    It perturbs a shared kernel sample with random signs per example and
    channel (Wen et al., 2018), as `tfp.layers.Convolution2DFlipout` does.

    Takes the arguments of `Conv2DVariational` except `estimator`.

    Example:

    >>> inputs = keras.Input((32, 32, 1))
    >>> outputs = bz.layers.Conv2DFlipout(16, 5)(inputs)
    """

    fixed_estimator = "flipout"
