"""The zoo's classification builders: every method builds and trains, shapes, counts, errors."""

import keras
import numpy as np
import pytest

import bayes_zoo as bz
from bayes_zoo import architectures
from bayes_zoo.training import BayesianModel

# The smallest input shape of each builder's test: the defaults, which are
# the papers' (AlexNet cannot go below 29x29).
INPUT_SHAPES = {
    "lenet5": (32, 32, 1),
    "alexnet": (32, 32, 1),
    "alexnet_half": (32, 32, 1),
    "three_conv_three_fc": (32, 32, 1),
    "gal_lenet": (28, 28, 1),
}

WEIGHT_LAYER_CLASSES = {
    "frequentist": (keras.layers.Conv2D, keras.layers.Dense),
    "mc_dropout": (keras.layers.Conv2D, keras.layers.Dense),
    "bbb": (bz.layers.Conv2DReparameterization, bz.layers.DenseReparameterization),
    "lrt": (
        bz.layers.Conv2DLocalReparameterization,
        bz.layers.DenseLocalReparameterization,
    ),
    "flipout": (bz.layers.Conv2DFlipout, bz.layers.DenseFlipout),
}


def _trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _conv_params(in_channels, filters, kernel):
    return filters * in_channels * kernel * kernel + filters


def _dense_params(inputs, units):
    return inputs * units + units


# Frequentist parameter counts written out layer by layer (1 input channel,
# 10 classes), from the papers' tables.
FREQUENTIST_COUNTS = {
    "lenet5": _conv_params(1, 6, 5)
    + _conv_params(6, 16, 5)
    + _dense_params(16 * 5 * 5, 120)
    + _dense_params(120, 84)
    + _dense_params(84, 10),
    "alexnet": _conv_params(1, 64, 11)
    + _conv_params(64, 192, 5)
    + _conv_params(192, 384, 3)
    + _conv_params(384, 256, 3)
    + _conv_params(256, 128, 3)
    + _dense_params(128, 10),
    "alexnet_half": _conv_params(1, 32, 11)
    + _conv_params(32, 96, 5)
    + _conv_params(96, 192, 3)
    + _conv_params(192, 128, 3)
    + _conv_params(128, 64, 3)
    + _dense_params(64, 10),
    "three_conv_three_fc": _conv_params(1, 32, 5)
    + _conv_params(32, 64, 5)
    + _conv_params(64, 128, 5)
    + _dense_params(128 * 2 * 2, 1000)
    + _dense_params(1000, 1000)
    + _dense_params(1000, 10),
    "gal_lenet": _conv_params(1, 20, 5)
    + _conv_params(20, 50, 5)
    + _dense_params(50 * 4 * 4, 500)
    + _dense_params(500, 10),
}


def _build(name, method, **kwargs):
    kwargs.setdefault("input_shape", INPUT_SHAPES[name])
    return architectures.get(name)(method=method, num_train_examples=1000, **kwargs)


@pytest.mark.parametrize("method", architectures.METHODS)
@pytest.mark.parametrize("name", architectures.CLASSIFIER_NAMES)
def test_every_builder_and_method_trains_one_step(name, method):
    model = _build(name, method, seed=0)
    assert isinstance(model, BayesianModel)
    conv_class, dense_class = WEIGHT_LAYER_CLASSES[method]
    assert type(model.get_layer("conv1")) is conv_class
    assert type(model.get_layer("logits")) is dense_class
    # Eager keeps this 25-case sweep fast; the graph path is tested in test_training.
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        run_eagerly=True,
    )
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(2,) + INPUT_SHAPES[name]).astype("float32")
    labels = np.array([3, 7])
    before = [w.numpy() for w in model.trainable_weights]
    logs = model.train_on_batch(images, labels, return_dict=True)
    assert np.isfinite(logs["loss"])
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    assert all(changed)
    assert model.predict(images, verbose=0).shape == (2, 10)


@pytest.mark.parametrize("name", architectures.CLASSIFIER_NAMES)
def test_mean_field_has_twice_the_frequentist_parameters(name):
    frequentist = _trainable_count(_build(name, "frequentist"))
    assert frequentist == FREQUENTIST_COUNTS[name]
    assert _trainable_count(_build(name, "mc_dropout")) == frequentist
    for method in architectures.VARIATIONAL_METHODS:
        assert _trainable_count(_build(name, method)) == 2 * frequentist


@pytest.mark.parametrize(
    "name, features",
    [
        ("lenet5", (5, 5, 16)),
        ("alexnet", (1, 1, 128)),
        ("alexnet_half", (1, 1, 64)),
        ("three_conv_three_fc", (2, 2, 128)),
        ("gal_lenet", (4, 4, 50)),
    ],
)
def test_feature_maps_before_the_classifier(name, features):
    model = _build(name, "frequentist")
    assert tuple(model.get_layer("flatten").input.shape[1:]) == features


def test_alexnet_pads_explicitly_and_strides():
    model = _build("alexnet", "lrt")
    assert model.get_layer("pad1").padding == ((5, 5), (5, 5))
    assert model.get_layer("conv1").padding == "valid"
    assert model.get_layer("conv1").strides == (4, 4)
    assert tuple(model.get_layer("conv1").output.shape[1:]) == (8, 8, 64)
    # Widths of the paper's Table 12, and halved in Table 5.
    widths = [model.get_layer(f"conv{i}").filters for i in range(1, 6)]
    assert widths == [64, 192, 384, 256, 128]
    half = _build("alexnet_half", "lrt")
    assert [half.get_layer(f"conv{i}").filters for i in range(1, 6)] == [32, 96, 192, 128, 64]


