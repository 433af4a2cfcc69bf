"""Monte Carlo prediction: the decompositions, the draws, chunking, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import bayes_zoo as bz
from bayes_zoo import uncertainty

INPUT_SHAPE = (6, 6, 1)
NUM_CLASSES = 4
METHODS = ("lrt", "bbb", "flipout", "mc_dropout")
ESTIMATORS = {
    "lrt": "local_reparameterization",
    "bbb": "reparameterization",
    "flipout": "flipout",
}


def _visible_posterior(rho=-2.0):
    # sigma = softplus(-2) ~ 0.13: draws that differ clearly.
    return bz.posteriors.MeanFieldNormal(
        loc_initializer=keras.initializers.RandomNormal(0.0, 0.5, seed=1),
        rho_initializer=keras.initializers.Constant(rho),
    )


def _model(method, seed=0):
    """A tiny conv + dense classifier of the given method, built by hand."""
    inputs = keras.Input(INPUT_SHAPE)
    if method == "frequentist" or method == "mc_dropout":
        x = keras.layers.Conv2D(3, 3, activation="relu")(inputs)
        if method == "mc_dropout":
            x = bz.layers.MCSpatialDropout2D(0.3, seed=seed)(x)
        x = keras.layers.Flatten()(x)
        if method == "mc_dropout":
            x = bz.layers.MCDropout(0.5, seed=seed + 1)(x)
        outputs = keras.layers.Dense(NUM_CLASSES)(x)
    else:
        estimator = ESTIMATORS[method]
        x = bz.layers.Conv2DVariational(
            3, 3, activation="relu", estimator=estimator,
            posterior=_visible_posterior(), seed=seed,
        )(inputs)
        x = keras.layers.Flatten()(x)
        outputs = bz.layers.DenseVariational(
            NUM_CLASSES, estimator=estimator, posterior=_visible_posterior(), seed=seed + 1
        )(x)
    return keras.Model(inputs, outputs)


def _images(n, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n,) + INPUT_SHAPE).astype("float32")


# --- the decomposition ----------------------------------------------------


def test_decompose_matches_numpy():
    rng = np.random.default_rng(0)
    samples = rng.dirichlet(np.ones(5) * 0.7, size=(7, 3)).astype("float64")  # [T, N, C]
    parts = {k: np.asarray(v) for k, v in uncertainty.decompose(samples).items()}

    mean = samples.mean(axis=0)
    np.testing.assert_allclose(parts["probabilities"], mean)
    np.testing.assert_array_equal(parts["predicted_class"], mean.argmax(axis=-1))
    entropy = lambda p: -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=-1)  # noqa: E731
    np.testing.assert_allclose(parts["predictive_entropy"], entropy(mean))
    np.testing.assert_allclose(parts["expected_entropy"], entropy(samples).mean(axis=0))
    for n in range(samples.shape[1]):
        p = samples[:, n, :]
        # Eq. 14 of Shridhar et al., as full C x C matrices.
        aleatoric = np.mean([np.diag(pt) - np.outer(pt, pt) for pt in p], axis=0)
        epistemic = np.mean([np.outer(pt - mean[n], pt - mean[n]) for pt in p], axis=0)
        np.testing.assert_allclose(parts["aleatoric_per_class"][n], np.diag(aleatoric))
        np.testing.assert_allclose(parts["epistemic_per_class"][n], np.diag(epistemic))
        np.testing.assert_allclose(parts["aleatoric"][n], np.trace(aleatoric))
        np.testing.assert_allclose(parts["epistemic"][n], np.trace(epistemic))
        # Their sum is the predictive variance E[yy^T] - E[y]E[y]^T (eq. 13).
        np.testing.assert_allclose(
            aleatoric + epistemic, np.diag(mean[n]) - np.outer(mean[n], mean[n]), atol=1e-12
        )


def test_predictive_entropy_is_expected_entropy_plus_mutual_information():
    result = bz.predict_with_uncertainty(_model("lrt"), _images(8), num_samples=10)
    np.testing.assert_allclose(
        result.predictive_entropy,
        result.expected_entropy + result.mutual_information,
        atol=1e-6,
    )
    assert np.all(result.mutual_information > -1e-6)
    assert np.all(result.mutual_information > 1e-6)  # a sampling model is unsure
    np.testing.assert_allclose(
        result.aleatoric + result.epistemic,
        np.sum(result.probabilities * (1.0 - result.probabilities), axis=-1),
        atol=1e-6,
    )


def test_decompose_handles_zero_probabilities():
    samples = np.array([[[1.0, 0.0]], [[0.0, 1.0]]], dtype="float32")
    parts = uncertainty.decompose(samples)
    np.testing.assert_allclose(parts["expected_entropy"], [0.0])
    np.testing.assert_allclose(parts["predictive_entropy"], [np.log(2.0)], rtol=1e-6)
    np.testing.assert_allclose(parts["epistemic"], [0.5])


# --- what the samples are -------------------------------------------------


def test_frequentist_model_has_no_epistemic_uncertainty():
    model = _model("frequentist")
    images = _images(6)
    result = bz.predict_with_uncertainty(model, images, num_samples=5, keep_samples=True)
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(images)))
    for draw in result.sample_probabilities:
        np.testing.assert_allclose(draw, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result.epistemic, 0.0, atol=1e-10)
    np.testing.assert_allclose(result.epistemic_per_class, 0.0, atol=1e-10)
    np.testing.assert_allclose(result.mutual_information, 0.0, atol=1e-6)
    assert np.all(result.aleatoric > 0)


@pytest.mark.parametrize("method", METHODS)
def test_samples_are_different_draws(method):
    model = _model(method)
    images = _images(5)
    result = bz.predict_with_uncertainty(model, images, num_samples=16, keep_samples=True)
    samples = result.sample_probabilities
    assert samples.shape == (16, 5, NUM_CLASSES)
    # No two draws of an example are equal.
    for n in range(5):
        distinct = np.unique(np.round(samples[:, n, 0], 7))
        assert distinct.size == 16, (method, n, samples[:, n, 0])
    assert np.all(result.epistemic > 0)


@pytest.mark.parametrize("method", METHODS)
def test_monte_carlo_error_shrinks_with_more_samples(method):
    model = _model(method)
    images = _images(4)

    def spread_of_mean(num_samples, repeats=12):
        means = [
            bz.predict_with_uncertainty(model, images, num_samples=num_samples).probabilities
            for _ in range(repeats)
        ]
        return np.var(np.stack(means), axis=0).mean()

    # The variance of a Monte Carlo mean falls as 1 / T: 16x from T=2 to 32.
    few, many = spread_of_mean(2), spread_of_mean(32)
    assert many < few / 4, (method, few, many)


def _log_ratio(samples):
    """log p_c - log p_0: the logit differences, linear in a linear model."""
    log_p = np.log(samples)
    return log_p[..., 1:] - log_p[..., :1]


@pytest.mark.parametrize("method, one_kernel_per_copy", [("bbb", True), ("lrt", False)])
def test_each_bbb_copy_sees_one_kernel(method, one_kernel_per_copy):
    inputs = keras.Input((2,))
    outputs = bz.layers.DenseVariational(
        3, estimator=ESTIMATORS[method], posterior=_visible_posterior()
    )(inputs)
    model = keras.Model(inputs, outputs)
    basis = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]], dtype="float32")
    samples = np.asarray(uncertainty.monte_carlo_probabilities(model, basis, 8))
    ratio = _log_ratio(samples.astype("float64"))  # [T, 4, C - 1]
    # With one kernel W_t and bias b_t per copy, f(e1 + e2) + f(0) = f(e1) + f(e2).
    additive = np.allclose(ratio[:, 2] + ratio[:, 3], ratio[:, 0] + ratio[:, 1], atol=1e-4)
    assert additive == one_kernel_per_copy
    assert np.std(ratio[:, 0, 0]) > 1e-2  # and the kernels differ across copies


@pytest.mark.parametrize("method", ["lrt", "bbb", "flipout"])
def test_vectorised_draws_match_a_loop_of_model_calls_in_distribution(method):
    model = _model(method)
    images = _images(2)
    vectorised = np.asarray(uncertainty.monte_carlo_probabilities(model, images, 400))
    call = tf.function(lambda x: tf.nn.softmax(model(x)))
    looped = np.stack([np.asarray(call(images)) for _ in range(400)])
    standard_error = np.sqrt(
        (vectorised.var(axis=0) + looped.var(axis=0)) / 400
    )
    np.testing.assert_array_less(
        np.abs(vectorised.mean(axis=0) - looped.mean(axis=0)), 5 * standard_error + 1e-6
    )
    # Standard deviations within 20% (the sampling error of a 400-draw stddev
    # is about 3.5%).
    np.testing.assert_allclose(vectorised.std(axis=0), looped.std(axis=0), rtol=0.2)


class BatchRecorder(keras.layers.Layer):
    """The identity, recording the batch sizes it is called on."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.batch_sizes = []

    def call(self, inputs):
        self.batch_sizes.append(inputs.shape[0])
        return inputs


