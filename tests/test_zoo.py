"""The zoo's cards and registry: parsing, checking, listing, loading artefacts."""

import os
import re
import shutil
import tomllib
import warnings

import keras
import numpy as np
import pytest

from bayes_zoo.training import BayesianModel
from bayes_zoo import architectures
from bayes_zoo import layers as bz_layers
from bayes_zoo import trainer
from bayes_zoo import zoo

REPOSITORY_MODELS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models")
REPOSITORY_SAVED_MODELS = os.path.join(os.path.dirname(REPOSITORY_MODELS), "saved_models")
# The repository's limit on one file.
ARTEFACT_LIMIT_BYTES = 50 * 2**20
# The zoo entries of issue 6, and the demo's card.
EXPECTED_CARDS = [
    "alexnet_frequentist_cifar10",
    "alexnet_half_frequentist_cifar10",
    "alexnet_half_lrt_cifar10",
    "alexnet_half_lrt_paper_cifar10",
    "alexnet_lrt_cifar10",
    "alexnet_lrt_l1_cifar10",
    "alexnet_lrt_l1_pruned_cifar10",
    "alexnet_lrt_paper_cifar10",
    "demo_lrt_digits",
    "gal_lenet_all_mcdropout_mnist",
    "gal_lenet_ip_mcdropout_mnist",
    "gal_lenet_none_mnist",
    "lenet5_frequentist_cifar10",
    "lenet5_frequentist_mnist",
    "lenet5_lrt_cifar10",
    "lenet5_lrt_mnist",
    "lenet5_lrt_paper_cifar10",
    "lenet5_lrt_paper_mnist",
]
PAPER_CARDS = [
    "alexnet_frequentist_cifar10",
    "alexnet_half_lrt_paper_cifar10",
    "alexnet_lrt_paper_cifar10",
    "lenet5_lrt_paper_cifar10",
    "lenet5_lrt_paper_mnist",
]
# The recipe study's rows and their frequentist twins: (Bayesian, frequentist).
RECIPE_TWINS = [
    ("alexnet_lrt_cifar10", "alexnet_frequentist_cifar10"),
    ("alexnet_half_lrt_cifar10", "alexnet_half_frequentist_cifar10"),
    ("lenet5_lrt_cifar10", "lenet5_frequentist_cifar10"),
    ("lenet5_lrt_mnist", "lenet5_frequentist_mnist"),
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


def test_the_l1_pruned_row_prunes_its_l1_parent_to_the_frequentist_alexnets_count():
    parent, pruned = zoo.card("alexnet_lrt_l1_cifar10"), zoo.card("alexnet_lrt_l1_pruned_cifar10")
    assert parent.pruning is None and parent.posterior["loc_l1"] > 0
    assert parent.training.early_stopping_patience == 5  # Table 7's "unchanged for 5 epochs"
    assert pruned.pruning.parent == parent.name
    assert pruned.pruning.parameters_of == "alexnet_frequentist_cifar10"
    # The same network and data: the parent's weights load into the pruned row's model.
    for key in ("architecture", "dataset", "model", "prior", "posterior", "data"):
        assert getattr(pruned, key) == getattr(parent, key), key


@pytest.mark.parametrize("bayesian, frequentist", RECIPE_TWINS)
def test_recipe_rows_and_their_twins_share_pipeline_schedule_and_selection(bayesian, frequentist):
    bayesian, frequentist = zoo.card(bayesian), zoo.card(frequentist)
    assert (bayesian.method, frequentist.method) == ("lrt", "frequentist")
    assert bayesian.dataset == frequentist.dataset and bayesian.data == frequentist.data
    for key in ("optimizer", "learning_rate", "lr_schedule", "batch_size", "epochs", "select"):
        assert getattr(bayesian.training, key) == getattr(frequentist.training, key), key
    # The study's choices (recipe_study_lenet5_lrt_cifar10_50ep.md).
    assert (bayesian.training.kl_schedule, bayesian.training.kl_beta) == ("tempered", 0.01)
    assert bayesian.training.select == "val_nll" and bayesian.posterior["kind"] == \
        "mean_field_normal"
    assert bayesian.data.augment == ("rotate" if bayesian.dataset == "mnist" else "flip+rotate")


def test_gal_cards_carry_their_caffe_solver():
    mc_dropout = {"dropout_rate": 0.5, "activation": "relu"}
    for name, method, model in (
        ("gal_lenet_all_mcdropout_mnist", "mc_dropout", {"dropout": "all", **mc_dropout}),
        ("gal_lenet_ip_mcdropout_mnist", "mc_dropout", {"dropout": "ip", **mc_dropout}),
        # lenet-none has no dropout layers: a deterministic network.
        ("gal_lenet_none_mnist", "frequentist", {"dropout": "none", "activation": "relu"}),
    ):
        card = zoo.card(name)
        assert (card.architecture, card.method, card.model) == ("gal_lenet", method, model)
        training = card.training
        assert (training.optimizer, training.learning_rate, training.momentum) == ("sgd", 0.01, 0.9)
        assert (training.lr_schedule, training.lr_gamma, training.lr_power) == (
            "caffe_inv", 0.0001, 0.75)
        assert (training.weight_decay, training.batch_size) == (0.0005, 64)
        assert card.data.image_size == (28, 28)


def test_card_builds_the_prior_and_posterior_it_names():
    card = zoo.card("lenet5_lrt_paper_mnist")
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
        (('optimizer = "adam"', 'optimizer = "adam"\nprecision = "fp8"'),
         r"\[training\] precision must be one of \('auto', 'float32', 'bfloat16', 'float16'\)"),
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
    assert type(loaded) is BayesianModel


def test_save_for_inference_leaves_out_the_optimizer_state(zoo_home):
    card = zoo.card("demo_lrt_digits", root=zoo_home)
    model = card.build_model(num_train_examples=100, seed=0)
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    images = rng.normal(size=(8, *model.input_shape[1:])).astype("float32")
    labels = rng.integers(0, 10, size=8)
    model.fit(images, labels, epochs=1, verbose=0)
    optimizer = model.optimizer
    moments = [variable.numpy().copy() for variable in optimizer.variables]
    with_state = zoo_home / "with_state.keras"
    model.save(with_state)
    path = zoo.model_path(card, root=zoo_home)
    os.makedirs(os.path.dirname(path))
    assert zoo.save_for_inference(model, path) == path
    # Adam's two moments per weight are gone: about a third of the size.
    assert os.path.getsize(path) < 0.5 * os.path.getsize(with_state)
    # The model keeps its own optimizer and state.
    assert model.optimizer is optimizer
    for before, after in zip(moments, optimizer.variables):
        np.testing.assert_array_equal(before, after.numpy())

    with warnings.catch_warnings():
        # Keras says that the fresh optimizer finds no state to restore.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    for saved, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())
    with bz_layers.posterior_mean(model), bz_layers.posterior_mean(loaded):
        np.testing.assert_array_equal(model.predict(images, verbose=0),
                                      loaded.predict(images, verbose=0))
    assert loaded.get_compile_config() == model.get_compile_config()
    assert loaded.optimizer.get_config() == optimizer.get_config()
    assert int(loaded.optimizer.iterations.numpy()) == 0
    history = loaded.fit(images, labels, epochs=1, batch_size=8, verbose=0)
    assert set(history.history) >= {"loss", "accuracy"}
    assert int(loaded.optimizer.iterations.numpy()) == 1

    # The zoo loads it compiled, without that warning.
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Skipping variable loading for optimizer")
        loaded = zoo.load("demo_lrt_digits", root=zoo_home)
    assert int(loaded.optimizer.iterations.numpy()) == 0
    for saved, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())


