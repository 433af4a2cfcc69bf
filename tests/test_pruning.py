"""Pruning criteria, parameter counts, and a pruned model's life afterwards."""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

import bayes_zoo as bz
from bayes_zoo import pruning

NUM_TRAIN = 1437


def _set_random_posterior(model, rng):
    for layer in pruning._variational_layers(model):
        for variables in (layer.kernel_posterior_variables, layer.bias_posterior_variables):
            shape = variables["loc"].shape
            variables["loc"].assign(rng.normal(0.0, 0.3, shape).astype("float32"))
            if "rho" in variables:
                variables["rho"].assign(rng.uniform(-6.0, -1.0, shape).astype("float32"))
            else:
                variables["log_alpha"].assign(rng.uniform(-2.0, 6.0, shape).astype("float32"))


def _mlp(posterior=None, kl_weight=1.0 / NUM_TRAIN, hidden=32):
    """Flatten -> variational Dense(hidden, relu) -> variational Dense(10)."""
    prior = bz.priors.Normal(0.0, 1.0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    x = bz.layers.DenseLocalReparameterization(
        hidden, activation="relu", prior=prior, posterior=posterior,
        kl_weight=kl_weight, name="hidden",
    )(x)
    outputs = bz.layers.DenseLocalReparameterization(
        10, prior=prior, posterior=posterior, kl_weight=kl_weight, name="logits"
    )(x)
    return keras.Model(inputs, outputs)


def _random_mlp(posterior=None, seed=0):
    model = _mlp(posterior)
    _set_random_posterior(model, np.random.default_rng(seed))
    return model


def _compile(model):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    images = (data.images / 16.0).astype("float32")[..., None]
    order = np.random.default_rng(0).permutation(len(images))
    train, test = order[:NUM_TRAIN], order[NUM_TRAIN:]
    return images[train], data.target[train], images[test], data.target[test]


@pytest.fixture(scope="module")
def trained(digits):
    """Weights of the MLP after a few seconds of training, and its recorder."""
    x_train, y_train, _, _ = digits
    keras.utils.set_random_seed(0)
    model = _compile(_mlp())
    recorder = bz.callbacks.PosteriorStddevRecorder(num_weights=3)
    model.fit(x_train, y_train, epochs=8, batch_size=64, verbose=0, callbacks=[recorder])
    return model.get_weights(), recorder, model


def _trained_mlp(trained):
    model = _mlp()
    model.set_weights(trained[0])
    return model


def _accuracy(model, digits):
    _, _, x_test, y_test = digits
    probabilities = bz.uncertainty.posterior_mean_predict(model, x_test)
    return float(np.mean(probabilities.argmax(axis=-1) == y_test))


# --- the criteria ---------------------------------------------------------


def _kernels(model):
    return {
        layer.name: {k: v.numpy() for k, v in layer.kernel_posterior_variables.items()}
        for layer in pruning._variational_layers(model)
    }


def _assert_pruned_exactly(model, before, expected_pruned, spread_key):
    after = _kernels(model)
    for layer in pruning._variational_layers(model):
        mask = expected_pruned[layer.name]
        np.testing.assert_array_equal(layer.kernel_mask.numpy(), (~mask).astype("float32"))
        posterior = layer.kernel_posterior()
        np.testing.assert_array_equal(posterior.loc.numpy() == 0.0, mask)
        np.testing.assert_array_equal(posterior.scale.numpy()[mask], 0.0)
        np.testing.assert_array_equal(after[layer.name]["loc"] == 0.0, mask)
        np.testing.assert_array_equal(after[layer.name]["loc"][~mask],
                                      before[layer.name]["loc"][~mask])
        # The spread variable is left alone: the mask prunes.
        np.testing.assert_array_equal(after[layer.name][spread_key],
                                      before[layer.name][spread_key])


def test_l1_threshold_prunes_the_small_means():
    model = _random_mlp()
    before = _kernels(model)
    biases = [layer.bias_posterior_variables["loc"].numpy() for layer in model.layers[2:]]
    model_out, report = pruning.prune_l1(model, threshold=0.2)
    assert model_out is model
    expected = {name: np.abs(k["loc"]) < 0.2 for name, k in before.items()}
    _assert_pruned_exactly(model, before, expected, "rho")
    for layer, bias in zip(model.layers[2:], biases):  # biases are not pruned
        np.testing.assert_array_equal(layer.bias_posterior_variables["loc"].numpy(), bias)
    assert [layer.name for layer in report.layers] == ["hidden", "logits"]
    for layer in report.layers:
        assert layer.num_weights == before[layer.name]["loc"].size
        assert layer.non_zero_before == before[layer.name]["loc"].size
        assert layer.non_zero_after == np.sum(~expected[layer.name])
    assert report.non_zero_before - report.non_zero_after == sum(m.sum() for m in expected.values())
    # |mu| ~ |N(0, 0.3)| is below 0.2 for about half of the weights.
    assert 0.4 < report.fraction_pruned < 0.6
    assert report.sparsity == pytest.approx(report.fraction_pruned)
    assert "|mu| < 0.2" in str(report) and "hidden" in str(report)


def test_fraction_prunes_that_share_of_every_layer_smallest_first():
    model = _random_mlp()
    before = _kernels(model)
    _, report = pruning.prune_l1(model, fraction=0.3)
    for layer in report.layers:
        loc = before[layer.name]["loc"]
        num_pruned = round(0.3 * loc.size)
        assert layer.non_zero_before - layer.non_zero_after == num_pruned
        after = _kernels(model)[layer.name]["loc"]
        assert np.abs(loc[after == 0]).max() <= np.abs(loc[after != 0]).min()


def test_signal_to_noise_criterion():
    model = _random_mlp()
    before = _kernels(model)
    pruning.prune_signal_to_noise(model, threshold=20.0)
    expected = {
        name: np.abs(k["loc"]) / np.log1p(np.exp(k["rho"])) < 20.0 for name, k in before.items()
    }
    assert 0.1 < np.mean(np.concatenate([m.ravel() for m in expected.values()])) < 0.9
    _assert_pruned_exactly(model, before, expected, "rho")


def test_log_alpha_criterion_for_multiplicative_posteriors():
    model = _random_mlp(bz.posteriors.MultiplicativeNormal())
    before = _kernels(model)
    _, report = pruning.prune_log_alpha(model)  # log_alpha > 3
    expected = {name: k["log_alpha"] > 3.0 for name, k in before.items()}
    _assert_pruned_exactly(model, before, expected, "log_alpha")
    assert report.criterion == "log_alpha > 3"


def test_log_alpha_of_a_mean_field_posterior_is_signal_to_noise():
    # log(sigma^2 / mu^2) > 3  <=>  |mu| / sigma < exp(-1.5)
    by_log_alpha, by_ratio = _random_mlp(seed=3), _random_mlp(seed=3)
    for layer in pruning._variational_layers(by_log_alpha):  # a visible share
        rho = layer.kernel_posterior_variables["rho"]
        rho.assign(rho.numpy() + 4.0)
    by_ratio.set_weights(by_log_alpha.get_weights())
    _, report = pruning.prune_log_alpha(by_log_alpha, threshold=3.0)
    pruning.prune_signal_to_noise(by_ratio, threshold=np.exp(-1.5))
    assert report.fraction_pruned > 0.05
    for a, b in zip(by_log_alpha.get_weights(), by_ratio.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: pruning.prune_l1(m), "exactly one"),
        (lambda m: pruning.prune_l1(m, threshold=0.1, fraction=0.5), "exactly one"),
        (lambda m: pruning.prune_signal_to_noise(m, fraction=1.5), "fraction"),
        (lambda m: pruning.prune_log_alpha(m, threshold=3.0, fraction=0.2), "exactly one"),
        (lambda m: pruning.prune_l1(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]),
                                    threshold=0.1), "no variational layers"),
        (lambda m: pruning.prune_l1(keras.Sequential([bz.layers.DenseFlipout(2)]),
                                    threshold=0.1), "not built"),
    ],
)
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(_random_mlp())


