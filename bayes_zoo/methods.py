"""The inference methods of the zoo's networks, and the layers that implement each.

Every builder (classifiers, ESPCN, the DCGAN's discriminator) takes a `method`
and asks a `LayerFactory` for its layers; `WEIGHT_LAYERS` is the one place that
says which Keras layers implement which method.

Example:

>>> factory = bz.methods.LayerFactory("flipout", None, None, 1 / 50000, 0.5, seed=0)
>>> factory.dense(10, activation=None, name="logits")
"""

import keras

from bayes_zoo import layers as bz_layers

METHODS = ("frequentist", "bbb", "lrt", "flipout", "mc_dropout")
VARIATIONAL_METHODS = ("bbb", "lrt", "flipout")

# method -> (convolution class, dense class).
WEIGHT_LAYERS = {
    "frequentist": (keras.layers.Conv2D, keras.layers.Dense),
    "bbb": (bz_layers.Conv2DReparameterization, bz_layers.DenseReparameterization),
    "lrt": (
        bz_layers.Conv2DLocalReparameterization,
        bz_layers.DenseLocalReparameterization,
    ),
    "flipout": (bz_layers.Conv2DFlipout, bz_layers.DenseFlipout),
    "mc_dropout": (keras.layers.Conv2D, keras.layers.Dense),
}


class LayerFactory:
    """Makes the layers of one method, with the builder's shared settings.

    Args:
        method: one of `METHODS`.
        prior, posterior: passed to the variational layers.
        kl_weight: float, initial KL weight of the variational layers.
        dropout_rate: float, rate of the MC dropout layers.
        seed: int or None; the stochastic layers get `seed`, `seed + 1`, ...
            in the order they are made, so that no two share a noise stream.

    Example:

    >>> factory = bz.methods.LayerFactory("lrt", prior=None, posterior=None,
    ...                                   kl_weight=1 / 50000, dropout_rate=0.5, seed=0)
    >>> conv = factory.conv(32, 5, strides=1, activation="softplus", name="conv1")
    """

    def __init__(self, method, prior, posterior, kl_weight, dropout_rate, seed):
        self.method = method
        self.prior = prior
        self.posterior = posterior
        self.kl_weight = kl_weight
        self.dropout_rate = dropout_rate
        self.seed = seed
        self._stochastic_count = 0

    def _next_seed(self):
        self._stochastic_count += 1
        return None if self.seed is None else self.seed + self._stochastic_count - 1

    def _variational_kwargs(self):
        if self.method not in VARIATIONAL_METHODS:
            return {}
        return {
            "prior": self.prior,
            "posterior": self.posterior,
            "kl_weight": self.kl_weight,
            "seed": self._next_seed(),
        }

    def conv(self, filters, kernel_size, strides, activation, name):
        conv_class = WEIGHT_LAYERS[self.method][0]
        return conv_class(
            filters,
            kernel_size,
            strides=strides,
            activation=activation,
            name=name,
            **self._variational_kwargs(),
        )

    def dense(self, units, activation, name):
        dense_class = WEIGHT_LAYERS[self.method][1]
        return dense_class(
            units, activation=activation, name=name, **self._variational_kwargs()
        )

    def dropout(self, name):
        """Returns an `MCDropout` layer, or None for the other methods."""
        if self.method != "mc_dropout":
            return None
        return bz_layers.MCDropout(self.dropout_rate, seed=self._next_seed(), name=name)