def test_every_file_under_saved_models_is_smaller_than_50_mib():
    sizes = {}
    for folder, subfolders, files in os.walk(REPOSITORY_SAVED_MODELS):
        if os.path.dirname(folder) == REPOSITORY_SAVED_MODELS:
            # A run's checkpoint (with the optimizer's state, to resume it) is
            # ignored by git (.gitignore): no part of the repository.
            subfolders[:] = [name for name in subfolders if name != trainer.CHECKPOINT_FOLDER]
        for name in files:
            path = os.path.join(folder, name)
            sizes[os.path.relpath(path, REPOSITORY_SAVED_MODELS)] = os.path.getsize(path)
    assert any(os.path.basename(name) == trainer.MODEL_FILE for name in sizes)
    too_large = {name: size for name, size in sizes.items() if size >= ARTEFACT_LIMIT_BYTES}
    assert too_large == {}


def test_load_of_an_untrained_card_names_the_train_command(zoo_home):
    # A zoo home given as `root` is written to only when the command says so.
    with pytest.raises(FileNotFoundError, match=r"`bayes-zoo train demo_lrt_digits --output "
                                                + re.escape(str(zoo_home))):
        zoo.load("demo_lrt_digits", root=zoo_home)
    text = demo_card_text().replace('dataset = "digits"', 'dataset = "mnist"')
    write_card(zoo_home, "mnist_card", text)
    with pytest.raises(FileNotFoundError, match=r"bayes-zoo train mnist_card --data-dir"):
        zoo.load("mnist_card", root=zoo_home)


