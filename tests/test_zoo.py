"""The zoo's cards and registry: parsing, checking, listing, loading artefacts."""

import os
import shutil

import numpy as np
import pytest

from bayes_zoo import architectures
from bayes_zoo import zoo

REPOSITORY_MODELS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models")
# The zoo entries of issue 6, and the demo's card.
EXPECTED_CARDS = [
    "alexnet_frequentist_cifar10",
    "alexnet_half_lrt_cifar10",
    "alexnet_lrt_cifar10",
    "demo_lrt_digits",
    "gal_lenet_all_mcdropout_mnist",
    "gal_lenet_ip_mcdropout_mnist",
    "lenet5_frequentist_mnist",
    "lenet5_lrt_cifar10",
    "lenet5_lrt_mnist",
]
PAPER_CARDS = [
    "alexnet_frequentist_cifar10",
    "alexnet_half_lrt_cifar10",
    "alexnet_lrt_cifar10",
    "lenet5_frequentist_mnist",
    "lenet5_lrt_cifar10",
    "lenet5_lrt_mnist",
]


@pytest.fixture
def zoo_home(tmp_path):
    """A zoo home holding a copy of the demo card."""
    (tmp_path / "models").mkdir()
    shutil.copy(os.path.join(REPOSITORY_MODELS, "demo_lrt_digits.toml"), tmp_path / "models")
    return tmp_path


def write_card(home, name, text):
    path = home / "models" / f"{name}.toml"
    path.write_text(text)
    return path


def demo_card_text():
    with open(os.path.join(REPOSITORY_MODELS, "demo_lrt_digits.toml")) as file:
        return file.read()


def test_repository_holds_one_card_per_zoo_entry():
    # The classification entries; the applications add their own cards.
    assert set(EXPECTED_CARDS) <= set(zoo.list())
    assert zoo.list() == sorted(zoo.list())
    assert set(EXPECTED_CARDS) <= {card.name for card in zoo.cards()}


@pytest.mark.parametrize("name", EXPECTED_CARDS)
def test_every_card_builds_its_model_for_its_dataset(name):
    card = zoo.card(name)
    assert card.artefacts == {
        "model": f"saved_models/{name}/model.keras",
        "saved_model": f"saved_models/{name}/{{version}}",
    }
    assert isinstance(card.results, dict)  # filled by training runs (issue 6)
    model = card.build_model(num_train_examples=1000, seed=0)
    expected_shape = {"mnist": (32, 32, 1), "cifar10": (32, 32, 3), "digits": (32, 32, 1)}
    if card.data.image_size:
        expected_shape[card.dataset] = (*card.data.image_size, expected_shape[card.dataset][2])
    assert model.input_shape[1:] == expected_shape[card.dataset]
    assert model.output_shape == (None, 10)
    assert model.train_samples == card.model.get("train_samples", 1)


@pytest.mark.parametrize("name", PAPER_CARDS)
def test_paper_cards_carry_the_appendix_hyper_parameters(name):
    # Shridhar et al., appendix section 9.1.
    card = zoo.card(name)
    training = card.training
    assert (training.optimizer, training.learning_rate, training.batch_size, training.epochs) == (
        "adam", 0.001, 256, 100)
    assert training.weight_decay == 0.0005
    assert training.loss == "cross_entropy"
    assert card.model["activation"] == "softplus"
    if card.is_variational:
        assert training.kl_schedule == "blundell"
        assert card.prior == {"kind": "normal", "mean": 0.0, "stddev": 0.1}
        assert card.posterior["kind"] == "multiplicative_normal"
        assert card.posterior["log_alpha_init"] == -10.0
        assert 10 <= card.model["train_samples"] <= 25
        assert 10 <= card.evaluation.num_samples <= 25
    else:
        assert card.prior == {} and card.posterior == {}


def test_gal_cards_carry_their_caffe_solver():
    for placement in ("all", "ip"):
        card = zoo.card(f"gal_lenet_{placement}_mcdropout_mnist")
        assert (card.architecture, card.method) == ("gal_lenet", "mc_dropout")
        assert card.model == {"dropout": placement, "dropout_rate": 0.5, "activation": "relu"}
        training = card.training
        assert (training.optimizer, training.learning_rate, training.momentum) == ("sgd", 0.01, 0.9)
        assert (training.lr_schedule, training.lr_gamma, training.lr_power) == (
            "caffe_inv", 0.0001, 0.75)
        assert (training.weight_decay, training.batch_size) == (0.0005, 64)
        assert card.data.image_size == (28, 28)


def test_card_builds_the_prior_and_posterior_it_names():
    card = zoo.card("lenet5_lrt_mnist")
    prior, posterior = card.make_prior(), card.make_posterior()
    assert (prior.mean, prior.stddev) == (0.0, 0.1)
    assert posterior.log_alpha_init == -10.0
    demo = zoo.card("demo_lrt_digits")
    rho = demo.make_posterior().rho_initializer.get_config()
    assert (rho["mean"], rho["stddev"]) == (-3.0, 0.1)
    assert zoo.card("lenet5_frequentist_mnist").make_prior() is None


