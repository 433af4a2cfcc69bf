"""Variational densely-connected layers."""

import numbers

import keras

from bayes_zoo.layers.base_variational import BaseVariational


@keras.saving.register_keras_serializable(package="bayes_zoo")
class DenseVariational(BaseVariational):
    """Densely-connected layer with a Gaussian posterior over kernel and bias.

    Behaves like `keras.layers.Dense` but every weight has a posterior
    `N(mu, sigma^2)`, a fresh sample is drawn on every call (in training and
    in inference), and `kl_weight * KL(q || p)` is added to the model's
    losses. The estimator is chosen by `estimator`, or by using one of
    `DenseReparameterization`, `DenseLocalReparameterization` and
    `DenseFlipout`.

    Args:
        units: int > 0, the number of output units.
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

    >>> inputs = keras.Input((84,))
    >>> logits = bz.layers.DenseVariational(10, kl_weight=1 / 60000)(inputs)
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
            raise ValueError(
                f"Argument `units` must be a positive integer. Received: units={units!r}"
            )
        self.units = int(units)

    def output_channels(self):
        return self.units

    def check_input_shape(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank >= 2 with a known "
                f"last dimension. Received: input_shape={tuple(input_shape)}"
            )

    def kernel_shape(self, input_shape):
        return (input_shape[-1], self.units)

    def linear_op(self, inputs, kernel):
        return keras.ops.matmul(inputs, kernel)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config


@keras.saving.register_keras_serializable(package="bayes_zoo")
class DenseReparameterization(DenseVariational):
    """`DenseVariational` with the reparameterization estimator.

    It samples the kernel and the bias once per call, as
    `tfp.layers.DenseReparameterization` does.

    Takes the arguments of `DenseVariational` except `estimator`.

    Example:

    >>> logits = bz.layers.DenseReparameterization(10)(keras.Input((84,)))
    """

    fixed_estimator = "reparameterization"


@keras.saving.register_keras_serializable(package="bayes_zoo")
class DenseLocalReparameterization(DenseVariational):
    """`DenseVariational` with the local reparameterization estimator.

    It computes `mean = x @ mu + b_mu` and `var = x^2 @ sigma^2 + b_sigma^2`
    and samples every output unit from `N(mean, var)` (Kingma et al., 2015).

    Takes the arguments of `DenseVariational` except `estimator`.

    Example:

    >>> logits = bz.layers.DenseLocalReparameterization(10)(keras.Input((84,)))
    """

    fixed_estimator = "local_reparameterization"


@keras.saving.register_keras_serializable(package="bayes_zoo")
class DenseFlipout(DenseVariational):
    """`DenseVariational` with the flipout estimator.

    It perturbs a shared kernel sample with random signs per example (Wen et
    al., 2018), as `tfp.layers.DenseFlipout` does.

    Takes the arguments of `DenseVariational` except `estimator`.

    Example:

    >>> logits = bz.layers.DenseFlipout(10)(keras.Input((84,)))
    """

    fixed_estimator = "flipout"
