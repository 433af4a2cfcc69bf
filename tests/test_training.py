"""BayesianModel: K weight samples per step, NLL and KL logs, MirroredStrategy."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import bayes_zoo as bz
from bayes_zoo import architectures
from bayes_zoo.training import BayesianModel

SMALL_SHAPE = (16, 16, 1)  # Gal's LeNet leaves 1x1x50 features on 16x16 images.
NUM_SAMPLES = 3


def _batch(size=4, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(size=(size,) + SMALL_SHAPE).astype("float32")
    return images, np.arange(size) % 10


def _compile(model, learning_rate=0.0, **kwargs):
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        **kwargs,
    )
    return model


def _weighted_kl(model):
    """Sum over the variational layers of kl_weight * KL(q || p), computed directly."""
    return sum(
        float(layer.kl_weight) * float(layer.kl_divergence())
        for layer in bz.layers.stochastic_layers(model)
        if isinstance(layer, bz.layers.BaseVariational)
    )


def _seed_states(model):
    return [layer.seed_generator.state for layer in bz.layers.stochastic_layers(model)]


@pytest.mark.parametrize("method", ["bbb", "lrt", "flipout", "mc_dropout"])
def test_k_samples_average_the_likelihood_and_count_the_kl_once(method):
    # A broad posterior, so that the K draws give clearly different NLLs, and
    # a KL of the size of the NLL, so that the float32 loss resolves both.
    posterior = bz.posteriors.MeanFieldNormal(rho_initializer=keras.initializers.Constant(-3.0))
    model = architectures.gal_lenet(
        method=method,
        input_shape=SMALL_SHAPE,
        num_train_examples=50000,
        posterior=posterior,
        train_samples=NUM_SAMPLES,
        seed=3,
    )
    _compile(model)  # learning rate 0: the weights stay those we check against
    images, labels = _batch()
    model.train_on_batch(images, labels)  # traces the graph step
    states = [state.numpy() for state in _seed_states(model)]
    logs = model.train_on_batch(images, labels, return_dict=True)

    # Replay the step's noise: same seed states, the K copies stacked by hand.
    for state, value in zip(_seed_states(model), states):
        state.assign(value)
    bz.layers.set_weight_samples(model, NUM_SAMPLES)
    logits = model(np.concatenate([images] * NUM_SAMPLES)).numpy()
    bz.layers.set_weight_samples(model, 1)
    per_sample = logits.reshape((NUM_SAMPLES, len(images), -1))
    nll = [
        float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, copy))
        for copy in per_sample
    ]
    kl = _weighted_kl(model)

    # The K copies were seen through different weights (or dropout masks).
    assert not np.allclose(per_sample[0], per_sample[1])
    # "nll" is the float32 loss minus the KL: exact to the loss's rounding.
    tolerance = 1e-5 * logs["loss"]
    assert logs["loss"] == pytest.approx(np.mean(nll) + kl, abs=tolerance)
    assert logs["nll"] == pytest.approx(np.mean(nll), abs=tolerance)
    assert logs["kl"] == pytest.approx(kl, rel=1e-5)
    # Neither a KL counted K times nor the first copy's NLL alone fits the tolerance.
    assert (NUM_SAMPLES - 1) * kl > 100 * tolerance or method == "mc_dropout"
    assert abs(nll[0] - np.mean(nll)) > 10 * tolerance


def test_one_sample_is_plain_keras():
    keras.utils.set_random_seed(5)
    model = architectures.gal_lenet(method="lrt", input_shape=SMALL_SHAPE, num_train_examples=20)
    inputs = keras.Input(SMALL_SHAPE)
    plain = keras.Model(inputs, model(inputs))  # same layers, plain keras.Model
    images, labels = _batch()
    _compile(model)
    _compile(plain)
    with bz.layers.posterior_mean(model):
        ours = model.train_on_batch(images, labels, return_dict=True)
        reference = plain.train_on_batch(images, labels, return_dict=True)
    assert ours["loss"] == pytest.approx(reference["loss"], rel=1e-6)


def test_training_ignores_weight_samples_left_for_prediction():
    model = architectures.gal_lenet(method="bbb", input_shape=SMALL_SHAPE)
    _compile(model, learning_rate=1e-3)
    # Left over from Monte Carlo prediction on 7 stacked copies; 4 examples
    # could not be split into 7 groups.
    bz.layers.set_weight_samples(model, 7)
    images, labels = _batch(size=4)
    assert np.isfinite(model.train_on_batch(images, labels, return_dict=True)["loss"])
    assert all(
        layer.weight_samples == 7
        for layer in bz.layers.stochastic_layers(model)
        if hasattr(layer, "weight_samples")
    )


def test_evaluate_and_predict_do_not_repeat_the_batch():
    model = architectures.gal_lenet(
        method="bbb", input_shape=SMALL_SHAPE, num_train_examples=20, train_samples=4
    )
    _compile(model)
    images, labels = _batch(size=6)
    assert model.predict(images, verbose=0).shape == (6, 10)
    with bz.layers.posterior_mean(model):
        logits = model(images).numpy()
        evaluated = model.evaluate(images, labels, verbose=0, return_dict=True)
    cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    expected_nll = float(cross_entropy(labels, logits))
    tolerance = 1e-5 * evaluated["loss"]
    assert evaluated["nll"] == pytest.approx(expected_nll, abs=tolerance)
    assert evaluated["loss"] == pytest.approx(expected_nll + _weighted_kl(model), abs=tolerance)


def test_fit_logs_loss_nll_kl_and_accuracy():
    model = architectures.gal_lenet(
        method="lrt", input_shape=SMALL_SHAPE, num_train_examples=20, train_samples=2
    )
    _compile(model, learning_rate=1e-3, metrics=["accuracy"])
    images, labels = _batch(size=8)
    history = model.fit(
        images, labels, batch_size=4, epochs=2, validation_data=(images, labels), verbose=0
    )
    for key in ("loss", "nll", "kl", "accuracy", "val_loss", "val_nll", "val_kl"):
        assert len(history.history[key]) == 2, key
    for prefix in ("", "val_"):
        for loss, nll, kl in zip(
            history.history[f"{prefix}loss"],
            history.history[f"{prefix}nll"],
            history.history[f"{prefix}kl"],
        ):
            assert loss == pytest.approx(nll + kl, rel=1e-5)
            assert kl > 0


def test_train_samples_is_validated_and_saved():
    with pytest.raises(ValueError, match="train_samples=0"):
        architectures.lenet5(train_samples=0)
    model = architectures.gal_lenet(input_shape=SMALL_SHAPE)
    with pytest.raises(ValueError, match="train_samples=2.5"):
        model.train_samples = 2.5
    model.train_samples = 5
    assert model.get_config()["train_samples"] == 5
    assert BayesianModel.from_config(model.get_config()).train_samples == 5


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf

    # Logical devices must exist before TensorFlow initialises.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    import numpy as np
    import bayes_zoo as bz
    from bayes_zoo import architectures

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(8, 16, 16, 1)).astype("float32")
    labels = np.arange(8) % 10

    def build():
        return architectures.gal_lenet(
            method="lrt", input_shape=(16, 16, 1), num_train_examples=2000, train_samples=2
        )

    reference = build()
    weights = reference.get_weights()
    kl = sum(
        float(layer.kl_weight) * float(layer.kl_divergence())
        for layer in bz.layers.stochastic_layers(reference)
    )
    results = {}
    strategies = {
        "one_device": tf.distribute.OneDeviceStrategy("/cpu:0"),
        "mirrored": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
    }
    for name, strategy in strategies.items():
        with strategy.scope():
            model = build()
            model.set_weights(weights)
            # Posterior means: the loss is a function of the weights and batch alone.
            bz.layers.set_posterior_mean(model, True)
            model.compile(
                optimizer=keras.optimizers.SGD(0.1),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
        # One batch per epoch: the epoch logs are those of single steps, and
        # the second step shows whether the first one's gradients agreed.
        history = model.fit(images, labels, batch_size=8, epochs=2, shuffle=False, verbose=0)
        results[name] = {
            "replicas": strategy.num_replicas_in_sync,
            "kl_direct": kl,
            **{key: values for key, values in history.history.items()},
        }
    print("RESULTS" + json.dumps(results))
    """
)


def test_mirrored_strategy_matches_one_device_and_counts_the_kl_once():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    completed = subprocess.run(
        [sys.executable, "-c", _MIRRORED_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULTS"))
    results = json.loads(line[len("RESULTS") :])
    one, mirrored = results["one_device"], results["mirrored"]
    assert mirrored["replicas"] == 2
    kl = one["kl_direct"]
    assert kl > one["nll"][0]  # a KL counted twice could not hide in the tolerance
    for run in (one, mirrored):
        assert run["kl"][0] == pytest.approx(kl, rel=1e-5)
        assert run["loss"][0] == pytest.approx(run["nll"][0] + kl, rel=1e-5)
    np.testing.assert_allclose(mirrored["loss"], one["loss"], rtol=1e-5)
    np.testing.assert_allclose(mirrored["kl"], one["kl"], rtol=1e-5)
    # "nll" is the float32 loss minus the KL: exact to the loss's rounding.
    np.testing.assert_allclose(mirrored["nll"], one["nll"], atol=1e-5 * max(one["loss"]))
    # The first step changed the weights (the second step's loss compares the updates).
    assert abs(one["loss"][1] - one["loss"][0]) > 1e-3