def test_unknown_card_lists_the_known_ones(zoo_home):
    with pytest.raises(ValueError, match=r"Unknown zoo card 'nope'. Known cards: demo_lrt_digits"):
        zoo.card("nope", root=zoo_home)


def test_home_comes_from_the_environment(zoo_home, monkeypatch):
    write_card(zoo_home, "another_card", demo_card_text())
    monkeypatch.setenv(zoo.HOME_VARIABLE, str(zoo_home))
    assert zoo.list() == ["another_card", "demo_lrt_digits"]
    assert zoo.home() == str(zoo_home)


def test_home_without_models_folder_says_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="BAYES_ZOO_HOME"):
        zoo.list(root=tmp_path)


def test_card_file_by_path(zoo_home):
    path = write_card(zoo_home, "my_card", demo_card_text())
    card = zoo.card(str(path))
    assert (card.name, card.path) == ("my_card", str(path))


@pytest.mark.parametrize(
    "change, message",
    [
        (('epochs = 20', 'epochs = "20"'), r"\[training\] epochs must be an integer"),
        (('epochs = 20', 'epochs = 0'), r"\[training\] epochs must be positive"),
        (('learning_rate = 0.003', 'learnin_rate = 0.003'), r"unknown key\(s\) \['learnin_rate'\]"),
        (('architecture = "lenet5"', 'architecture = "vgg"'), r"architecture must be one of"),
        (('method = "lrt"', 'method = "frequentist"'), r"\[prior\] has no effect"),
        (('kind = "normal"', 'kind = "laplace"'), r"\[prior\] kind must be one of"),
        (('rho_mean = -3.0', 'rho_mu = -3.0'), r"unknown key 'rho_mu' in \[posterior\]"),
        (('image_size = [32, 32]', 'image_size = [32]'), r"image_size must be \[height, width\]"),
        (('activation = "relu"', 'activaton = "relu"'),
         r"unknown key\(s\) \['activaton'\] in \[model\]"),
        (('optimizer = "adam"', 'optimizer = "rmsprop"'), r"optimizer must be one of"),
        (('model = "saved_models', 'model = "/abs'), r"must be a path relative"),
        (('[training]', '[training'), r"invalid TOML"),
    ],
)
def test_invalid_cards_name_the_file_key_and_value(zoo_home, change, message):
    old, new = change
    text = demo_card_text()
    assert old in text
    path = write_card(zoo_home, "broken", text.replace(old, new, 1))
    with pytest.raises(ValueError, match=message) as error:
        zoo.card("broken", root=zoo_home)
    assert str(path) in str(error.value)


def test_load_returns_the_saved_model(zoo_home):
    card = zoo.card("demo_lrt_digits", root=zoo_home)
    model = card.build_model(num_train_examples=100, seed=0)
    path = zoo.model_path(card, root=zoo_home)
    assert path == str(zoo_home / "saved_models" / "demo_lrt_digits" / "model.keras")
    os.makedirs(os.path.dirname(path))
    model.save(path)
    loaded = zoo.load("demo_lrt_digits", root=zoo_home)
    for saved, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())
    assert type(loaded) is architectures.classification.BayesianModel


def test_load_of_an_untrained_card_names_the_train_command(zoo_home):
    with pytest.raises(FileNotFoundError, match=r"`bayes-zoo train demo_lrt_digits`"):
        zoo.load("demo_lrt_digits", root=zoo_home)
    text = demo_card_text().replace('dataset = "digits"', 'dataset = "mnist"')
    write_card(zoo_home, "mnist_card", text)
    with pytest.raises(FileNotFoundError, match=r"bayes-zoo train mnist_card --data-dir"):
        zoo.load("mnist_card", root=zoo_home)


def test_saved_model_path_finds_the_highest_version(zoo_home):
    with pytest.raises(FileNotFoundError, match=r"`bayes-zoo export demo_lrt_digits` after "
                                                r"`bayes-zoo train demo_lrt_digits`"):
        zoo.saved_model_path("demo_lrt_digits", root=zoo_home)
    base = zoo_home / "saved_models" / "demo_lrt_digits"
    for version in ("1", "2", "10"):
        (base / version).mkdir(parents=True)
    (base / "model.keras").write_bytes(b"")
    assert zoo.saved_model_path("demo_lrt_digits", root=zoo_home) == str(base / "10")
    assert zoo.saved_model_path("demo_lrt_digits", version=2, root=zoo_home) == str(base / "2")
    with pytest.raises(FileNotFoundError, match=r"`bayes-zoo export demo_lrt_digits`\.$"):
        zoo.saved_model_path("demo_lrt_digits", version=3, root=zoo_home)
    assert zoo.saved_model_path("demo_lrt_digits", version=3, root=zoo_home,
                                must_exist=False) == str(base / "3")
    with pytest.raises(ValueError, match="version"):
        zoo.saved_model_path("demo_lrt_digits", version=0, root=zoo_home)
