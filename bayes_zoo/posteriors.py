"""Variational posteriors over the weights of a layer.

A posterior is a serializable specification: it creates the trainable
variables of one weight tensor on a layer and turns them into a
`tfp.distributions.Normal`. The variables are not autocast under a mixed
precision policy: the distribution (and the KL computed from it) stays in
the variable dtype, float32, and the layer casts what its linear operations
use to the compute dtype. Every estimator in `bayes_zoo.layers` only needs
the posterior's mean and standard deviation, so both posteriors below are
Normal, parameterised differently.
"""

import keras
import numpy as np
import tensorflow_probability as tfp

tfd = tfp.distributions

_PACKAGE = "bayes_zoo"


class Posterior:
    """Base class of factorised Normal posteriors.

    Subclasses implement `add_variables(layer, name, shape)` and
    `stddev(variables)`; the mean is always `variables["loc"]`.
    """

    def sample(self, layer, distribution, sample_shape=()):
        """Draws from `distribution`, a `tfd.Normal`, with `layer`'s noise.

        `loc + scale * eps`, with `eps` from `layer.standard_normal`, so that
        the draw follows the layer's seeding (see `bayes_zoo.layers.noise`).
        """
        loc, scale = distribution.loc, distribution.scale
        shape = tuple(sample_shape) + tuple(keras.ops.shape(loc))
        return loc + scale * layer.standard_normal(shape, loc.dtype)

    def add_variables(self, layer, name, shape):
        raise NotImplementedError

    def stddev(self, variables):
        raise NotImplementedError

    def distribution(self, variables):
        """Returns `tfd.Normal(mean, stddev)` over the weight tensor."""
        return tfd.Normal(loc=variables["loc"], scale=self.stddev(variables))

    def initialize_from(self, variables, weights, relative_stddev):
        """Sets the mean to `weights` and the stddev to `relative_stddev * |weights|`.

        Used to start a Bayesian layer from a trained frequentist one (MOPED).
        """
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


# Smallest stddev a MOPED initialisation gives to a zero weight; keeps
# log(expm1(.)) finite.
_MIN_STDDEV = 1e-6

# Added to softplus(rho), which underflows to exactly 0 below rho ~ -104 in
# float32 (KL = inf, NaN gradients). Any sigma above ~1e-13 absorbs it
# exactly, so it changes nothing else and the gradient still flows.
_SOFTPLUS_FLOOR = 1e-20