def test_count_parameters():
    inputs = keras.Input((4,))
    x = bz.layers.DenseLocalReparameterization(3, name="bayesian")(inputs)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    counts = pruning.count_parameters(model)
    assert counts["variational_weights"] == 4 * 3 + 3
    assert counts["trainable"] == 2 * (4 * 3 + 3) + 3 * 2 + 2
    assert counts["deterministic_weights"] == 3 * 2 + 2
    assert counts["non_zero_means"] == 15 and counts["pruned"] == 0
    deterministic_non_zero = np.count_nonzero(model.layers[-1].kernel.numpy())  # bias is 0
    assert counts["non_zero_parameters"] == 2 * 15 + deterministic_non_zero
    pruning.prune_l1(model, fraction=0.5)  # 6 of the 12 kernel weights
    counts = pruning.count_parameters(model)
    assert counts["non_zero_means"] == 15 - 6 and counts["pruned"] == 6
    assert counts["non_zero_parameters"] == 2 * 9 + deterministic_non_zero


# --- a trained model, pruned ----------------------------------------------


def test_pruning_half_of_a_trained_model_keeps_its_accuracy(trained, digits):
    reference = _accuracy(_trained_mlp(trained), digits)
    assert reference > 0.8
    for prune in (pruning.prune_l1, pruning.prune_signal_to_noise):
        model, report = prune(_trained_mlp(trained), fraction=0.5)
        assert report.fraction_pruned == pytest.approx(0.5, abs=1e-3)
        assert _accuracy(model, digits) > reference - 0.05, prune.__name__
    # The measure can see damage: pruning 95% costs far more.
    model, _ = pruning.prune_l1(_trained_mlp(trained), fraction=0.95)
    assert _accuracy(model, digits) < reference - 0.15