def test_saved_model_path_finds_the_highest_version(zoo_home):
    with pytest.raises(FileNotFoundError, match=r"`bayes-zoo export demo_lrt_digits --output .*` "
                                                r"after `bayes-zoo train demo_lrt_digits "
                                                r"--output "):
        zoo.saved_model_path("demo_lrt_digits", root=zoo_home)
    base = zoo_home / "saved_models" / "demo_lrt_digits"
    for version in ("1", "2", "10"):
        (base / version).mkdir(parents=True)
    (base / "model.keras").write_bytes(b"")
    assert zoo.saved_model_path("demo_lrt_digits", root=zoo_home) == str(base / "10")
    assert zoo.saved_model_path("demo_lrt_digits", version=2, root=zoo_home) == str(base / "2")
    with pytest.raises(FileNotFoundError, match=r"`bayes-zoo export demo_lrt_digits --output .*`\.$"):
        zoo.saved_model_path("demo_lrt_digits", version=3, root=zoo_home)
    assert zoo.saved_model_path("demo_lrt_digits", version=3, root=zoo_home,
                                must_exist=False) == str(base / "3")
    with pytest.raises(ValueError, match="version"):
        zoo.saved_model_path("demo_lrt_digits", version=0, root=zoo_home)


# The application cards: name -> (task, architecture, dataset).
APPLICATION_CARDS = {
    "espcn_lrt_bsds": ("super_resolution", "espcn", "bsds"),
    "espcn_frequentist_bsds": ("super_resolution", "espcn", "bsds"),
    "dcgan_bayesian_cifar10": ("gan", "dcgan", "cifar10"),
    "dcgan_frequentist_cifar10": ("gan", "dcgan", "cifar10"),
    "dcgan_bayesian_softplus_cifar10": ("gan", "dcgan", "cifar10"),
}


def application_card_text(name):
    with open(os.path.join(REPOSITORY_MODELS, f"{name}.toml")) as file:
        return file.read()


@pytest.mark.parametrize("name", sorted(APPLICATION_CARDS))
def test_application_cards_parse_with_their_task(name):
    card = zoo.card(name)
    assert (card.task, card.architecture, card.dataset) == APPLICATION_CARDS[name]
    assert name in [listed.name for listed in zoo.cards()]
    with open(card.path, "rb") as file:
        assert card.document == tomllib.load(file)
    assert card.artefacts["model"] == f"saved_models/{name}/model.keras"
    if card.task == "super_resolution":
        assert card.data == zoo.PhotographDataConfig(
            train_folders=("CBSD68", "skimage"), test_folders=("Set5", "Set14"), crop_size=51,
            crops_per_image=256, augment=True)
        assert card.training.loss == "mse" and card.training.beta_1 is None
    else:
        assert card.data is None
        assert (card.training.loss, card.training.beta_1) == ("binary_cross_entropy", 0.5)
        assert card.training.learning_rate == 0.0001
    assert (card.make_posterior() is None) == (card.method == "frequentist")
    with pytest.raises(ValueError, match=rf"a '{card.task}' card.*train_card"):
        card.build_model(num_train_examples=10)


def test_classification_is_the_default_task():
    assert {card.task for card in zoo.cards() if card.name in EXPECTED_CARDS} == {
        "classification"}
    assert zoo.card("lenet5_lrt_mnist").training.noise_stddev is None