# Upper bound of `MultiplicativeNormal`'s log_alpha (see its docstring).
MAX_LOG_ALPHA = 8.0


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MeanFieldNormal(Posterior):
    """Mean-field Normal posterior with `sigma = softplus(rho)`.

    Each weight has a trainable mean `loc` and an unconstrained `rho`. The
    defaults are the reference implementation's: `loc ~ N(0, 0.1)` and
    `rho ~ N(-5, 0.1)`, i.e. an initial sigma of about 0.0067.

    Args:
        loc_initializer: initializer of the posterior means.
        rho_initializer: initializer of `rho`, the softplus-inverse of sigma.
        loc_regularizer: None or a Keras regularizer of the kernel's posterior means,
            e.g. `keras.regularizers.L1(1e-5)`, which drives small means to
            zero before pruning (Shridhar et al., section 5.7.2). Its penalty
            joins the model's losses as Keras' `kernel_regularizer` does.

    Example:

    >>> posterior = bz.posteriors.MeanFieldNormal(
    ...     rho_initializer=keras.initializers.Constant(-4.0))
    >>> layer = bz.layers.Conv2DLocalReparameterization(
    ...     16, 3, posterior=posterior)
    """

    def __init__(self, loc_initializer=None, rho_initializer=None, loc_regularizer=None):
        self.loc_initializer = keras.initializers.get(
            loc_initializer or keras.initializers.RandomNormal(0.0, 0.1)
        )
        self.loc_regularizer = keras.regularizers.get(loc_regularizer)
        self.rho_initializer = keras.initializers.get(
            rho_initializer or keras.initializers.RandomNormal(-5.0, 0.1)
        )

    def add_variables(self, layer, name, shape):
        return {
            "loc": layer.add_weight(
                name=f"{name}_loc", shape=shape, initializer=self.loc_initializer,
                regularizer=self.loc_regularizer if name == "kernel" else None,
                autocast=False,
            ),
            "rho": layer.add_weight(
                name=f"{name}_rho", shape=shape, initializer=self.rho_initializer,
                autocast=False,
            ),
        }

    def stddev(self, variables):
        return keras.ops.softplus(variables["rho"]) + _SOFTPLUS_FLOOR

    def initialize_from(self, variables, weights, relative_stddev):
        weights = np.asarray(weights, dtype="float32")
        stddev = np.maximum(relative_stddev * np.abs(weights), _MIN_STDDEV)
        variables["loc"].assign(weights)
        variables["rho"].assign(np.log(np.expm1(stddev)))

    def get_config(self):
        return {
            "loc_initializer": keras.initializers.serialize(self.loc_initializer),
            "rho_initializer": keras.initializers.serialize(self.rho_initializer),
            **_regularizer_config(self.loc_regularizer),
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MultiplicativeNormal(Posterior):
    """Normal posterior with multiplicative variance `sigma^2 = alpha * mu^2`.

    The paper's parameterisation (Shridhar et al., section 4.1; Kingma et al.,
    2015): each weight has a trainable mean `loc` and a trainable `log_alpha`,
    initialised to -10 as in the paper's appendix.

    `log_alpha` is clipped to at most `MAX_LOG_ALPHA = 8` where the stddev is
    computed: `exp` overflows float32 at 88.7 (a NaN KL) and the KL, which
    grows as `alpha`, overflows well before. At 8, `sigma ~ 55 |mu|` (a
    Gaussian dropout rate `alpha / (1 + alpha)` above 0.9996): the weight is
    already noise, pruned from `log_alpha > 3` on (Molchanov et al., 2017).
    A `log_alpha` variable above 8 gets no gradient through the stddev, so
    it stays where it is and acts as 8. There is no lower clip:
    below about -23 the stddev floor of 1e-6 dominates and all stays finite.

    Args:
        loc_initializer: initializer of the posterior means, `N(0, 0.1)` by
            default.
        log_alpha_init: finite float at most `MAX_LOG_ALPHA` (8), the initial
            value of every `log_alpha`.
        loc_regularizer: None or a Keras regularizer of the kernel's
            posterior means, as for `MeanFieldNormal`.

    Example:

    >>> posterior = bz.posteriors.MultiplicativeNormal(log_alpha_init=-10.0)
    >>> layer = bz.layers.DenseLocalReparameterization(10, posterior=posterior)
    """

    def __init__(self, loc_initializer=None, log_alpha_init=-10.0, loc_regularizer=None):
        self.loc_initializer = keras.initializers.get(
            loc_initializer or keras.initializers.RandomNormal(0.0, 0.1)
        )
        self.loc_regularizer = keras.regularizers.get(loc_regularizer)
        log_alpha_init = float(log_alpha_init)
        if not np.isfinite(log_alpha_init) or log_alpha_init > MAX_LOG_ALPHA:
            raise ValueError(
                "Argument `log_alpha_init` must be a finite number at most "
                f"{MAX_LOG_ALPHA} (alpha = sigma^2 / mu^2 above e^{MAX_LOG_ALPHA:g} "
                "makes the weight pure noise and overflows the KL). Fix: pass e.g. "
                f"the paper's -10.0. Received: log_alpha_init={log_alpha_init}"
            )
        self.log_alpha_init = log_alpha_init

    def add_variables(self, layer, name, shape):
        return {
            "loc": layer.add_weight(
                name=f"{name}_loc", shape=shape, initializer=self.loc_initializer,
                regularizer=self.loc_regularizer if name == "kernel" else None,
                autocast=False,
            ),
            "log_alpha": layer.add_weight(
                name=f"{name}_log_alpha",
                shape=shape,
                autocast=False,
                initializer=keras.initializers.Constant(self.log_alpha_init),
            ),
        }

    def stddev(self, variables):
        log_alpha = keras.ops.minimum(variables["log_alpha"], MAX_LOG_ALPHA)
        variance = keras.ops.exp(log_alpha) * keras.ops.square(variables["loc"])
        # The floor keeps the KL finite for a weight whose mean is exactly
        # zero (a pruned weight): sigma = sqrt(alpha) * |mu| would be zero.
        return keras.ops.sqrt(variance + _MIN_STDDEV**2)

    def initialize_from(self, variables, weights, relative_stddev):
        log_alpha = 2.0 * np.log(relative_stddev)
        if log_alpha > MAX_LOG_ALPHA:
            # Above the clip, log_alpha would start with no gradient.
            raise ValueError(
                "Argument `relative_stddev` must be at most "
                f"e^{MAX_LOG_ALPHA / 2:g} = {np.exp(MAX_LOG_ALPHA / 2):.1f} for a "
                "MultiplicativeNormal posterior (log_alpha = 2 log(relative_stddev) is "
                f"at most {MAX_LOG_ALPHA}). Received: relative_stddev={relative_stddev}"
            )
        weights = np.asarray(weights, dtype="float32")
        variables["loc"].assign(weights)
        variables["log_alpha"].assign(np.full(weights.shape, log_alpha, dtype="float32"))

    def get_config(self):
        return {
            "loc_initializer": keras.initializers.serialize(self.loc_initializer),
            "log_alpha_init": self.log_alpha_init,
            **_regularizer_config(self.loc_regularizer),
        }


def _regularizer_config(regularizer):
    # Left out when None, so that files saved before the argument existed
    # have the same configuration.
    if regularizer is None:
        return {}
    return {"loc_regularizer": keras.regularizers.serialize(regularizer)}


def get(identifier):
    """Returns a posterior from a `Posterior`, a config dict, or None (the default)."""
    if identifier is None:
        return MeanFieldNormal()
    if isinstance(identifier, Posterior):
        return identifier
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    raise ValueError(
        "Argument `posterior` must be a bayes_zoo.posteriors.Posterior, a "
        f"serialized posterior dict, or None. Received: posterior={identifier!r}"
    )
