"""Reliability at the edges: KL overflow, corrupt .keras files, convolutions too big for their inputs."""

import os
import shutil
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import bayes_zoo as bz
from bayes_zoo import cli
from bayes_zoo import posteriors
from bayes_zoo import zoo

REPOSITORY_MODELS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models")
CORRUPT = "exists but is not a readable .keras archive"


# ---------------------------------------------------------------------------
# KL and gradients at extreme posterior parameters.


def _kl_and_gradients(posterior, variable, value):
    """A tiny LRT conv with one posterior variable set to `value`: its KL, output and gradients."""
    layer = bz.layers.Conv2DLocalReparameterization(2, 2, posterior=posterior, seed=0)
    inputs = np.ones((1, 3, 3, 1), "float32")
    layer.build(inputs.shape)
    for variables in (layer.kernel_posterior_variables, layer.bias_posterior_variables):
        variables["loc"].assign(np.full(variables["loc"].shape, 0.1, "float32"))
        variables[variable].assign(np.full(variables[variable].shape, value, "float32"))
    with tf.GradientTape() as tape:
        outputs = layer(inputs)
        loss = layer.kl_divergence() + tf.reduce_sum(outputs)
    gradients = tape.gradient(loss, layer.trainable_variables)
    return float(layer.kl_divergence()), outputs.numpy(), gradients


@pytest.mark.parametrize("log_alpha", [80.0, 89.0, 200.0])
def test_multiplicative_posterior_stays_finite_at_huge_log_alpha(log_alpha):
    kl, outputs, gradients = _kl_and_gradients(
        posteriors.MultiplicativeNormal(), "log_alpha", log_alpha)
    assert np.isfinite(kl)
    assert np.all(np.isfinite(outputs))
    for gradient in gradients:
        assert np.all(np.isfinite(gradient.numpy()))
    # Above the documented bound, log_alpha acts as the bound.
    at_bound, _, _ = _kl_and_gradients(
        posteriors.MultiplicativeNormal(), "log_alpha", posteriors.MAX_LOG_ALPHA)
    np.testing.assert_allclose(kl, at_bound, rtol=1e-6)


@pytest.mark.parametrize("rho", [-100.0, -200.0])
def test_mean_field_posterior_stays_finite_where_softplus_underflows(rho):
    kl, outputs, gradients = _kl_and_gradients(posteriors.MeanFieldNormal(), "rho", rho)
    assert np.isfinite(kl)
    assert np.all(np.isfinite(outputs))
    for gradient in gradients:
        assert np.all(np.isfinite(gradient.numpy()))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 9.0])
def test_log_alpha_init_must_be_finite_and_within_the_bound(value):
    with pytest.raises(ValueError, match="log_alpha_init"):
        posteriors.MultiplicativeNormal(log_alpha_init=value)


def test_moped_refuses_a_relative_stddev_beyond_the_log_alpha_bound():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="relative_stddev"):
        bz.layers.bayesian_from_pretrained(
            model, relative_stddev=100.0, posterior=posteriors.MultiplicativeNormal())


# ---------------------------------------------------------------------------
# A corrupt .keras file is reported as corrupt, not as missing.


@pytest.fixture(scope="module")
def small_keras_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("small") / "model.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(path)
    return path.read_bytes()


def _damaged_member(data, tmp_path):
    """`data` with bytes in the middle of its config.json flipped (the zip directory intact)."""
    source = tmp_path / "source.keras"
    source.write_bytes(data)
    with zipfile.ZipFile(source) as archive:
        info = archive.getinfo("config.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    damaged = bytearray(data)
    for index in range(start + 4, start + 24):
        damaged[index] ^= 0xFF
    return bytes(damaged)


def _without_config(data, tmp_path):
    path = tmp_path / "stray.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not a model")
    return path.read_bytes()


