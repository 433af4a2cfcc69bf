"""A model-level KL weight (bz.layers.set_kl_weight) and the warning at the start of fit."""

import warnings

import keras
import numpy as np
import pytest

import bayes_zoo as bz


def _toy(model_class=bz.training.BayesianModel):
    # README's hand-written layers, with their default kl_weight=1.0.
    inputs = keras.Input((8, 8, 1))
    x = bz.layers.Conv2DLocalReparameterization(8, 3, prior=bz.priors.Normal(0.0, 0.1))(inputs)
    x = keras.layers.Flatten()(x)
    logits = bz.layers.DenseLocalReparameterization(3)(x)
    model = model_class(inputs, logits)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _data(n=32):
    rng = np.random.default_rng(0)
    return rng.uniform(size=(n, 8, 8, 1)).astype("float32"), rng.integers(0, 3, n)


def _dominant_kl_warnings(record):
    return [w for w in record if "set_kl_weight" in str(w.message)]


def test_set_kl_weight_sets_every_layer_built_or_not():
    model = _toy()
    assert bz.layers.set_kl_weight(model, 1 / 32) == 2
    for layer in bz.layers.kl_weighted_layers(model):
        assert layer.kl_weight.numpy() == pytest.approx(1 / 32)
        assert layer.initial_kl_weight == pytest.approx(1 / 32)
    unbuilt = keras.Sequential([bz.layers.DenseFlipout(4), bz.layers.DenseFlipout(2)])
    bz.layers.set_kl_weight(unbuilt, 0.5)
    unbuilt(np.zeros((1, 3), "float32"))
    assert [float(layer.kl_weight.numpy()) for layer in unbuilt.layers] == [0.5, 0.5]


@pytest.mark.parametrize("weight", [-1.0, float("inf"), float("nan"), True, "0.1"])
def test_set_kl_weight_rejects_bad_weights(weight):
    with pytest.raises(ValueError, match="kl_weight"):
        bz.layers.set_kl_weight(_toy(), weight)


def test_set_kl_weight_needs_a_weighted_layer():
    model = keras.Sequential([keras.Input((3,)), bz.tfp_layers.DenseFlipout(2)])
    with pytest.raises(ValueError, match="divergence_fn"):
        bz.layers.set_kl_weight(model, 0.1)


def test_fit_warns_once_when_the_kl_dwarfs_the_data_term():
    x, y = _data()
    model = _toy()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    found = _dominant_kl_warnings(record)
    assert len(found) == 1
    assert "1 / num_train_examples" in str(found[0].message)
    bz.layers.set_kl_weight(model, 1 / len(x))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert _dominant_kl_warnings(record) == []


def test_the_check_works_on_a_plain_keras_model():
    x, y = _data()
    model = _toy(keras.Model)
    check = bz.callbacks.WarnOnDominantKL()
    with pytest.warns(UserWarning, match="set_kl_weight"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[check])
    assert check.warned
    with pytest.raises(ValueError, match="ratio"):
        bz.callbacks.WarnOnDominantKL(ratio=1.0)
