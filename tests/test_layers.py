"""Layer API: gradients, serialization, arguments, aliases, MOPED."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import bayes_zoo as bz


def _every_layer_model():
    """A model using every layer class, estimator, prior and posterior."""
    image = keras.Input((12, 12, 2), name="image")
    x = bz.layers.Conv2DLocalReparameterization(4, 3, activation="softplus")(image)
    x = bz.layers.Conv2DReparameterization(
        4, 3, padding="same", prior=bz.priors.ScaleMixtureNormal(0.5, 1.0, 0.01)
    )(x)
    x = bz.layers.Conv2DFlipout(
        4, 3, strides=2, posterior=bz.posteriors.MultiplicativeNormal()
    )(x)
    x = bz.layers.MCSpatialDropout2D(0.1)(x)
    x = bz.layers.Conv2DTransposeReparameterization(3, 3, strides=2)(x)
    x = bz.layers.Conv2DTransposeLocalReparameterization(3, 3, padding="same")(x)
    x = bz.layers.Conv2DTransposeFlipout(3, 3, prior=bz.priors.EmpiricalNormal(0.2))(x)
    x = bz.layers.Conv2DVariational(2, 3, estimator="flipout", dilation_rate=2)(x)
    image_features = keras.layers.GlobalAveragePooling2D()(x)

    sequence = keras.Input((10, 2), name="sequence")
    y = bz.layers.Conv1DReparameterization(3, 3)(sequence)
    y = bz.layers.Conv1DLocalReparameterization(3, 3)(y)
    y = bz.layers.Conv1DFlipout(3, 3, use_bias=False)(y)
    y = bz.layers.Conv1DVariational(3, 2, estimator="reparameterization")(y)
    sequence_features = keras.layers.GlobalAveragePooling1D()(y)

    volume = keras.Input((5, 5, 5, 1), name="volume")
    z = bz.layers.Conv3DReparameterization(2, 2)(volume)
    z = bz.layers.Conv3DLocalReparameterization(2, 2)(z)
    z = bz.layers.Conv3DFlipout(2, 2)(z)
    z = bz.layers.Conv3DVariational(2, 2)(z)
    volume_features = keras.layers.GlobalAveragePooling3D()(z)

    features = keras.layers.Concatenate()([image_features, sequence_features, volume_features])
    h = bz.layers.DenseReparameterization(8, activation="relu")(features)
    h = bz.layers.DenseLocalReparameterization(8, activation="softplus")(h)
    h = bz.layers.MCDropout(0.2)(h)
    h = bz.layers.DenseFlipout(8)(h)
    logits = bz.layers.DenseVariational(3, estimator="reparameterization")(h)
    return keras.Model([image, sequence, volume], logits)


def _inputs(batch=4, seed=0):
    rng = np.random.default_rng(seed)
    return [
        rng.normal(size=(batch, 12, 12, 2)).astype("float32"),
        rng.normal(size=(batch, 10, 2)).astype("float32"),
        rng.normal(size=(batch, 5, 5, 5, 1)).astype("float32"),
    ]


def test_gradients_reach_every_posterior_parameter():
    model = _every_layer_model()
    x = _inputs()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x) ** 2) + tf.add_n(model.losses)
    gradients = tape.gradient(loss, model.trainable_variables)
    names = set()
    for variable, gradient in zip(model.trainable_variables, gradients):
        assert gradient is not None, variable.path
        assert np.any(np.asarray(gradient) != 0), variable.path
        names.add(variable.name.split("_", 1)[-1])
    assert {"loc", "rho", "log_alpha"} <= names
    # Every trainable variable is a posterior parameter.
    assert all(v.name.endswith(("_loc", "_rho", "_log_alpha")) for v in model.trainable_variables)


def test_keras_round_trip_restores_variables_and_posterior_mean_outputs(tmp_path):
    model = _every_layer_model()
    x = _inputs()
    model(x)
    path = tmp_path / "every_layer.keras"
    model.save(path)
    restored = keras.models.load_model(path)  # no custom_objects
    assert [w.path for w in model.weights] == [w.path for w in restored.weights]
    for original, loaded in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(np.asarray(original), np.asarray(loaded))
    with bz.layers.posterior_mean(model), bz.layers.posterior_mean(restored):
        np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(restored(x)))
    # The restored model still samples.
    assert not np.allclose(np.asarray(restored(x)), np.asarray(restored(x)))
    for layer, restored_layer in zip(model.layers, restored.layers):
        assert layer.get_config() == restored_layer.get_config()


def test_trainable_parameters_are_twice_the_frequentist_count():
    inputs = keras.Input((8, 8, 1))
    x = bz.layers.Conv2DLocalReparameterization(4, 3)(inputs)
    x = keras.layers.Flatten()(x)
    bayesian = keras.Model(inputs, bz.layers.DenseLocalReparameterization(5)(x))
    y = keras.layers.Conv2D(4, 3)(inputs)
    y = keras.layers.Flatten()(y)
    frequentist = keras.Model(inputs, keras.layers.Dense(5)(y))
    count = lambda m: sum(int(np.prod(v.shape)) for v in m.trainable_variables)  # noqa: E731
    assert count(bayesian) == 2 * count(frequentist)


def test_variational_layers_match_keras_shapes():
    x = np.zeros((2, 9, 9, 3), "float32")
    cases = [
        (bz.layers.Conv2DFlipout(5, 3, strides=2, padding="same"), keras.layers.Conv2D(5, 3, strides=2, padding="same")),
        (bz.layers.Conv2DReparameterization(5, (3, 2), dilation_rate=2), keras.layers.Conv2D(5, (3, 2), dilation_rate=2)),
        (bz.layers.Conv2DTransposeLocalReparameterization(5, 3, strides=2, output_padding=1),
         keras.layers.Conv2DTranspose(5, 3, strides=2, output_padding=1)),
        (bz.layers.Conv2DLocalReparameterization(4, 3, data_format="channels_first"),
         keras.layers.Conv2D(4, 3, data_format="channels_first")),
    ]
    for variational, deterministic in cases:
        if variational.data_format == "channels_first" and not tf.config.list_physical_devices("GPU"):
            # TensorFlow's CPU kernels only run channels_last convolutions.
            assert variational.compute_output_shape((2, 3, 9, 9)) == deterministic.compute_output_shape((2, 3, 9, 9))
            continue
        assert variational(x).shape == deterministic(x).shape
        assert variational.compute_output_shape(x.shape) == deterministic.compute_output_shape(x.shape)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: bz.layers.Conv2DFlipout(0, 3), "filters=0"),
        (lambda: bz.layers.Conv2DFlipout(-2, 3), "filters=-2"),
        (lambda: bz.layers.Conv1DReparameterization(0, 3), "filters=0"),
        (lambda: bz.layers.Conv2DTransposeFlipout(0, 3), "filters=0"),
        (lambda: bz.layers.DenseFlipout(0), "units=0"),
        (lambda: bz.layers.DenseVariational(-1), "units=-1"),
        (lambda: bz.layers.DenseVariational(3, estimator="mcmc"), "estimator='mcmc'"),
        (lambda: bz.layers.Conv2DFlipout(3, 3, estimator="reparameterization"), "estimator='reparameterization'"),
        (lambda: bz.priors.Normal(0.0, 0.0), "stddev=0"),
        (lambda: bz.priors.Normal(0.0, -1.0), "stddev=-1"),
        (lambda: bz.priors.EmpiricalNormal(stddev=-0.1), "stddev=-0.1"),
        (lambda: bz.priors.ScaleMixtureNormal(pi=1.5), "pi=1.5"),
        (lambda: bz.priors.ScaleMixtureNormal(sigma2=0.0), "sigma2=0"),
        (lambda: bz.layers.MCDropout(1.0), "rate=1.0"),
        (lambda: bz.layers.MCDropout(-0.1), "rate=-0.1"),
        (lambda: bz.layers.MCSpatialDropout2D(1.5), "rate=1.5"),
        (lambda: bz.layers.DenseFlipout(3, kl_weight=-1.0), "kl_weight=-1.0"),
        (lambda: bz.callbacks.KLWeightSchedule("linear"), "schedule='linear'"),
        (lambda: bz.layers.set_weight_samples(keras.Sequential(), 0), "num_samples=0"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        make()


@pytest.mark.parametrize(
    "layer, shape",
    [
        (bz.layers.Conv2DLocalReparameterization(3, 3), (2, 8, 8)),
        (bz.layers.Conv2DFlipout(3, 3), (2, 4, 8, 8, 1)),
        (bz.layers.Conv1DReparameterization(3, 3), (2, 8, 8, 1)),
        (bz.layers.Conv3DFlipout(3, 3), (2, 8, 8, 1)),
        (bz.layers.Conv2DTransposeFlipout(3, 3), (2, 8, 1)),
        (bz.layers.DenseFlipout(3), (5,)),
        (bz.layers.MCSpatialDropout2D(0.5), (2, 8, 1)),
    ],
)
def test_input_of_wrong_rank_raises_value_error(layer, shape):
    with pytest.raises(ValueError, match="input_shape="):
        layer(np.zeros(shape, "float32"))


def test_bayesian_from_pretrained_centres_posterior_and_prior_on_trained_weights(tmp_path):
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(3, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    frequentist = keras.Model(inputs, keras.layers.Dense(2)(x))
    bayesian = bz.layers.bayesian_from_pretrained(
        frequentist, relative_stddev=0.1, prior_stddev=0.05, kl_weight=0.01
    )
    conv = bayesian.layers[1]
    assert isinstance(conv, bz.layers.Conv2DVariational)
    assert conv.estimator == "local_reparameterization"
    trained_kernel = np.asarray(frequentist.layers[1].kernel)
    np.testing.assert_allclose(conv.kernel_posterior_variables["loc"], trained_kernel)
    np.testing.assert_allclose(conv.kernel_prior_variables["loc"], trained_kernel)
    np.testing.assert_allclose(
        np.asarray(conv.kernel_posterior().scale), np.maximum(0.1 * np.abs(trained_kernel), 1e-6), rtol=1e-3
    )
    x = np.random.default_rng(0).normal(size=(3, 6, 6, 1)).astype("float32")
    with bz.layers.posterior_mean(bayesian):
        np.testing.assert_allclose(bayesian(x), frequentist(x), rtol=1e-5, atol=1e-6)
    path = tmp_path / "moped.keras"
    bayesian.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored.layers[1].kernel_prior_variables["loc"], trained_kernel)


def test_a_callback_may_predict_with_posterior_means_during_fit():
    inputs = keras.Input((4,))
    x = bz.layers.DenseLocalReparameterization(8, activation="relu")(inputs)
    x = bz.layers.MCDropout(0.5)(x)
    model = keras.Model(inputs, bz.layers.DenseFlipout(2)(x))
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    rng = np.random.default_rng(0)
    images = rng.normal(size=(16, 4)).astype("float32")
    labels = rng.integers(0, 2, size=16)

    class PosteriorMeanPrediction(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.predictions = []

        def on_epoch_end(self, epoch, logs=None):
            with bz.layers.posterior_mean(self.model):
                self.predictions.append(self.model.predict(images, verbose=0))

    callback = PosteriorMeanPrediction()
    history = model.fit(images, labels, batch_size=8, epochs=2, callbacks=[callback], verbose=0)
    assert len(history.history["loss"]) == 2
    assert len(callback.predictions) == 2
    # Outside the context the model samples again: two predictions differ.
    assert not np.allclose(model.predict(images, verbose=0), model.predict(images, verbose=0))
    with bz.layers.posterior_mean(model):
        np.testing.assert_allclose(
            model.predict(images, verbose=0), model(images), rtol=1e-5, atol=1e-6
        )