CORRUPTIONS = {
    "garbage": lambda data, tmp_path: b"this is not a keras file\n" * 20,
    "truncated": lambda data, tmp_path: data[: len(data) // 2],
    "damaged_member": _damaged_member,
    "zip_without_config": _without_config,
}


@pytest.fixture
def zoo_home(tmp_path):
    (tmp_path / "models").mkdir()
    shutil.copy(os.path.join(REPOSITORY_MODELS, "demo_lrt_digits.toml"), tmp_path / "models")
    return tmp_path


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_zoo_load_says_a_corrupt_model_file_is_corrupt(zoo_home, small_keras_bytes,
                                                       corruption):
    path = zoo.model_path("demo_lrt_digits", root=zoo_home)
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as file:
        file.write(CORRUPTIONS[corruption](small_keras_bytes, zoo_home))
    with pytest.raises(ValueError) as error:
        zoo.load("demo_lrt_digits", root=zoo_home)
    message = str(error.value)
    assert CORRUPT in message and path in message
    assert "File not found" not in message
    assert "`bayes-zoo train demo_lrt_digits --output " in message
    assert f"git checkout -- {path}" in message


def test_load_file_still_loads_a_good_file_and_reports_a_missing_one(tmp_path,
                                                                      small_keras_bytes):
    path = tmp_path / "good.keras"
    path.write_bytes(small_keras_bytes)
    assert zoo.load_file(path, compile=False).output_shape == (None, 2)
    with pytest.raises(FileNotFoundError, match="No model file"):
        zoo.load_file(tmp_path / "missing.keras")


@pytest.mark.parametrize("command", ["evaluate", "export"])
@pytest.mark.parametrize("corruption", ["garbage", "truncated"])
def test_cli_says_a_corrupt_model_file_is_corrupt(capsys, tmp_path, small_keras_bytes,
                                                  command, corruption):
    path = tmp_path / "model.keras"
    path.write_bytes(CORRUPTIONS[corruption](small_keras_bytes, tmp_path))
    status = cli.main([command, str(path), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == cli.EXIT_ERROR
    assert len(err) == 1, err
    assert err[0].startswith(f"bayes-zoo {command}: error:")
    assert CORRUPT in err[0] and str(path) in err[0] and "bayes-zoo train" in err[0]


def test_cli_names_the_cards_train_command_for_its_corrupt_model(capsys, zoo_home,
                                                                monkeypatch):
    monkeypatch.setenv(zoo.HOME_VARIABLE, str(zoo_home))
    path = zoo.model_path("demo_lrt_digits")
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as file:
        file.write(b"\0" * 100)
    assert cli.main(["evaluate", "demo_lrt_digits"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert CORRUPT in err and "`bayes-zoo train demo_lrt_digits`" in err


# ---------------------------------------------------------------------------
# A convolution whose kernel is larger than its valid-padded input.


CONVOLUTIONS = [
    (bz.layers.Conv1DLocalReparameterization, (3,)),
    (bz.layers.Conv2DLocalReparameterization, (3, 3)),
    (bz.layers.Conv2DFlipout, (3, 3)),
    (bz.layers.Conv2DReparameterization, (3, 3)),
    (bz.layers.Conv3DLocalReparameterization, (3, 3, 3)),
]


@pytest.mark.parametrize("layer_class, spatial", CONVOLUTIONS)
def test_kernel_larger_than_a_valid_input_is_refused_in_build(layer_class, spatial):
    inputs = np.ones((1,) + spatial + (1,), "float32")
    with pytest.raises(ValueError) as error:
        layer_class(2, 5)(inputs)
    for fragment in ("input size 3", "kernel size 5", "dilation rate 1", "padding 'valid'",
                     "output size of -1", "padding='same'"):
        assert fragment in str(error.value), (fragment, str(error.value))
    # "same" padding fits any kernel, and unknown sizes are left to the call.
    assert layer_class(2, 5, padding="same")(inputs).shape == (1,) + spatial + (2,)
    symbolic = layer_class(2, 5)(keras.Input((None,) * len(spatial) + (1,)))
    assert symbolic.shape == (None,) + (None,) * len(spatial) + (2,)


def test_dilation_counts_in_the_effective_kernel_size():
    layer = bz.layers.Conv2DLocalReparameterization(2, 3, dilation_rate=2)
    with pytest.raises(ValueError, match="effective kernel size 5"):
        layer(keras.Input((4, 9, 1)))
    assert bz.layers.Conv2DLocalReparameterization(2, 3, dilation_rate=2)(
        keras.Input((5, 5, 1))).shape == (None, 1, 1, 2)
    # A transposed convolution enlarges its input: never refused.
    assert bz.layers.Conv2DTransposeLocalReparameterization(2, 5)(
        keras.Input((3, 3, 1))).shape == (None, 7, 7, 2)