def _tiled_call(model, images, num_copies, seed):
    with bz.layers.noise.call_seed(bz.layers.noise.as_seed(seed)):
        with bz.layers.stacked_weight_samples(model, num_copies):
            return model(keras.ops.tile(images, (num_copies, 1, 1, 1)), training=False)


@pytest.mark.parametrize("method", METHODS + ("frequentist",))
def test_draws_equal_the_model_on_the_tiled_batch(method):
    # The layers before the first draw run once on the untiled batch (and a
    # local reparameterization layer tiles its moments, not its input): the
    # same seed must still give exactly the model's draws on the tiled batch.
    model = _model(method)
    images = _images(3)
    samples = uncertainty.monte_carlo_probabilities(model, images, 4, seed=11)
    expected = tf.nn.softmax(_tiled_call(model, images, 4, seed=11))
    np.testing.assert_allclose(
        np.reshape(samples, (12, NUM_CLASSES)), expected, rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize("method", ["lrt", "mc_dropout"])
def test_layers_before_the_first_draw_see_the_untiled_batch(method):
    inputs = keras.Input(INPUT_SHAPE)
    recorder = BatchRecorder()
    x = recorder(keras.layers.Conv2D(2, 1)(inputs))
    if method == "lrt":
        x = bz.layers.Conv2DLocalReparameterization(3, 3, posterior=_visible_posterior())(x)
    else:
        x = bz.layers.MCDropout(0.5)(x)
    outputs = keras.layers.Dense(NUM_CLASSES)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    recorder.batch_sizes.clear()
    samples = np.asarray(uncertainty.monte_carlo_probabilities(model, _images(5), 6))
    assert recorder.batch_sizes == [5]
    assert samples.shape == (6, 5, NUM_CLASSES)
    assert np.std(samples[:, 0, 0]) > 1e-3  # the copies still differ


def test_a_model_with_a_branch_runs_on_the_tiled_batch():
    # A skip connection around the first draw: not a chain, so the whole
    # model sees the tiled batch (running its prefix once would not fit).
    inputs = keras.Input((4,))
    recorder = BatchRecorder()
    hidden = recorder(keras.layers.Dense(4)(inputs))
    drawn = bz.layers.DenseVariational(4, posterior=_visible_posterior())(hidden)
    outputs = keras.layers.Dense(NUM_CLASSES)(keras.layers.Add()([hidden, drawn]))
    model = keras.Model(inputs, outputs)
    assert uncertainty._layer_chain(model) is None
    recorder.batch_sizes.clear()
    images = tf.constant(np.random.default_rng(0).normal(size=(3, 4)).astype("float32"))
    outputs = np.asarray(uncertainty._call_on_copies(model, images, 5))
    assert recorder.batch_sizes == [15]
    assert outputs.shape == (15, NUM_CLASSES)
    samples = np.asarray(uncertainty.monte_carlo_probabilities(model, images, 5, seed=2))
    assert np.std(samples[:, 0, 0]) > 1e-3


@pytest.mark.parametrize("method", METHODS)
def test_posterior_mean_draws_equal_the_deterministic_call(method):
    model = _model(method)
    images = _images(5)
    with bz.layers.posterior_mean(model):
        expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(images)))
        samples = np.asarray(uncertainty.monte_carlo_probabilities(model, images, 3))
    for draw in samples:
        np.testing.assert_allclose(draw, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        uncertainty.posterior_mean_predict(model, images, batch_size=2), expected,
        rtol=1e-5, atol=1e-7,
    )
    # The switch is restored: sampling again outside the context.
    again = np.asarray(uncertainty.monte_carlo_probabilities(model, images, 3))
    assert not np.allclose(again[0], expected)


