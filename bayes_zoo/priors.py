"""Priors over the weights of a variational layer.

A prior is a small serializable specification. A layer asks it for the
variables it needs (none for a fixed prior; the pretrained centre for an
empirical one) and then for a `tfp.distributions` object over a weight tensor.
The same prior object can be shared by many layers.
"""

import keras
import tensorflow_probability as tfp

tfd = tfp.distributions

_PACKAGE = "bayes_zoo"


def _check_positive(name, value):
    if not value > 0:
        raise ValueError(
            f"Argument `{name}` must be a positive number. Received: {name}={value}"
        )


class Prior:
    """Base class of weight priors.

    Subclasses implement `distribution(variables, shape, dtype)` and may
    override `add_variables(layer, name, shape)` to create per-weight state.
    """

    def add_variables(self, layer, name, shape):
        """Creates the variables this prior needs on `layer`; returns a dict."""
        return {}

    def distribution(self, variables, shape, dtype):
        """Returns a `tfd.Distribution` whose batch shape is `shape`."""
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Normal(Prior):
    """Independent Normal prior `N(mean, stddev^2)` on every weight.

    The paper's default prior is `Normal(0.0, 0.1)`.

    Args:
        mean: float, the prior mean of every weight.
        stddev: positive float, the prior standard deviation.

    Example:

    >>> prior = bz.priors.Normal(0.0, 0.1)
    >>> layer = bz.layers.DenseLocalReparameterization(10, prior=prior)
    """

    def __init__(self, mean=0.0, stddev=0.1):
        _check_positive("stddev", stddev)
        self.mean = float(mean)
        self.stddev = float(stddev)

    def distribution(self, variables, shape, dtype):
        loc = keras.ops.full(shape, self.mean, dtype=dtype)
        return tfd.Normal(loc=loc, scale=keras.ops.cast(self.stddev, dtype))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScaleMixtureNormal(Prior):
    """Scale mixture of two zero-mean Normals (Blundell et al., 2015).

    `p(w) = pi * N(0, sigma1^2) + (1 - pi) * N(0, sigma2^2)`. Its KL to a
    Normal posterior has no closed form, so layers estimate it by Monte Carlo.

    Args:
        pi: float in (0, 1), the weight of the first component.
        sigma1: positive float, the standard deviation of the first (wide)
            component.
        sigma2: positive float, the standard deviation of the second
            (narrow) component.

    Example:

    >>> prior = bz.priors.ScaleMixtureNormal(pi=0.5, sigma1=1.0, sigma2=0.0025)
    >>> layer = bz.layers.Conv2DReparameterization(8, 3, prior=prior)
    """

    def __init__(self, pi=0.5, sigma1=1.0, sigma2=0.0025):
        if not 0.0 < pi < 1.0:
            raise ValueError(
                f"Argument `pi` must be in the open interval (0, 1). Received: pi={pi}"
            )
        _check_positive("sigma1", sigma1)
        _check_positive("sigma2", sigma2)
        self.pi = float(pi)
        self.sigma1 = float(sigma1)
        self.sigma2 = float(sigma2)

    def distribution(self, variables, shape, dtype):
        probs = keras.ops.cast([self.pi, 1.0 - self.pi], dtype)
        scales = keras.ops.cast([self.sigma1, self.sigma2], dtype)
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(
                probs=keras.ops.broadcast_to(probs, tuple(shape) + (2,))
            ),
            components_distribution=tfd.Normal(
                loc=keras.ops.zeros(tuple(shape) + (2,), dtype=dtype),
                scale=scales,
            ),
        )

    def get_config(self):
        return {"pi": self.pi, "sigma1": self.sigma1, "sigma2": self.sigma2}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class EmpiricalNormal(Prior):
    """Normal prior centred on pretrained deterministic weights (MOPED).

    Krishnan et al. (2020), "Specifying weight priors in Bayesian deep neural
    networks with empirical Bayes". The centre is a non-trainable variable of
    the layer, so it is saved and restored with the model. Layers start with
    the centre at zero; `bayes_zoo.layers.bayesian_from_pretrained` fills it
    with the weights of a trained frequentist model.

    Args:
        stddev: positive float, the prior standard deviation around the
            pretrained weights.

    Example:

    >>> prior = bz.priors.EmpiricalNormal(stddev=0.1)
    >>> layer = bz.layers.DenseReparameterization(10, prior=prior)
    """

    def __init__(self, stddev=0.1):
        _check_positive("stddev", stddev)
        self.stddev = float(stddev)

    def add_variables(self, layer, name, shape):
        centre = layer.add_weight(
            name=f"{name}_prior_loc",
            shape=shape,
            initializer="zeros",
            trainable=False,
            autocast=False,
        )
        return {"loc": centre}

    def distribution(self, variables, shape, dtype):
        loc = keras.ops.cast(variables["loc"], dtype)
        return tfd.Normal(loc=loc, scale=keras.ops.cast(self.stddev, dtype))

    def get_config(self):
        return {"stddev": self.stddev}


def get(identifier):
    """Returns a prior from a `Prior`, a config dict, or None (the default)."""
    if identifier is None:
        return Normal()
    if isinstance(identifier, Prior):
        return identifier
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    raise ValueError(
        "Argument `prior` must be a bayes_zoo.priors.Prior, a serialized prior "
        f"dict, or None. Received: prior={identifier!r}"
    )
