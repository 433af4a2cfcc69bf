"""The tfp.layers convention (bz.tfp_layers): TFP's arguments, defaults and losses."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import bayes_zoo as bz

tfd = tfp.distributions
tfpl = bz.tfp_layers


def _inputs(shape, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(size=shape), tf.float32)


def test_defaults_are_tfp_defaults():
    layer = tfpl.DenseFlipout(3)
    layer(_inputs((2, 4)))
    # Kernel loc and untransformed scale, deterministic bias loc: 3 variables.
    names = sorted(v.name for v in layer.trainable_variables)
    assert names == ["bias_posterior_loc", "kernel_posterior_loc",
                     "kernel_posterior_untransformed_scale"]
    assert isinstance(layer.kernel_posterior, tfd.Independent)
    assert isinstance(layer.kernel_posterior.distribution, tfd.Normal)
    assert isinstance(layer.bias_posterior.distribution, tfd.Deterministic)
    assert layer.bias_prior is None
    scale = layer.kernel_posterior.distribution.scale.numpy()
    assert abs(scale.mean() - np.log1p(np.exp(-3.0))) < 0.01
    prior = layer.kernel_prior.distribution
    np.testing.assert_array_equal(prior.mean().numpy(), 0.0)
    np.testing.assert_array_equal(prior.stddev().numpy(), 1.0)
    # One loss, the analytic kernel KL, unweighted (TFP has no kl_weight).
    assert len(layer.losses) == 1
    expected = tfd.kl_divergence(layer.kernel_posterior, layer.kernel_prior)
    np.testing.assert_allclose(layer.losses[0].numpy(), expected.numpy(), rtol=1e-6)
    assert layer.kl_weight is None


def test_one_loss_per_kernel_and_bias():
    layer = tfpl.Convolution2DReparameterization(
        2, 3,
        bias_posterior_fn=bz.layers.default_mean_field_normal_fn(),
        bias_prior_fn=bz.layers.default_multivariate_normal_fn,
    )
    layer(_inputs((2, 5, 5, 1)))
    assert len(layer.losses) == 2
    bias_kl = tfd.kl_divergence(layer.bias_posterior, layer.bias_prior)
    np.testing.assert_allclose(layer.losses[1].numpy(), bias_kl.numpy(), rtol=1e-6)


def test_none_means_what_it_means_in_tfp():
    layer = tfpl.DenseReparameterization(
        3, kernel_prior_fn=None, bias_posterior_fn=None
    )
    outputs = layer(_inputs((2, 4)))
    assert outputs.shape == (2, 3)
    assert layer.losses == []
    assert layer.bias_posterior is None
    assert len(layer.trainable_variables) == 2
    no_divergence = tfpl.DenseReparameterization(3, kernel_divergence_fn=None)
    no_divergence(_inputs((2, 4)))
    assert no_divergence.losses == []
    with pytest.raises(ValueError, match="kernel_posterior_fn=None"):
        tfpl.DenseFlipout(3, kernel_posterior_fn=None)
    with pytest.raises(ValueError, match="not `kl_weight`"):
        tfpl.DenseFlipout(3, kl_weight=0.1)


def test_tensor_and_divergence_functions_are_called_as_tfp_calls_them():
    calls = []

    def divergence(posterior, prior, draw):
        calls.append((posterior, prior, draw))
        return tf.constant(0.5)

    layer = tfpl.DenseReparameterization(
        3,
        kernel_posterior_tensor_fn=lambda d: d.mean(),
        kernel_divergence_fn=divergence,
    )
    x = _inputs((2, 4))
    outputs = layer(x)
    kernel = layer.kernel_posterior.mean()
    bias = layer.bias_posterior.mean()
    np.testing.assert_allclose(outputs.numpy(), (x @ kernel + bias).numpy(), rtol=1e-6)
    posterior, prior, draw = calls[0]
    assert posterior is layer.kernel_posterior and prior is layer.kernel_prior
    assert draw is layer.kernel_posterior_tensor
    assert [loss.numpy() for loss in layer.losses] == [0.5]


def test_local_reparameterization_draws_activations_with_the_tensor_fn():
    mean_layer = tfpl.DenseLocalReparameterization(3, kernel_posterior_tensor_fn=lambda d: d.mean())
    x = _inputs((2, 4))
    outputs = mean_layer(x)
    loc = mean_layer.kernel_posterior.distribution.loc
    bias = mean_layer.bias_posterior.mean()
    np.testing.assert_allclose(outputs.numpy(), (x @ loc + bias).numpy(), rtol=1e-6)

    stddev_layer = tfpl.DenseLocalReparameterization(
        3, kernel_posterior_tensor_fn=lambda d: d.stddev(), bias_posterior_fn=None
    )
    outputs = stddev_layer(x)
    scale = stddev_layer.kernel_posterior.distribution.scale
    expected = tf.sqrt(tf.square(x) @ tf.square(tf.convert_to_tensor(scale)))
    np.testing.assert_allclose(outputs.numpy(), expected.numpy(), rtol=1e-5)


def test_flipout_signs_follow_the_layer_seed():
    x = _inputs((4, 6))

    def run(seed):
        layer = tfpl.DenseFlipout(
            5, seed=seed, bias_posterior_fn=None,
            kernel_posterior_fn=bz.layers.default_mean_field_normal_fn(
                loc_initializer="zeros", untransformed_scale_initializer="zeros"),
        )
        tf.random.set_seed(7)
        return layer(x).numpy()

    np.testing.assert_array_equal(run(44), run(44))
    assert not np.allclose(run(44), run(45))


def _runs_channels_first_convolutions():
    # TensorFlow's CPU kernels without oneDNN take NHWC only; Keras' own
    # Conv2D fails there the same way.
    try:
        keras.ops.conv(tf.zeros((1, 3, 4, 4)), tf.zeros((3, 3, 3, 2)), data_format="channels_first")
    except tf.errors.UnimplementedError:
        return False
    return True


def test_channels_first_convolution_matches_channels_last():
    if not _runs_channels_first_convolutions():
        pytest.skip("this machine's TensorFlow runs no channels-first convolution on its CPU")
    x = _inputs((2, 6, 6, 3))
    kwargs = dict(kernel_posterior_tensor_fn=lambda d: d.mean(), bias_posterior_fn=None,
                  kernel_posterior_fn=bz.layers.default_mean_field_normal_fn(
                      loc_initializer=keras.initializers.RandomNormal(seed=3)))
    last = tfpl.Convolution2DReparameterization(4, 3, **kwargs)
    first = tfpl.Convolution2DReparameterization(4, 3, data_format="channels_first", **kwargs)
    expected = last(x).numpy()
    actual = first(tf.transpose(x, (0, 3, 1, 2))).numpy()
    np.testing.assert_allclose(np.transpose(actual, (0, 2, 3, 1)), expected, rtol=1e-5, atol=1e-6)


@keras.saving.register_keras_serializable(package="test_tfp_convention")
def scaled_kl(posterior, prior, draw):
    return tfd.kl_divergence(posterior, prior) / 100.0


def test_keras_round_trip_without_custom_objects(tmp_path):
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        tfpl.Convolution2DFlipout(3, 3, activation="relu", kernel_divergence_fn=scaled_kl),
        keras.layers.Flatten(),
        tfpl.DenseLocalReparameterization(4),
    ])
    model.compile("adam", "mse")
    x = _inputs((4, 8, 8, 1))
    model.fit(x, tf.zeros((4, 4)), epochs=1, verbose=0)
    path = os.path.join(tmp_path, "tfp_model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    for saved, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())
    assert loaded.layers[0].kernel_divergence_fn is scaled_kl
    with bz.layers.posterior_mean(model), bz.layers.posterior_mean(loaded):
        np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_lambda_functions_need_unsafe_loading(tmp_path):
    model = keras.Sequential([
        keras.Input((3,)),
        # A deserialized lambda sees no module globals (as in tfp.layers).
        tfpl.DenseFlipout(2, kernel_divergence_fn=lambda q, p, _: q.kl_divergence(p) / 10),
    ])
    path = os.path.join(tmp_path, "lambda.keras")
    model.save(path)
    with pytest.raises(ValueError, match="lambda"):
        keras.models.load_model(path)
    loaded = keras.models.load_model(path, safe_mode=False)
    assert loaded(tf.zeros((1, 3))).shape == (1, 2)


def test_trains_in_a_sequential_model():
    model = keras.Sequential([
        keras.Input((4,)),
        tfpl.DenseReparameterization(8, activation="relu"),
        tfpl.DenseFlipout(8, activation="relu"),
        tfpl.DenseLocalReparameterization(1),
    ])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(model(tf.ones((2, 4))))
    gradients = tape.gradient(y, model.trainable_variables)
    assert len(gradients) == 9 and all(g is not None for g in gradients)
    model.compile(keras.optimizers.Adam(0.05), "mse")
    x = _inputs((64, 4))
    y = tf.reduce_sum(x, axis=1, keepdims=True)
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 2


@keras.saving.register_keras_serializable(package="test_tfp_convention")
def mean_field_posterior(kernel_size, bias_size, dtype):
    n = kernel_size + bias_size
    return keras.Sequential([
        tfpl.VariableLayer(2 * n, dtype=dtype),
        tfpl.DistributionLambda(lambda t: tfd.Independent(
            tfd.Normal(loc=t[..., :n], scale=1e-5 + tf.nn.softplus(t[..., n:])),
            reinterpreted_batch_ndims=1)),
    ])


@keras.saving.register_keras_serializable(package="test_tfp_convention")
def standard_normal_prior(kernel_size, bias_size, dtype):
    n = kernel_size + bias_size
    return lambda _: tfd.Independent(tfd.Normal(tf.zeros(n, dtype), 1.0), reinterpreted_batch_ndims=1)


def test_dense_variational_has_tfps_signature_and_learns_a_line(tmp_path):
    x = np.linspace(-1, 1, 128, dtype="float32")[:, None]
    y = 2 * x + 0.5
    layer = tfpl.DenseVariational(1, mean_field_posterior, standard_normal_prior,
                                  kl_weight=1 / len(x), kl_use_exact=True)
    model = keras.Sequential([keras.Input((1,)), layer])
    model.compile(keras.optimizers.Adam(0.05), "mse")
    model.fit(x, y, epochs=60, batch_size=32, verbose=0)
    # Two variables: the posterior's [loc, untransformed scale] of kernel and bias.
    assert [tuple(v.shape) for v in model.trainable_variables] == [(4,)]
    kernel, bias = layer.posterior(x).mean().numpy()
    assert abs(kernel - 2.0) < 0.15 and abs(bias - 0.5) < 0.15
    expected_kl = tfd.kl_divergence(layer.posterior(x), layer.prior(x)) / len(x)
    model(x)
    np.testing.assert_allclose(model.losses[0].numpy(), expected_kl.numpy(), rtol=1e-5)
    path = os.path.join(tmp_path, "dense_variational.keras")
    model.save(path)
    # The posterior is rebuilt by the registered make_posterior_fn: no lambda to load.
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.layers[0].posterior(x).mean().numpy(), [kernel, bias])
    with pytest.raises(ValueError, match="units=0"):
        tfpl.DenseVariational(0, mean_field_posterior, standard_normal_prior)