def test_variational_layers_get_kl_weight_prior_and_posterior():
    prior = bz.priors.Normal(0.0, 0.5)
    posterior = bz.posteriors.MultiplicativeNormal(log_alpha_init=-8.0)
    model = architectures.lenet5(
        method="flipout", num_train_examples=250, prior=prior, posterior=posterior
    )
    variational = [
        layer for layer in model.layers if isinstance(layer, bz.layers.BaseVariational)
    ]
    assert len(variational) == 5
    for layer in variational:
        assert float(layer.kl_weight) == pytest.approx(1 / 250)
        assert layer.prior.get_config() == prior.get_config()
        assert set(layer.kernel_posterior_variables) == {"loc", "log_alpha"}
    # Trainable parameters stay twice the frequentist ones with this posterior too.
    assert _trainable_count(model) == 2 * FREQUENTIST_COUNTS["lenet5"]


def test_activation_is_softplus_by_default_and_relu_on_request():
    softplus = architectures.lenet5(method="lrt")
    relu = architectures.lenet5(method="lrt", activation="relu")
    for name in ("conv1", "conv2", "fc1", "fc2"):
        assert softplus.get_layer(name).activation is keras.activations.softplus
        assert relu.get_layer(name).activation is keras.activations.relu
    assert softplus.get_layer("logits").activation is keras.activations.linear


def _layer_names(model):
    return [layer.name for layer in model.layers]


def test_mc_dropout_follows_every_hidden_layer_before_pooling():
    model = architectures.lenet5(method="mc_dropout", dropout_rate=0.3)
    names = _layer_names(model)
    dropouts = [layer for layer in model.layers if isinstance(layer, bz.layers.MCDropout)]
    assert [layer.name for layer in dropouts] == [
        "dropout_conv1",
        "dropout_conv2",
        "dropout_fc1",
        "dropout_fc2",
    ]
    assert all(layer.rate == 0.3 for layer in dropouts)
    assert names.index("dropout_conv1") == names.index("conv1") + 1
    assert names.index("pool1") == names.index("dropout_conv1") + 1
    # No dropout in front of the logits.
    assert names[-2] == "dropout_fc2" and names[-1] == "logits"


@pytest.mark.parametrize(
    "dropout, expected",
    [
        ("all", ["dropout_conv1", "dropout_conv2", "dropout_fc1"]),
        ("ip", ["dropout_fc1"]),
        ("none", []),
        (None, ["dropout_conv1", "dropout_conv2", "dropout_fc1"]),
    ],
)
def test_gal_lenet_dropout_placement(dropout, expected):
    model = architectures.gal_lenet(dropout=dropout)
    dropouts = [layer.name for layer in model.layers if isinstance(layer, bz.layers.MCDropout)]
    assert dropouts == expected
    # Caffe's LeNet: linear convolutions, relu on FC 500.
    assert model.get_layer("conv1").activation is keras.activations.linear
    assert model.get_layer("fc1").activation is keras.activations.relu
    assert model.get_layer("fc1").units == 500


def test_stochastic_layers_get_distinct_seeds():
    model = architectures.lenet5(method="mc_dropout", seed=7)
    seeds = [layer.seed for layer in bz.layers.stochastic_layers(model)]
    assert seeds == [7, 8, 9, 10]


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"method": "vi"}, "method='vi'"),
        ({"activation": "tanh"}, "activation='tanh'"),
        ({"input_shape": (32, 32)}, "input_shape=(32, 32)"),
        ({"input_shape": (32, 0, 1)}, "input_shape=(32, 0, 1)"),
        ({"num_classes": 1}, "num_classes=1"),
        ({"num_train_examples": 0}, "num_train_examples=0"),
        ({"dropout_rate": 1.0}, "dropout_rate=1.0"),
        ({"train_samples": 0}, "train_samples=0"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, argument):
    with pytest.raises(ValueError, match=argument.replace("(", r"\(").replace(")", r"\)")):
        architectures.lenet5(**kwargs)


def test_too_small_input_raises_value_error():
    with pytest.raises(ValueError, match=r"too small for alexnet.*input_shape=\(28, 28, 1\)"):
        architectures.alexnet(input_shape=(28, 28, 1))


def test_gal_lenet_rejects_bad_dropout_arguments():
    with pytest.raises(ValueError, match="dropout='most'"):
        architectures.gal_lenet(dropout="most")
    with pytest.raises(ValueError, match="dropout='all' with method='lrt'"):
        architectures.gal_lenet(method="lrt", dropout="all")
    variational = architectures.gal_lenet(method="lrt")
    assert not any(isinstance(layer, bz.layers.MCDropout) for layer in variational.layers)


def test_get_returns_builders_and_rejects_unknown_names():
    assert architectures.get("alexnet_half") is architectures.alexnet_half
    with pytest.raises(ValueError, match=r"'lenet5'.*'gal_lenet'.*name='resnet'"):
        architectures.get("resnet")


@pytest.mark.parametrize("method", ["lrt", "mc_dropout"])
def test_save_and_load_round_trip(tmp_path, method):
    model = architectures.lenet5(method=method, num_train_examples=500, train_samples=3, seed=1)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is BayesianModel
    assert loaded.train_samples == 3
    assert _layer_names(loaded) == _layer_names(model)
    for original, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(original.numpy(), restored.numpy())
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    with bz.layers.posterior_mean(model), bz.layers.posterior_mean(loaded):
        np.testing.assert_allclose(loaded(images), model(images), rtol=1e-6, atol=1e-6)