@pytest.mark.parametrize("method", ["lrt", "bbb"])
def test_chunking_changes_nothing_in_posterior_mean_mode(method):
    model = _model(method)
    images = _images(7)
    with bz.layers.posterior_mean(model):
        whole = bz.predict_with_uncertainty(model, images, num_samples=5, keep_samples=True)
        for batch_size, chunk_size in [(3, None), (128, 10), (4, 3), (2, 7)]:
            chunked = bz.predict_with_uncertainty(
                model, images, num_samples=5, batch_size=batch_size,
                chunk_size=chunk_size, keep_samples=True,
            )
            for name in ("probabilities", "sample_probabilities", "aleatoric"):
                np.testing.assert_allclose(
                    getattr(chunked, name), getattr(whole, name), rtol=1e-5, atol=1e-7
                )


@pytest.mark.parametrize("method", ["lrt", "bbb"])
def test_chunks_draw_fresh_noise(method):
    model = _model(method)
    result = bz.predict_with_uncertainty(
        model, _images(3), num_samples=9, chunk_size=6, keep_samples=True
    )  # 3 examples x 2 samples per call, a graph loop of 5 calls
    assert result.sample_probabilities.shape == (9, 3, NUM_CLASSES)
    assert np.unique(np.round(result.sample_probabilities[:, 0, 0], 7)).size == 9