@pytest.mark.parametrize(
    "name, change, message",
    [
        ("espcn_lrt_bsds", ('task = "super_resolution"', 'task = "detection"'),
         r"task must be one of \('classification', 'super_resolution', 'gan'\). "
         r"Received: 'detection'"),
        ("espcn_lrt_bsds", ('noise_stddev = 0.05', 'weight_decay = 0.0005'),
         r"unknown key\(s\) \['weight_decay'\] in \[training\] of a super_resolution card "
         r"\(values \[0.0005\]\)"),
        ("espcn_lrt_bsds", ('noise_stddev = 0.05', 'noise_stddev = 0.0'),
         r"noise_stddev must be positive"),
        ("espcn_lrt_bsds", ('loss = "mse"', 'loss = "cross_entropy"'),
         r"\[training\] loss must be one of \('mse',\)"),
        ("espcn_lrt_bsds", ('dataset = "bsds"', 'dataset = "mnist"'),
         r"dataset must be one of \('bsds',\)"),
        ("espcn_lrt_bsds", ('architecture = "espcn"', 'architecture = "lenet5"'),
         r"architecture must be one of \('espcn',\)"),
        ("espcn_lrt_bsds", ('crop_size = 51', 'crop_size = "51"'),
         r"\[data\] crop_size must be an integer"),
        ("espcn_lrt_bsds", ('test_folders = ["Set5", "Set14"]', 'test_folders = "Set5"'),
         r"\[data\] test_folders must be a non-empty list of strings. Received: 'Set5'"),
        ("espcn_lrt_bsds", ('upscale_factor = 3', 'upscale = 3'),
         r"unknown key\(s\) \['upscale'\] in \[model\]"),
        ("dcgan_bayesian_cifar10", ('beta_1 = 0.5', 'beta_1 = 1.5'), r"beta_1 must be in"),
        ("dcgan_bayesian_cifar10", ('beta_1 = 0.5', 'precision = "bfloat16"'),
         r"unknown key\(s\) \['precision'\] in \[training\] of a gan card"),
        ("dcgan_bayesian_cifar10", ('beta_1 = 0.5', 'kl_schedule = "blundell"'),
         r"unknown key\(s\) \['kl_schedule'\] in \[training\] of a gan card"),
        ("dcgan_bayesian_cifar10", ('[paper]', '[data]\naugment = true\n[paper]'),
         r"a gan card has no \[data\] table"),
        ("dcgan_bayesian_cifar10", ('optimizer = "adam"', 'optimizer = "sgd"'),
         r"optimizer must be one of \('adam',\)"),
    ],
)
def test_invalid_application_cards_name_the_file_key_and_value(zoo_home, name, change, message):
    old, new = change
    text = application_card_text(name)
    assert old in text
    path = write_card(zoo_home, "broken", text.replace(old, new, 1))
    with pytest.raises(ValueError, match=message) as error:
        zoo.card("broken", root=zoo_home)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("key", ["noise_stddev = 0.05", "beta_1 = 0.5"])
def test_classification_cards_reject_the_application_keys(zoo_home, key):
    text = demo_card_text().replace("[training]\n", f"[training]\n{key}\n", 1)
    write_card(zoo_home, "broken", text)
    with pytest.raises(ValueError, match=rf"unknown key\(s\) \['{key.split()[0]}'\] in "
                                         r"\[training\] of a classification card"):
        zoo.card("broken", root=zoo_home)


def test_prior_and_posterior_from_table():
    prior = zoo.prior_from_table({"kind": "scale_mixture_normal", "sigma2": 0.01})
    assert (prior.pi, prior.sigma1, prior.sigma2) == (0.5, 1.0, 0.01)
    posterior = zoo.posterior_from_table({"kind": "multiplicative_normal",
                                          "log_alpha_init": -8.0})
    assert posterior.log_alpha_init == -8.0
    assert zoo.prior_from_table(None) is None and zoo.posterior_from_table({}) is None
    with pytest.raises(ValueError, match=r"\[prior\] kind must be one of .* kind='laplace'"):
        zoo.prior_from_table({"kind": "laplace"})
    with pytest.raises(ValueError, match=r"Unknown key\(s\) \['rho'\] in \[posterior\]"):
        zoo.posterior_from_table({"kind": "mean_field_normal", "rho": -5.0})
