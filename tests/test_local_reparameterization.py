"""The estimators' output moments against the paper's two operations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import bayes_zoo as bz

NUM_DRAWS = 4000


def _set_posterior(layer, rng, sigma_range=(0.1, 0.5)):
    """Gives `layer` random means and clearly non-zero standard deviations."""
    for variables in (layer.kernel_posterior_variables, layer.bias_posterior_variables):
        shape = variables["loc"].shape
        variables["loc"].assign(rng.normal(0.0, 0.3, shape).astype("float32"))
        sigma = rng.uniform(*sigma_range, shape).astype("float32")
        variables["rho"].assign(np.log(np.expm1(sigma)))


def _expected_moments(layer, x):
    """mean = op(x, mu) + b_mu and var = op(x^2, sigma^2) + b_sigma^2."""
    kernel_q, bias_q = layer.kernel_posterior(), layer.bias_posterior()
    mean = layer.linear_op(x, kernel_q.loc) + bias_q.loc
    var = layer.linear_op(x**2, kernel_q.scale**2) + bias_q.scale**2
    return np.asarray(mean), np.asarray(var)


def _draws(layer, x, calls, copies):
    """Output samples for input `x`, from `calls` calls on `copies` stacked copies."""
    call = tf.function(layer.__call__)
    stacked = tf.repeat(x, copies, axis=0)
    samples = [np.asarray(call(stacked)) for _ in range(calls)]
    return np.concatenate(samples, axis=0)


def _assert_moments(samples, mean, var):
    n = samples.shape[0]
    sample_mean, sample_var = samples.mean(axis=0), samples.var(axis=0)
    # Mean within 5 standard errors; variance within 5 standard errors of a
    # Gaussian sample variance (sqrt(2 / n) relative).
    np.testing.assert_array_less(np.abs(sample_mean - mean[0]), 5 * np.sqrt(var[0] / n) + 1e-6)
    np.testing.assert_array_less(
        np.abs(sample_var / var[0] - 1.0), 5 * np.sqrt(2.0 / n) + 1e-3
    )


LAYERS = {
    "conv2d": (lambda est: bz.layers.Conv2DVariational(3, 3, estimator=est), (1, 5, 5, 2)),
    "dense": (lambda est: bz.layers.DenseVariational(4, estimator=est), (1, 6)),
    "conv1d": (lambda est: bz.layers.Conv1DVariational(2, 3, estimator=est), (1, 6, 2)),
    "conv2d_transpose": (
        lambda est: bz.layers.Conv2DTransposeVariational(2, 3, strides=2, estimator=est),
        (1, 3, 3, 2),
    ),
}


@pytest.mark.parametrize("name", ["conv2d", "dense"])
def test_local_reparameterization_matches_mean_and_variance_operations(name):
    make_layer, shape = LAYERS[name]
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    layer = make_layer("local_reparameterization")
    layer.build(shape)
    _set_posterior(layer, rng)
    mean, var = _expected_moments(layer, x)
    _assert_moments(_draws(layer, x, calls=1, copies=NUM_DRAWS), mean, var)


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("estimator", bz.layers.ESTIMATORS)
def test_estimators_agree_on_output_mean_and_variance(name, estimator):
    make_layer, shape = LAYERS[name]
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape).astype("float32")
    layer = make_layer(estimator)
    layer.build(shape)
    _set_posterior(layer, np.random.default_rng(2))  # the same posterior for all
    mean, var = _expected_moments(layer, x)
    layer.weight_samples = NUM_DRAWS  # one kernel per copy (no-op for LRT)
    _assert_moments(_draws(layer, x, calls=1, copies=NUM_DRAWS), mean, var)


@pytest.mark.parametrize("layer_class", [bz.layers.DenseReparameterization, bz.layers.DenseFlipout])
def test_weight_samples_draw_one_kernel_per_stacked_copy(layer_class):
    layer = layer_class(3)
    x = np.ones((4, 5), "float32")
    layer.build(x.shape)
    _set_posterior(layer, np.random.default_rng(0))
    outputs = np.asarray(layer(x))
    if layer.estimator == "reparameterization":
        np.testing.assert_allclose(outputs[0], outputs[3])  # one kernel per call
    layer.weight_samples = 4
    outputs = np.asarray(layer(x))
    assert np.all(np.abs(outputs[0] - outputs[1:]) > 1e-6)


def test_layers_sample_in_inference_and_posterior_mean_switch_is_explicit():
    inputs = keras.Input((6,))
    outputs = bz.layers.DenseLocalReparameterization(4)(inputs)
    outputs = bz.layers.MCDropout(0.5)(outputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
    first = model.predict(x, verbose=0)
    assert not np.allclose(first, model.predict(x, verbose=0))
    assert not np.allclose(model(x, training=False), model(x, training=False))
    with bz.layers.posterior_mean(model):
        mean_output = model.predict(x, verbose=0)
        np.testing.assert_array_equal(mean_output, model.predict(x, verbose=0))
    # Back to sampling after the context, even for the already traced predict.
    assert not np.allclose(model.predict(x, verbose=0), model.predict(x, verbose=0))
