"""Every Bayesian layer under Keras' mixed precision policies.

Variables, posteriors and the KL stay float32; the linear operations run in
the compute dtype; outputs agree with float32 within the dtype's precision.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import bayes_zoo as bz

POLICIES = ("mixed_bfloat16", "mixed_float16")
# Relative precision of the compute dtype: 8 and 11 significant bits.
TOLERANCE = {"mixed_bfloat16": 3e-2, "mixed_float16": 4e-3}
ESTIMATORS = ("local_reparameterization", "reparameterization", "flipout")
# (layer class, input shape without the batch)
LAYERS = {
    "Dense": (bz.layers.DenseVariational, (6,)),
    "Conv1D": (bz.layers.Conv1DVariational, (9, 2)),
    "Conv2D": (bz.layers.Conv2DVariational, (7, 7, 2)),
    "Conv3D": (bz.layers.Conv3DVariational, (5, 5, 5, 2)),
    "Conv2DTranspose": (bz.layers.Conv2DTransposeVariational, (4, 4, 2)),
}


@pytest.fixture(autouse=True)
def float32_afterwards():
    yield
    keras.config.set_dtype_policy("float32")


def _layer(kind, estimator, policy):
    layer_class, _ = LAYERS[kind]
    size = {"units": 3} if kind == "Dense" else {"filters": 3, "kernel_size": 3}
    return layer_class(**size, estimator=estimator, kl_weight=0.01, dtype=policy)


def _inputs(kind, batch=4):
    shape = LAYERS[kind][1]
    return np.random.default_rng(0).uniform(-1, 1, size=(batch, *shape)).astype(np.float32)


def _built_pair(kind, estimator, policy):
    """A float32 layer and a `policy` layer with the same weights."""
    inputs = _inputs(kind)
    reference, mixed = _layer(kind, estimator, "float32"), _layer(kind, estimator, policy)
    reference.build(inputs.shape)
    mixed.build(inputs.shape)
    mixed.set_weights(reference.get_weights())
    return reference, mixed, inputs


def _assert_same_activation_distribution(reference, mixed, inputs, policy, copies=400):
    """The local reparameterization draws its Normal noise in the compute dtype
    (other bits than float32's), so compare the activations' distributions."""
    stacked = np.concatenate([inputs] * copies)

    def moments(layer):
        with bz.layers.noise.call_seed(5):
            draws = np.asarray(layer(stacked), np.float32)
        draws = draws.reshape(copies, *inputs.shape[:1], *draws.shape[1:])
        return draws.mean(axis=0), draws.std(axis=0)

    (mean, stddev), (expected_mean, expected_stddev) = moments(mixed), moments(reference)
    scale = float(np.max(np.abs(expected_mean)))
    np.testing.assert_allclose(
        mean, expected_mean,
        atol=TOLERANCE[policy] * scale + 5 * float(expected_stddev.max()) / np.sqrt(copies),
    )
    # Rounding the outputs to the compute dtype spreads them by up to one
    # step of that dtype at the output's magnitude.
    allowed = 0.25 * expected_stddev + TOLERANCE[policy] * np.abs(expected_mean) + 1e-3 * scale
    assert np.all(np.abs(stddev - expected_stddev) <= allowed)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_outputs_agree_with_float32_and_the_kl_stays_float32(kind, estimator, policy):
    reference, mixed, inputs = _built_pair(kind, estimator, policy)
    assert all(variable.dtype == "float32" for variable in mixed.weights)
    with bz.layers.noise.call_seed(3):
        expected = reference(inputs)
    with bz.layers.noise.call_seed(3):
        outputs = mixed(inputs)
    assert outputs.dtype == mixed.compute_dtype == policy.split("_")[1]
    scale = float(np.max(np.abs(expected)))
    if estimator == "local_reparameterization":
        _assert_same_activation_distribution(reference, mixed, inputs, policy)
    else:
        # The weight draws and the signs are float32 and integer draws: the
        # same seed gives the same noise in every dtype.
        np.testing.assert_allclose(
            np.asarray(outputs, np.float32), expected, atol=TOLERANCE[policy] * scale
        )
    (kl,) = mixed.losses
    assert kl.dtype == tf.float32
    np.testing.assert_allclose(kl, reference.losses[0], rtol=1e-6)
    with bz.layers.posterior_mean(mixed), bz.layers.posterior_mean(reference):
        np.testing.assert_allclose(
            np.asarray(mixed(inputs), np.float32), reference(inputs),
            atol=TOLERANCE[policy] * scale,
        )


@pytest.mark.parametrize("policy", POLICIES)
def test_local_reparameterization_stddev_is_finite_where_the_variance_vanishes(policy):
    # Zero inputs and no bias: the variance path is exactly zero.
    layer = bz.layers.Conv2DLocalReparameterization(2, 3, use_bias=False, dtype=policy)
    outputs = layer(np.zeros((2, 5, 5, 1), np.float32))
    assert np.all(np.isfinite(np.asarray(outputs, np.float32)))


@pytest.mark.parametrize("policy", POLICIES)
def test_mc_dropout_keeps_the_compute_dtype_and_its_rate(policy):
    layer = bz.layers.MCDropout(0.5, dtype=policy)
    outputs = np.asarray(layer(np.ones((64, 64), np.float32)), np.float32)
    assert layer.compute_dtype == policy.split("_")[1]
    assert set(np.unique(outputs)) <= {0.0, 2.0}
    assert abs(np.mean(outputs == 0.0) - 0.5) < 0.03


def _lenet(method, policy, **kwargs):
    with bz.precision.policy_scope(policy):
        return bz.architectures.lenet5(
            method=method, input_shape=(16, 16, 1), num_classes=3, num_train_examples=64,
            seed=0, **kwargs,
        )


# float16, whose fit runs through Keras' loss-scale optimizer; bfloat16 trains
# in test_a_bfloat16_trained_model_matches_float32.
@pytest.mark.parametrize("policy", ("float16",))
def test_fit_with_k_samples_predict_save_and_export(tmp_path, policy):
    model = _lenet("lrt", policy, train_samples=2)
    images = np.random.default_rng(1).uniform(size=(16, 16, 16, 1)).astype(np.float32)
    labels = np.arange(16) % 3
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(images, labels, batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    result = bz.predict_with_uncertainty(model, images, num_samples=3, seed=0)
    assert result.probabilities.dtype == np.float32
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[1].compute_dtype == policy
    for original, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(original.numpy(), restored.numpy())
    served = tf.saved_model.load(bz.export.saved_model(loaded, str(tmp_path / "1"),
                                                       num_samples=2))
    outputs = served.signatures["serving_default"](images=tf.constant(images))
    assert outputs["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)


def _digits_accuracy(policy, epochs=15):
    """Test accuracy of the demo card's LeNet-5 (16x16 digits) trained under `policy`."""
    keras.utils.set_random_seed(0)
    card = bz.zoo.card("demo_lrt_digits")
    splits = bz.data.load_splits("digits", batch_size=64, image_size=(16, 16), seed=0)
    with bz.precision.policy_scope(policy):
        model = card.build_model(
            num_train_examples=splits.num_train_examples, input_shape=(16, 16, 1),
            num_classes=10, seed=0,
        )
    model.compile(keras.optimizers.Adam(card.training.learning_rate),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(splits.train, epochs=epochs, verbose=0)
    images, labels = zip(*[(np.asarray(x), np.asarray(y)) for x, y in splits.test])
    result = bz.predict_with_uncertainty(model, np.concatenate(images), num_samples=8, seed=0)
    return float(np.mean(result.predicted_class == np.concatenate(labels)))


@pytest.mark.skipif(
    not bz.precision.cpu_has_bf16(),
    reason="this CPU has no bf16 units: bfloat16 training would be emulated, which "
           "bz.precision never chooses (the layers' bf16 outputs are still tested above)",
)
def test_a_bfloat16_trained_model_matches_float32():
    float32 = _digits_accuracy("float32")
    bfloat16 = _digits_accuracy("bfloat16")
    assert float32 > 0.85
    assert abs(bfloat16 - float32) <= 0.01, (float32, bfloat16)


def test_auto_precision_follows_the_hardware(tmp_path):
    assert bz.precision.auto_precision(flags={"avx512f", "amx_bf16"}, gpu_capabilities=[]) \
        == "bfloat16"
    assert bz.precision.auto_precision(flags={"avx512_bf16"}, gpu_capabilities=[]) == "bfloat16"
    assert bz.precision.auto_precision(flags={"avx2"}, gpu_capabilities=[]) == "float32"
    assert bz.precision.auto_precision(flags=set(), gpu_capabilities=[(9, 0)]) == "bfloat16"
    assert bz.precision.auto_precision(flags=set(), gpu_capabilities=[(7, 5)]) == "float16"
    assert bz.precision.auto_precision(flags=set(), gpu_capabilities=[(6, 1)]) == "float32"
    with pytest.raises(ValueError, match="emulated"):
        bz.precision.resolve("bfloat16", flags={"avx2"}, gpu_capabilities=[])
    assert bz.precision.resolve("float16", flags=set(), gpu_capabilities=[]) == "float16"
    with pytest.raises(ValueError, match="Unknown precision"):
        bz.precision.resolve("fp8")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags : fpu avx512f avx512_bf16\n")
    assert bz.precision.cpu_flags(str(cpuinfo)) == {"fpu", "avx512f", "avx512_bf16"}
    assert bz.precision.cpu_flags(os.path.join(str(tmp_path), "missing")) == set()