def test_normalized_mode_is_softplus_over_its_sum():
    model = _model("frequentist")
    images = _images(3)
    logits = keras.ops.convert_to_numpy(model(images)).astype("float64")
    positive = np.log1p(np.exp(logits))
    result = bz.predict_with_uncertainty(model, images, num_samples=2, mode="normalized")
    np.testing.assert_allclose(
        result.probabilities, positive / positive.sum(axis=-1, keepdims=True), rtol=1e-5
    )


# --- inputs ---------------------------------------------------------------


def test_dataset_input_batched_or_not():
    model = _model("lrt")
    images = _images(10)
    labels = np.arange(10)
    with bz.layers.posterior_mean(model):
        expected = bz.predict_with_uncertainty(model, images, num_samples=2).probabilities
        datasets = {
            "images": tf.data.Dataset.from_tensor_slices(images),
            "pairs": tf.data.Dataset.from_tensor_slices((images, labels)),
            "batched pairs": tf.data.Dataset.from_tensor_slices((images, labels)).batch(4),
        }
        for name, dataset in datasets.items():
            result = bz.predict_with_uncertainty(model, dataset, num_samples=2, batch_size=3)
            np.testing.assert_allclose(result.probabilities, expected, rtol=1e-5, err_msg=name)
    # Integer pixels are cast, not rejected.
    counts = bz.predict_with_uncertainty(model, (images * 255).astype("uint8"), num_samples=2)
    assert counts.probabilities.shape == (10, NUM_CLASSES)


def test_dynamic_num_samples_in_a_graph():
    lrt, bbb = _model("lrt"), _model("bbb")
    spec = [tf.TensorSpec((None,) + INPUT_SHAPE), tf.TensorSpec((), tf.int32)]
    images = _images(3)

    @tf.function(input_signature=spec)
    def lrt_samples(x, num_samples):
        return uncertainty.monte_carlo_probabilities(lrt, x, num_samples)

    @tf.function(input_signature=spec)
    def bbb_samples(x, num_samples):
        return uncertainty.monte_carlo_probabilities(bbb, x, num_samples, samples_per_call=4)

    @tf.function(input_signature=spec)
    def bbb_samples_unchunked(x, num_samples):
        return uncertainty.monte_carlo_probabilities(bbb, x, num_samples)

    assert lrt_samples(images, tf.constant(7)).shape == (7, 3, NUM_CLASSES)
    assert lrt_samples(images[:1], tf.constant(2)).shape == (2, 1, NUM_CLASSES)
    assert bbb_samples(images, tf.constant(9)).shape == (9, 3, NUM_CLASSES)
    # A bbb layer needs the number of copies per call as a Python int.
    with pytest.raises(ValueError, match="Reparameterization"):
        bbb_samples_unchunked(images, tf.constant(9))


def _model_and_valid_images():
    return _model("lrt"), _images(2)


BAD_INPUTS = {
    "rank": (lambda x: x[0], {}, "rank 4"),
    "spatial shape": (lambda x: np.zeros((2, 5, 6, 1), "float32"), {}, "axis 1 has size 5"),
    "channels": (lambda x: np.zeros((2, 6, 6, 3), "float32"), {}, "axis 3 has size 3"),
    "strings": (lambda x: np.full((2, 6, 6, 1), "a"), {}, "dtype"),
    "booleans": (lambda x: x > 0.5, {}, "dtype"),
    "nan": (
        lambda x: np.where(np.arange(72).reshape(x.shape) == 40, np.nan, x),
        {},
        "NaN or inf.*index 1",
    ),
    "inf": (lambda x: np.where(x > 0.9, np.inf, x), {}, "NaN or inf"),
    "empty": (lambda x: x[:0], {}, "no examples"),
    "zero samples": (lambda x: x, {"num_samples": 0}, "num_samples"),
    "fractional samples": (lambda x: x, {"num_samples": 2.5}, "num_samples"),
    "mode": (lambda x: x, {"mode": "sigmoid"}, "mode"),
    "batch size": (lambda x: x, {"batch_size": 0}, "batch_size"),
    "chunk size": (lambda x: x, {"chunk_size": -1}, "chunk_size"),
    "dataset of dicts": (
        lambda x: tf.data.Dataset.from_tensor_slices({"image": x}), {}, "element_spec"
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_raises_value_error(case):
    model, images = _model_and_valid_images()
    make_input, kwargs, message = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=message):
        bz.predict_with_uncertainty(model, make_input(images), **kwargs)


def test_exported_names():
    assert bz.predict_with_uncertainty is uncertainty.predict_with_uncertainty
    assert bz.uncertainty is uncertainty
