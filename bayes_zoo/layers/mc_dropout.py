"""Monte Carlo dropout: Bernoulli dropout that stays on at inference.

Gal & Ghahramani (2016) read dropout as Bernoulli variational inference;
averaging T stochastic passes approximates the predictive distribution.
"""

import numbers

import keras

from bayes_zoo.layers import noise
from bayes_zoo.layers.stochastic_layer import StochasticLayer


class _BaseMCDropout(StochasticLayer):
    """Dropout whose mask is drawn on every call, training or not.

    Args:
        rate: float in [0, 1), the probability of dropping a unit.
        seed: int or None, seed of the dropout masks.
        use_posterior_mean: bool, if True the layer is the identity (the
            usual weight-scaling inference of dropout networks).
    """

    def __init__(self, rate, seed=None, use_posterior_mean=False, **kwargs):
        super().__init__(use_posterior_mean=use_posterior_mean, **kwargs)
        # numbers.Real admits NumPy scalars (np.float32(0.5)) as well.
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= rate < 1.0:
            raise ValueError(
                f"Argument `rate` must be a number in [0, 1). Received: rate={rate!r}"
            )
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def noise_shape(self, inputs):
        return None

    def call(self, inputs):
        if self.use_posterior_mean or self.rate == 0.0:
            return inputs
        return noise.dropout(inputs, self.rate, self.noise_shape(inputs), self.seed_generator)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="bayes_zoo")
class MCDropout(_BaseMCDropout):
    """Dropout that stays on at inference (Monte Carlo dropout).

    Unlike `keras.layers.Dropout`, a fresh Bernoulli mask is drawn on every
    call whatever `training` is, so `model.predict` is one Monte Carlo draw.
    Kept units are scaled by `1 / (1 - rate)`.

    Args:
        rate: float in [0, 1), the probability of dropping a unit.
        seed: int or None, seed of the dropout masks.
        use_posterior_mean: bool, if True the layer is the identity.

    Example:

    >>> x = keras.layers.Dense(500, activation="relu")(keras.Input((800,)))
    >>> x = bz.layers.MCDropout(0.5)(x)
    """


@keras.saving.register_keras_serializable(package="bayes_zoo")
class MCSpatialDropout2D(_BaseMCDropout):
    """Spatial (channel-wise) dropout that stays on at inference.

    Drops whole feature maps, as `keras.layers.SpatialDropout2D`, but on every
    call whatever `training` is.

    Args:
        rate: float in [0, 1), the probability of dropping a channel.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        seed: int or None, seed of the dropout masks.
        use_posterior_mean: bool, if True the layer is the identity.

    Example:

    >>> x = keras.layers.Conv2D(20, 5)(keras.Input((28, 28, 1)))
    >>> x = bz.layers.MCSpatialDropout2D(0.5)(x)
    """

    def __init__(self, rate, data_format=None, **kwargs):
        super().__init__(rate, **kwargs)
        self.data_format = keras.src.backend.standardize_data_format(data_format)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "MCSpatialDropout2D expects inputs of rank 4. Received: "
                f"input_shape={tuple(input_shape)}"
            )

    def noise_shape(self, inputs):
        shape = keras.ops.shape(inputs)
        if self.data_format == "channels_last":
            return (shape[0], 1, 1, shape[3])
        return (shape[0], shape[1], 1, 1)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config
