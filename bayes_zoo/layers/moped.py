"""MOPED: a Bayesian model initialised from a trained frequentist one.

Krishnan et al. (2020) centre both the prior and the posterior means on the
weights of a trained deterministic network and set the posterior standard
deviations to a fraction of their magnitude.
"""

import keras

from bayes_zoo import posteriors as posteriors_lib
from bayes_zoo import priors as priors_lib
from bayes_zoo.layers.conv1d import Conv1DVariational
from bayes_zoo.layers.conv2d import Conv2DVariational
from bayes_zoo.layers.conv2d_transpose import Conv2DTransposeVariational
from bayes_zoo.layers.conv3d import Conv3DVariational
from bayes_zoo.layers.dense import DenseVariational

# Keras layer class -> (variational class, config keys it shares with it).
_CONV_KEYS = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate")
_VARIATIONAL_TWINS = {
    keras.layers.Dense: (DenseVariational, ("units",)),
    keras.layers.Conv1D: (Conv1DVariational, _CONV_KEYS),
    keras.layers.Conv2D: (Conv2DVariational, _CONV_KEYS),
    keras.layers.Conv3D: (Conv3DVariational, _CONV_KEYS),
    keras.layers.Conv2DTranspose: (
        Conv2DTransposeVariational,
        _CONV_KEYS + ("output_padding",),
    ),
}
_SHARED_KEYS = ("name", "activation", "use_bias")


def bayesian_from_pretrained(
    model,
    estimator="local_reparameterization",
    relative_stddev=0.1,
    prior_stddev=0.1,
    kl_weight=1.0,
    posterior=None,
):
    """Returns a Bayesian twin of a trained frequentist model (MOPED).

    Every `Dense`, `Conv1D`, `Conv2D`, `Conv3D` and `Conv2DTranspose` layer
    becomes the matching variational layer with its posterior mean set to the
    trained weights, its posterior standard deviation to
    `relative_stddev * |w|`, and an `EmpiricalNormal(prior_stddev)` prior
    centred on the trained weights. Other layers are cloned with their weights.

    Args:
        model: a built functional or Sequential Keras model.
        estimator: the estimator of the new layers.
        relative_stddev: positive float, the initial posterior stddev as a
            fraction of each weight's magnitude.
        prior_stddev: positive float, the stddev of the empirical prior.
        kl_weight: float, the initial KL weight of the new layers
            (`1 / num_train_examples` for the negative ELBO per example).
        posterior: a `bayes_zoo.posteriors.Posterior`; `MeanFieldNormal()` by
            default.

    Returns:
        A new, uncompiled Keras model.

    Example:

    >>> frequentist = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> bayesian = bz.layers.bayesian_from_pretrained(frequentist, kl_weight=1e-3)
    """
    if not relative_stddev > 0:
        raise ValueError(
            "Argument `relative_stddev` must be positive. "
            f"Received: relative_stddev={relative_stddev}"
        )
    prior = priors_lib.EmpiricalNormal(prior_stddev)
    posterior = posteriors_lib.get(posterior)

    def clone(layer):
        twin = _VARIATIONAL_TWINS.get(type(layer))
        if twin is None:
            return layer.__class__.from_config(layer.get_config())
        variational_class, keys = twin
        config = layer.get_config()
        kwargs = {key: config[key] for key in _SHARED_KEYS + keys}
        return variational_class(
            estimator=estimator,
            prior=prior,
            posterior=posterior,
            kl_weight=kl_weight,
            **kwargs,
        )

    bayesian = keras.models.clone_model(model, clone_function=clone)
    for old, new in zip(model.layers, bayesian.layers):
        if type(old) in _VARIATIONAL_TWINS:
            _initialise_from(new, old.kernel, old.bias if old.use_bias else None,
                             relative_stddev)
        else:
            new.set_weights(old.get_weights())
    return bayesian


def _initialise_from(layer, kernel, bias, relative_stddev):
    pairs = [(layer.kernel_posterior_variables, layer.kernel_prior_variables, kernel)]
    if bias is not None:
        pairs.append((layer.bias_posterior_variables, layer.bias_prior_variables, bias))
    for posterior_variables, prior_variables, weights in pairs:
        weights = keras.ops.convert_to_numpy(weights)
        layer.posterior.initialize_from(posterior_variables, weights, relative_stddev)
        prior_variables["loc"].assign(weights)