def test_pruned_model_trains_saves_and_reloads(trained, digits, tmp_path):
    x_train, y_train, x_test, _ = digits
    model, report = pruning.prune_l1(_compile(_trained_mlp(trained)), fraction=0.5)
    masks = [layer.kernel_mask.numpy() for layer in pruning._variational_layers(model)]
    history = model.fit(x_train, y_train, epochs=1, batch_size=128, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # The masks hold: training moves no pruned weight.
    assert pruning.count_parameters(model)["pruned"] == report.num_weights - report.non_zero_after

    path = str(tmp_path / "pruned.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    for a, b in zip(model.get_weights(), reloaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        bz.uncertainty.posterior_mean_predict(reloaded, x_test),
        bz.uncertainty.posterior_mean_predict(model, x_test),
        rtol=1e-6,
    )
    # The reloaded model holds the masks and keeps them through training.
    for layer, mask in zip(pruning._variational_layers(reloaded), masks):
        assert layer.get_config()["has_kernel_mask"]
        np.testing.assert_array_equal(layer.kernel_mask.numpy(), mask)
    _compile(reloaded).fit(x_train, y_train, epochs=1, batch_size=128, verbose=0)
    assert pruning.count_parameters(reloaded)["pruned"] == report.num_weights - report.non_zero_after


def test_log_alpha_pruned_multiplicative_model_trains(digits):
    x_train, y_train, _, _ = digits
    model = _compile(_random_mlp(bz.posteriors.MultiplicativeNormal()))
    pruning.prune_log_alpha(model)
    history = model.fit(x_train[:256], y_train[:256], epochs=1, batch_size=128, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_posterior_stddev_recorder_follows_the_trained_weights(trained, tmp_path):
    _, recorder, model = trained
    assert len(recorder.history) == 3 and list(recorder.means) == list(recorder.history)
    layer = model.get_layer("hidden")  # the first variational layer
    variables = layer.kernel_posterior_variables
    stddev = np.log1p(np.exp(variables["rho"].numpy()))
    for name, values in recorder.history.items():
        assert name.startswith("hidden kernel[")
        index = tuple(int(i) for i in name[len("hidden kernel["):-1].split(","))
        assert len(values) == 8 and len(recorder.means[name]) == 8  # one per epoch
        assert values[-1] == pytest.approx(stddev[index], rel=1e-5)
        assert recorder.means[name][-1] == pytest.approx(variables["loc"].numpy()[index], rel=1e-5)
        assert values[0] != values[-1]
    plots = pytest.importorskip("bayes_zoo.plots")
    path = plots.posterior_stddev_over_epochs(
        recorder.history, str(tmp_path / "stddev.png"), means=recorder.means
    )
    assert (tmp_path / "stddev.png").stat().st_size > 0 and path.endswith(".png")


def test_posterior_stddev_recorder_takes_named_weights(trained):
    model = trained[2]
    recorder = bz.callbacks.PosteriorStddevRecorder(
        weights=[("logits", (3, 7)), ("hidden", (0, 0))]
    )
    recorder.set_model(model)
    recorder.on_train_begin()
    recorder.on_epoch_end(0)
    assert list(recorder.history) == ["logits kernel[3,7]", "hidden kernel[0,0]"]
    outside = bz.callbacks.PosteriorStddevRecorder(weights=[("logits", (32, 0))])
    outside.set_model(model)
    with pytest.raises(ValueError, match="outside the kernel"):
        outside.on_train_begin()
    with pytest.raises(ValueError, match="num_weights"):
        bz.callbacks.PosteriorStddevRecorder(num_weights=0)


@pytest.mark.parametrize("estimator", ["reparameterization", "local_reparameterization",
                                       "flipout"])
def test_pruned_weights_leave_the_kl_and_get_no_gradient(estimator):
    import tensorflow as tf
    import tensorflow_probability as tfp

    layer = bz.layers.DenseVariational(6, estimator=estimator, kl_weight=1.0, seed=0)
    x = np.random.default_rng(0).normal(size=(16, 5)).astype("float32")
    layer(x)
    _set_random_posterior(keras.Sequential([keras.Input((5,)), layer]),
                          np.random.default_rng(1))
    variables = layer.kernel_posterior_variables
    raw = tfp.distributions.kl_divergence(layer.posterior.distribution(variables),
                                          layer.kernel_prior()).numpy()
    kept = np.random.default_rng(2).random(raw.shape) < 0.5
    bias_kl = float(layer.kl_divergence()) - float(raw.sum())
    layer.set_kernel_mask(kept)
    # Exactly the kept weights' KL (and the bias's): nothing for a pruned weight.
    np.testing.assert_allclose(float(layer.kl_divergence()), raw[kept].sum() + bias_kl,
                               rtol=1e-5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2) + layer.kl_divergence()
    gradients = tape.gradient(loss, [variables["loc"], variables["rho"]])
    for gradient in gradients:
        assert np.all(gradient.numpy()[~kept] == 0.0) and np.any(gradient.numpy()[kept] != 0)
    # A pruned weight is zero in every draw: the outputs equal those of the
    # posterior with the pruned means zeroed and no spread there.
    with bz.layers.posterior_mean(layer):
        mean_output = layer(x).numpy()
    loc = variables["loc"].numpy() * kept
    np.testing.assert_allclose(mean_output, x @ loc + variables_bias(layer), rtol=1e-5,
                               atol=1e-6)


def variables_bias(layer):
    return layer.bias_posterior_variables["loc"].numpy()


def test_a_kernel_mask_needs_the_kernels_shape_and_a_built_layer():
    layer = bz.layers.DenseLocalReparameterization(3)
    with pytest.raises(ValueError, match="not built"):
        layer.set_kernel_mask(np.ones((4, 3)))
    layer(np.zeros((1, 4), "float32"))
    with pytest.raises(ValueError, match=r"kernel's shape \(4, 3\)"):
        layer.set_kernel_mask(np.ones((3, 4)))
    tfp_style = bz.tfp_layers.DenseReparameterization(3)
    tfp_style(np.zeros((1, 4), "float32"))
    with pytest.raises(ValueError, match="tfp.layers convention"):
        tfp_style.set_kernel_mask(np.ones((4, 3)))


def test_pruning_twice_only_prunes_more():
    model = _random_mlp()
    _, first = pruning.prune_l1(model, fraction=0.3)
    masks = [layer.kernel_mask.numpy() for layer in pruning._variational_layers(model)]
    _, second = pruning.prune_l1(model, fraction=0.5)
    for layer, mask in zip(pruning._variational_layers(model), masks):
        assert np.all(layer.kernel_mask.numpy() <= mask)
    # Already pruned weights count within the fraction: 50% in all, not 30% + 50%.
    assert first.fraction_pruned == pytest.approx(0.3, abs=2e-3)
    assert second.sparsity == pytest.approx(0.5, abs=2e-3)
