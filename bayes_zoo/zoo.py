"""The model zoo: one TOML card per model, trained artefacts under `saved_models/`.

A card (`models/<name>.toml`, read with `tomllib`) says what a zoo model is and
how it is trained: its task (`TASKS`: image classification, the default, or
the applications `"super_resolution"` and `"gan"`), architecture, method and
dataset, the builder's
arguments (`[model]`), the prior and posterior of the variational layers
(`[prior]`, `[posterior]`), the data pipeline (`[data]`), the optimisation
(`[training]`), the Monte Carlo evaluation (`[evaluation]`), what the papers
report (`[paper]`), what this zoo measured (`[results]`), and where the
trained artefacts live (`[artefacts]`, paths relative to the zoo's home). `bz.trainer` trains the
classification cards; `bz.super_resolution.train_card` and
`bz.gan.train_card` train the others from `Card.document`.

The zoo's home is the folder that holds `models/` and `saved_models/`: the
`root` argument of every function here, else the environment variable
`BAYES_ZOO_HOME`, else the repository this package is installed from
(editable installs). Nothing is ever downloaded.

```python
bz.zoo.list()                             # ['alexnet_frequentist_cifar10', ...]
card = bz.zoo.card("lenet5_lrt_mnist")    # a `Card`
model = bz.zoo.load("lenet5_lrt_mnist")   # the trained keras model
bz.zoo.save_for_inference(model, "model.keras")  # no optimizer state, as the trainer writes
```
"""

import builtins
import dataclasses
import os
import re
import tomllib
import warnings
import zipfile
import zlib

# Light: it imports TensorFlow only to look for GPUs.
from bayes_zoo import precision

# Reading and listing cards needs no TensorFlow (`bayes-zoo list` starts at
# once): Keras and the modules that import it are imported where a model is
# built or loaded.

HOME_VARIABLE = "BAYES_ZOO_HOME"
TASKS = ("classification", "super_resolution", "gan")
# What cards may name, as `bz.architectures` and `bz.data` define them
# (tests/test_light_imports.py checks that they agree).
METHODS = ("frequentist", "bbb", "lrt", "flipout", "mc_dropout")
VARIATIONAL_METHODS = ("bbb", "lrt", "flipout")
CLASSIFICATION_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn_cropped",
                           "digits")
# The parameters of each builder of `bz.architectures`, which a card's
# [model] table may set (but for `_RESERVED_MODEL_ARGUMENTS`).
_CLASSIFIER_PARAMETERS = ("method", "input_shape", "num_classes", "num_train_examples",
                          "prior", "posterior", "activation", "train_samples", "dropout_rate",
                          "seed")
BUILDER_PARAMETERS = {
    "lenet5": _CLASSIFIER_PARAMETERS,
    "alexnet": _CLASSIFIER_PARAMETERS,
    "alexnet_half": _CLASSIFIER_PARAMETERS,
    "three_conv_three_fc": _CLASSIFIER_PARAMETERS,
    "gal_lenet": _CLASSIFIER_PARAMETERS + ("dropout",),
    "espcn": ("method", "upscale_factor", "channels", "num_train_examples", "prior",
              "posterior", "activation", "train_samples", "seed"),
    "dcgan": ("method", "image_size", "channels", "latent_dim", "ngf", "ndf",
              "num_train_examples", "prior", "posterior", "batch_norm",
              "uncertainty_samples", "seed"),
}
OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("constant", "linear", "cosine", "step", "caffe_inv")
# bz.callbacks.SCHEDULES (this module reads cards without TensorFlow).
KL_SCHEDULES = ("elbo", "tempered", "blundell", "reference_blundell", "warmup",
                "constant", "standard", "soenderby")
# "last", or the validation metric that chooses the epoch a run keeps.
SELECTIONS = ("last", "val_loss", "val_nll", "val_accuracy")

# Builder arguments a card may not set in [model]: the card's own fields, the
# dataset, and the [prior] / [posterior] tables give them.
_RESERVED_MODEL_ARGUMENTS = (
    "method",
    "input_shape",
    "num_classes",
    "num_train_examples",
    "prior",
    "posterior",
    "seed",
)
_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The `[data]` table of a card: how the dataset is fed.

    Attributes:
        validation_fraction: float in [0, 1), carved from the official train
            split (see `bz.data.load`).
        augment: false, true or a policy string of `bz.data.load` (e.g.
            `"flip+rotate"`, `"rotate15+crop"`): how the training images are
            augmented; true is random shifts, plus flips where they keep labels.
        image_size: None or `[height, width]`; None keeps `bz.data`'s default
            (MNIST zero-padded to 32x32).
    """

    validation_fraction: float = 0.1
    augment: bool | str = False
    image_size: tuple | None = None


@dataclasses.dataclass(frozen=True)
class PhotographDataConfig:
    """The `[data]` table of a super-resolution card: folders of photographs.

    Attributes:
        train_folders: tuple of str, the folders of `--data-dir` holding
            the training photographs.
        test_folders: tuple of str, folders of `--data-dir` holding the test
            photographs, each scored separately.
        crop_size: positive int, the side of the high-resolution training
            crops (divisible by the upscale factor).
        crops_per_image: positive int, random crops of each photograph.
        augment: bool, a random flip and quarter turn of each crop.
    """

    train_folders: tuple[str, ...] = ("CBSD68",)
    test_folders: tuple[str, ...] = ("Set5", "Set14")
    crop_size: int = 51
    crops_per_image: int = 64
    augment: bool = False


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """The `[training]` table of a card: the optimisation.

    Attributes:
        epochs: positive int.
        batch_size: positive int.
        learning_rate: positive float, the initial learning rate.
        optimizer: `"adam"` or `"sgd"` (with `momentum`).
        momentum: float in [0, 1), for `"sgd"`.
        weight_decay: float >= 0, the L2 coefficient `lambda`: the gradient of
            every non-variational kernel gets `lambda * w`, as Caffe's and
            PyTorch's `weight_decay` do. Variational layers are regularised by
            their KL term instead and get none.
        lr_schedule: `"constant"`, `"linear"` (to 0 over the run), `"cosine"`
            (to 0 over the run), `"step"` (times `lr_gamma` every
            `lr_step_epochs` epochs), or `"caffe_inv"`: Caffe's "inv" policy
            `lr * (1 + lr_gamma * step) ** -lr_power` (see
            `bz.trainer.make_learning_rate`).
        lr_gamma, lr_power: floats of `"caffe_inv"` (`lr_gamma` also of `"step"`).
        lr_step_epochs: positive int, the period of `"step"`.
        kl_schedule: the KL convention of the variational methods, by its KL
            weight per example (`bz.callbacks.KLWeightSchedule`): `"elbo"`
            (1/N), `"tempered"` (kl_beta/N), `"blundell"` (M pi_i/N, the
            paper's), `"reference_blundell"` (pi_i/N), `"warmup"`; and the
            older `"standard"`, `"constant"`, `"soenderby"`.
        kl_beta: positive float, the temperature of `"tempered"` (the
            reference code's 0.1).
        select: classification only: `"last"` (the last epoch's weights), or
            `"val_loss"`, `"val_nll"`, `"val_accuracy"`: the trainer keeps the
            weights of the epoch best by that validation metric, and
            evaluates and writes those.
        early_stopping_patience: int >= 0; classification only: with a
            `select` metric, stop once it has not improved for this many
            epochs (the paper's L1 run stops after 5 epochs without a better
            validation accuracy); 0 trains every epoch.
        loss: the task's loss: `"cross_entropy"` (classification: sparse
            categorical cross-entropy of the logits), `"mse"`
            (super-resolution) or `"binary_cross_entropy"` (gan).
        noise_stddev: float or None; super-resolution only: the Gaussian
            likelihood's standard deviation that sets the KL weight (see
            `bz.super_resolution.elbo_num_train_examples`).
        beta_1: float or None; gan only: Adam's `beta_1`.
        precision: classification only: `"float32"` (the default, in which
            the zoo's rows were trained), `"auto"`, `"bfloat16"` or
            `"float16"`, the numeric precision of training
            (`bz.precision.resolve`; `"auto"` picks bfloat16 only on
            hardware that computes it natively).
    """

    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str = "adam"
    momentum: float = 0.0
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    lr_gamma: float = 0.0
    lr_power: float = 0.0
    lr_step_epochs: int = 0
    kl_schedule: str = "blundell"
    kl_beta: float = 0.1
    select: str = "last"
    early_stopping_patience: int = 0
    loss: str = "cross_entropy"
    noise_stddev: float | None = None
    beta_1: float | None = None
    precision: str = "float32"


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """The `[evaluation]` table of a card.

    Attributes:
        num_samples: positive int, the Monte Carlo samples of the held-out
            evaluation (`bz.uncertainty.predict_with_uncertainty`).
    """

    num_samples: int = 25


@dataclasses.dataclass(frozen=True)
class Card:
    """A parsed, checked zoo card.

    Attributes:
        name: str, the card's file name without `.toml`.
        path: str, the card file.
        description: str.
        task: one of `TASKS`: `"classification"` (a card without `task`),
            `"super_resolution"` or `"gan"`.
        architecture: a name of `bz.architectures.NAMES` (classification),
            `"espcn"` (super-resolution) or `"dcgan"` (gan).
        method: one of `bz.architectures.METHODS`.
        dataset: one of `bz.data.DATASETS` (classification), `"bsds"`
            (super-resolution: photographs in folders) or `"cifar10"` (gan).
        model: dict of further builder arguments (`activation`,
            `train_samples`, `dropout`, ...).
        prior: dict, the `[prior]` table (`kind` and its parameters), empty
            for methods without variational layers.
        posterior: dict, the `[posterior]` table, likewise.
        data: `DataConfig` (classification), `PhotographDataConfig`
            (super-resolution) or None (gan, which has no `[data]`).
        training: `TrainingConfig`.
        evaluation: `EvaluationConfig`.
        paper: dict, what the papers report for this model.
        results: dict, what this zoo measured (empty until trained).
        artefacts: dict with `model` (the trained `.keras` file) and
            `saved_model` (the SavedModel folder, with `{version}`), paths
            relative to the zoo's home.
        document: dict, the card's parsed TOML, what
            `bz.super_resolution.train_card` and `bz.gan.train_card` take.

    Example:

    >>> card = bz.zoo.card("lenet5_lrt_mnist")
    >>> card.method, card.training.learning_rate, card.prior
    ('lrt', 0.001, {'kind': 'normal', 'mean': 0.0, 'stddev': 0.1})
    """

    name: str
    path: str
    description: str
    task: str
    architecture: str
    method: str
    dataset: str
    model: dict
    prior: dict
    posterior: dict
    data: DataConfig
    training: TrainingConfig
    evaluation: EvaluationConfig
    paper: dict
    results: dict
    artefacts: dict
    document: dict

    @property
    def is_variational(self):
        """Whether the method has variational layers (a prior, a posterior, a KL)."""
        return self.method in VARIATIONAL_METHODS

    def make_prior(self):
        """The `bz.priors.Prior` of the `[prior]` table, or None without one."""
        return prior_from_table(self.prior)

    def make_posterior(self):
        """The `bz.posteriors.Posterior` of the `[posterior]` table, or None without one."""
        return posterior_from_table(self.posterior)

    def build_model(self, num_train_examples, input_shape=None, num_classes=None, seed=None,
                    train_samples=None):
        """Builds the card's uncompiled model.

        Args:
            num_train_examples: int, the training set size (sets the initial
                KL weight `1 / num_train_examples`).
            input_shape: `(height, width, channels)`; the dataset's, as the
                card's `[data]` loads it, by default.
            num_classes: int; the dataset's by default.
            seed: int or None, seeds the noise of the stochastic layers.
            train_samples: int or None, overrides `[model] train_samples`.

        Returns:
            An uncompiled `bz.training.BayesianModel` giving logits.

        Raises:
            ValueError: a card whose task is not classification (its
                module's `train_card` builds its model).

        Example:

        >>> model = bz.zoo.card("lenet5_lrt_mnist").build_model(num_train_examples=54000)
        """
        if self.task != "classification":
            module = "super_resolution" if self.task == "super_resolution" else "gan"
            raise ValueError(
                f"Card {self.name!r} is a {self.task!r} card: build_model builds "
                f"classifiers. Fix: train it with bz.{module}.train_card(card.document, ...)."
            )
        from bayes_zoo import architectures
        from bayes_zoo import data

        info = data.dataset_info(self.dataset, self.data.image_size)
        arguments = dict(self.model)
        if train_samples is not None:
            arguments["train_samples"] = train_samples
        return architectures.get(self.architecture)(
            method=self.method,
            input_shape=tuple(input_shape or info.image_shape),
            num_classes=num_classes or info.num_classes,
            num_train_examples=num_train_examples,
            prior=self.make_prior(),
            posterior=self.make_posterior(),
            seed=seed,
            **arguments,
        )


def _normal_initializer(stddev, mean=0.0):
    import keras

    return keras.initializers.RandomNormal(mean, stddev)


def _normal_prior(p):
    from bayes_zoo import priors

    return priors.Normal(p["mean"], p["stddev"])


def _scale_mixture_prior(p):
    from bayes_zoo import priors

    return priors.ScaleMixtureNormal(p["pi"], p["sigma1"], p["sigma2"])


def _mean_field_posterior(p):
    # sigma = softplus(rho), loc ~ N(0, loc_stddev), rho ~ N(rho_mean, rho_stddev).
    from bayes_zoo import posteriors

    return posteriors.MeanFieldNormal(
        loc_initializer=_normal_initializer(p["loc_stddev"]),
        rho_initializer=_normal_initializer(p["rho_stddev"], p["rho_mean"]),
        loc_regularizer=_l1(p["loc_l1"]),
    )


def _multiplicative_posterior(p):
    # sigma^2 = alpha * mu^2, the paper's, with log_alpha = log_alpha_init.
    from bayes_zoo import posteriors

    return posteriors.MultiplicativeNormal(
        loc_initializer=_normal_initializer(p["loc_stddev"]),
        log_alpha_init=p["log_alpha_init"],
        loc_regularizer=_l1(p["loc_l1"]),
    )


def _l1(weight):
    # `loc_l1`: the weight of sum |mu| over the kernels in the per-example loss.
    import keras

    if not weight >= 0:
        raise ValueError(f"[posterior] loc_l1 must be >= 0. Received: {weight!r}")
    return keras.regularizers.L1(weight) if weight > 0 else None


# kind -> (parameters with their defaults, factory).
_PRIOR_KINDS = {
    "normal": ({"mean": 0.0, "stddev": 0.1}, _normal_prior),
    "scale_mixture_normal": ({"pi": 0.5, "sigma1": 1.0, "sigma2": 0.0025}, _scale_mixture_prior),
}
_POSTERIOR_KINDS = {
    "mean_field_normal": (
        {"loc_stddev": 0.1, "rho_mean": -5.0, "rho_stddev": 0.1, "loc_l1": 0.0},
        _mean_field_posterior),
    "multiplicative_normal": (
        {"loc_stddev": 0.1, "log_alpha_init": -10.0, "loc_l1": 0.0}, _multiplicative_posterior),
}


def _distribution_from_table(section, table, kinds):
    if not table:
        return None
    if not isinstance(table, dict) or table.get("kind") not in kinds:
        kind = table.get("kind") if isinstance(table, dict) else table
        raise ValueError(
            f"[{section}] kind must be one of {tuple(sorted(kinds))}. Received: kind={kind!r}"
        )
    defaults, factory = kinds[table["kind"]]
    parameters = {key: value for key, value in table.items() if key != "kind"}
    unknown = sorted(set(parameters) - set(defaults))
    if unknown:
        raise ValueError(
            f"Unknown key(s) {unknown} in [{section}] of kind {table['kind']!r}; expected "
            f"some of {sorted(defaults)}. Received: {table!r}"
        )
    return factory({**defaults, **parameters})


def prior_from_table(table):
    """The prior a card's `[prior]` table names.

    Args:
        table: None, or a dict with `kind` (`"normal"`: `mean`, `stddev`;
            `"scale_mixture_normal"`: `pi`, `sigma1`, `sigma2`) and any of
            its parameters (the others take their defaults).

    Returns:
        A `bz.priors.Prior`, or None for an empty table (no variational
        layers, or the library's default).

    Raises:
        ValueError: an unknown kind or parameter.

    Example:

    >>> bz.zoo.prior_from_table({"kind": "normal", "stddev": 0.1})
    """
    return _distribution_from_table("prior", table, _PRIOR_KINDS)


def posterior_from_table(table):
    """The posterior a card's `[posterior]` table names.

    Args:
        table: None, or a dict with `kind` (`"mean_field_normal"`:
            `loc_stddev`, `rho_mean`, `rho_stddev`; `"multiplicative_normal"`:
            `loc_stddev`, `log_alpha_init`; both: `loc_l1`, the weight of an
            L1 penalty `loc_l1 * sum |mu|` on the kernels' posterior means in
            the per-example loss, 0 for none) and any of its parameters.

    Returns:
        A `bz.posteriors.Posterior`, or None for an empty table.

    Raises:
        ValueError: an unknown kind or parameter.

    Example:

    >>> bz.zoo.posterior_from_table({"kind": "multiplicative_normal", "log_alpha_init": -10.0})
    """
    return _distribution_from_table("posterior", table, _POSTERIOR_KINDS)


# ---------------------------------------------------------------------------
# Reading and checking cards.


def _fail(path, problem):
    raise ValueError(f"Zoo card {path}: {problem}")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_type(path, where, value, annotation):
    """Checks a TOML value against a dataclass field's annotation; returns it converted."""
    # An optional number is the number when the card sets it.
    annotation = {float | None: float}.get(annotation, annotation)
    if annotation == tuple[str, ...]:
        if (
            not isinstance(value, builtins.list)
            or not value
            or not all(isinstance(v, str) and v for v in value)
        ):
            _fail(path, f"{where} must be a non-empty list of strings. Received: {value!r}")
        return tuple(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(path, f"{where} must be an integer. Received: {value!r}")
        return value
    if annotation is float:
        if not _is_number(value):
            _fail(path, f"{where} must be a number. Received: {value!r}")
        return float(value)
    if annotation is bool:
        if not isinstance(value, bool):
            _fail(path, f"{where} must be true or false. Received: {value!r}")
        return value
    if annotation == bool | str:  # [data] augment; `_check_augment` reads the string
        if not isinstance(value, (bool, str)):
            _fail(path, f"{where} must be true, false or a string. Received: {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            _fail(path, f"{where} must be a string. Received: {value!r}")
        return value
    # `tuple | None`: image_size, a [height, width] pair.
    if (
        not isinstance(value, builtins.list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        _fail(path, f"{where} must be [height, width] with positive integers. Received: {value!r}")
    return tuple(value)


def _parse_section(path, section, table, config_class, allowed=None, task="classification"):
    """Turns a TOML table into `config_class`, rejecting unknown and missing keys.

    `allowed` (default: every field) lists the keys the card's task may set.
    """
    if not isinstance(table, dict):
        _fail(path, f"[{section}] must be a table. Received: {table!r}")
    fields = {field.name: field for field in dataclasses.fields(config_class)}
    allowed = sorted(fields if allowed is None else allowed)
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        _fail(path, f"unknown key(s) {unknown} in [{section}] of a {task} card "
                    f"(values {[table[key] for key in unknown]!r}); expected some of {allowed}")
    missing = [
        name
        for name, field in fields.items()
        if field.default is dataclasses.MISSING and name not in table
    ]
    if missing:
        _fail(path, f"[{section}] is missing {missing}")
    return config_class(
        **{
            name: _check_type(path, f"[{section}] {name}", value, fields[name].type)
            for name, value in table.items()
        }
    )


def _check_choice(path, where, value, choices):
    if value not in choices:
        _fail(path, f"{where} must be one of {choices}. Received: {value!r}")


def _check_training(path, training, task):
    for name in ("epochs", "batch_size"):
        if getattr(training, name) < 1:
            _fail(path, f"[training] {name} must be positive. Received: {getattr(training, name)}")
    if not training.learning_rate > 0:
        _fail(path, "[training] learning_rate must be positive. "
                    f"Received: {training.learning_rate}")
    if not 0 <= training.momentum < 1:
        _fail(path, f"[training] momentum must be in [0, 1). Received: {training.momentum}")
    if training.weight_decay < 0:
        _fail(path, f"[training] weight_decay must be >= 0. Received: {training.weight_decay}")
    spec = _TASK_SPECS[task]
    _check_choice(path, "[training] optimizer", training.optimizer, spec.optimizers)
    _check_choice(path, "[training] lr_schedule", training.lr_schedule, LR_SCHEDULES)
    _check_choice(path, "[training] kl_schedule", training.kl_schedule, KL_SCHEDULES)
    _check_choice(path, "[training] select", training.select, SELECTIONS)
    if training.early_stopping_patience < 0:
        _fail(path, "[training] early_stopping_patience must be >= 0. "
                    f"Received: {training.early_stopping_patience}")
    if training.early_stopping_patience and training.select == "last":
        _fail(path, "[training] early_stopping_patience needs a validation metric to watch: "
                    'set select = "val_accuracy" (or "val_nll", "val_loss")')
    if not training.kl_beta > 0:
        _fail(path, f"[training] kl_beta must be positive. Received: {training.kl_beta}")
    if training.lr_schedule == "step" and not (training.lr_step_epochs >= 1
                                               and 0 < training.lr_gamma < 1):
        _fail(path, "[training] lr_schedule = \"step\" needs lr_step_epochs >= 1 and "
                    "lr_gamma in (0, 1)")
    _check_choice(path, "[training] precision", training.precision, precision.PRECISIONS)
    _check_choice(path, "[training] loss", training.loss, (spec.loss,))
    if training.noise_stddev is not None and not training.noise_stddev > 0:
        _fail(path, "[training] noise_stddev must be positive. "
                    f"Received: {training.noise_stddev}")
    if training.beta_1 is not None and not 0 <= training.beta_1 < 1:
        _fail(path, f"[training] beta_1 must be in [0, 1). Received: {training.beta_1}")
    if training.momentum and training.optimizer != "sgd":
        _fail(path, "[training] momentum only applies to optimizer = \"sgd\"")
    inv_parameters = training.lr_gamma > 0 and training.lr_power > 0
    if training.lr_schedule == "caffe_inv" and not inv_parameters:
        _fail(path, "[training] lr_schedule = \"caffe_inv\" needs positive lr_gamma and lr_power")


def _parse_distribution(path, section, table, kinds, variational):
    if table is None:
        if variational:
            _fail(path, f"the variational method needs a [{section}] table")
        return {}
    if not variational:
        _fail(path, f"[{section}] has no effect without variational layers; remove it")
    if not isinstance(table, dict) or "kind" not in table:
        _fail(path, f"[{section}] needs a `kind`, one of {sorted(kinds)}")
    _check_choice(path, f"[{section}] kind", table["kind"], tuple(sorted(kinds)))
    defaults, _ = kinds[table["kind"]]
    for key, value in table.items():
        if key == "kind":
            continue
        if key not in defaults:
            _fail(path, f"unknown key {key!r} in [{section}] of kind {table['kind']!r}; "
                        f"expected some of {sorted(defaults)}")
        if not _is_number(value):
            _fail(path, f"[{section}] {key} must be a number. Received: {value!r}")
    return {key: value if key == "kind" else float(value) for key, value in table.items()}


def _parse_model(path, architecture, table):
    if not isinstance(table, dict):
        _fail(path, f"[model] must be a table. Received: {table!r}")
    allowed = sorted(set(BUILDER_PARAMETERS[architecture]) - set(_RESERVED_MODEL_ARGUMENTS))
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        _fail(path, f"unknown key(s) {unknown} in [model]; {architecture} takes {allowed}")
    return dict(table)


def _parse_artefacts(path, name, table):
    artefacts = {
        "model": f"saved_models/{name}/model.keras",
        "saved_model": f"saved_models/{name}/{{version}}",
    }
    unknown = sorted(set(table) - set(artefacts))
    if unknown:
        _fail(path, f"unknown key(s) {unknown} in [artefacts]; "
                    f"expected some of {sorted(artefacts)}")
    artefacts.update(table)
    for key, value in artefacts.items():
        if not isinstance(value, str) or os.path.isabs(value):
            _fail(path, f"[artefacts] {key} must be a path relative to the zoo's home. "
                        f"Received: {value!r}")
    if not artefacts["model"].endswith(".keras"):
        _fail(path, f"[artefacts] model must name a .keras file. Received: {artefacts['model']!r}")
    if not artefacts["saved_model"].rstrip("/").endswith("{version}"):
        _fail(path, "[artefacts] saved_model must end with the folder '{version}'. "
                    f"Received: {artefacts['saved_model']!r}")
    return artefacts


_TOP_LEVEL_KEYS = ("description", "task", "architecture", "method", "dataset")
_TABLES = (
    "model", "prior", "posterior", "data", "training", "evaluation", "paper", "results",
    "artefacts",
)
_COMMON_TRAINING_KEYS = ("epochs", "batch_size", "learning_rate", "optimizer", "loss")


@dataclasses.dataclass(frozen=True)
class _TaskSpec:
    """What a card of one task may say: its builders, datasets, loss and keys."""

    architectures: tuple  # names of `BUILDER_PARAMETERS`
    datasets: tuple
    loss: str
    optimizers: tuple
    data_config: type | None  # None: the task has no [data] table.
    training_keys: tuple


_TASK_SPECS = {
    "classification": _TaskSpec(
        architectures=tuple(name for name in BUILDER_PARAMETERS
                            if name not in ("espcn", "dcgan")),
        datasets=CLASSIFICATION_DATASETS,
        loss="cross_entropy",
        optimizers=OPTIMIZERS,
        data_config=DataConfig,
        training_keys=_COMMON_TRAINING_KEYS + (
            "momentum", "weight_decay", "lr_schedule", "lr_gamma", "lr_power", "kl_schedule",
            "precision", "lr_step_epochs", "kl_beta", "select", "early_stopping_patience"),
    ),
    # `bz.super_resolution.train_card`: Adam on the MSE plus the KL.
    "super_resolution": _TaskSpec(
        architectures=("espcn",),
        datasets=("bsds",),
        loss="mse",
        optimizers=("adam",),
        data_config=PhotographDataConfig,
        training_keys=_COMMON_TRAINING_KEYS + ("kl_schedule", "noise_stddev"),
    ),
    # `bz.gan.train_card`: DCGAN's Adam; the discriminator's KL weight is fixed.
    "gan": _TaskSpec(
        architectures=("dcgan",),
        datasets=("cifar10",),
        loss="binary_cross_entropy",
        optimizers=("adam",),
        data_config=None,
        training_keys=_COMMON_TRAINING_KEYS + ("beta_1",),
    ),
}


# What `bz.data.load(augment=...)` accepts (tests/test_data.py checks that
# they agree): cards are read without TensorFlow, so without bz.data.
_AUGMENTATIONS = ("rotate", "crop", "flip")
_ROTATE_BOUND = re.compile(r"rotate(?P<degrees>\d+(?:\.\d+)?)")
_UNFLIPPABLE_DATASETS = ("mnist", "svhn_cropped", "digits")  # labels lost by mirroring


def _check_augment(path, dataset, augment):
    """Fails unless `augment` is a bool or a policy that `bz.data` applies to `dataset`."""
    if isinstance(augment, bool):
        return
    valid = (f"false, true, or some of {_AUGMENTATIONS} joined by '+' (e.g. \"flip+rotate\"; "
             "\"rotate15\" bounds the rotations at 15 degrees, 10 by default)")
    operations = []
    for operation in augment.split("+"):
        bound = _ROTATE_BOUND.fullmatch(operation)
        if bound is not None and not 0 < float(bound["degrees"]) <= 180:
            _fail(path, f"[data] augment {augment!r}: the rotation bound must be in (0, 180] "
                        f"degrees. Received: {bound['degrees']}")
        operation = "rotate" if bound is not None else operation
        if operation not in _AUGMENTATIONS or operation in operations:
            _fail(path, f"[data] augment must be {valid}, each operation once. "
                        f"Received: {augment!r}")
        operations.append(operation)
    if "flip" in operations and dataset in _UNFLIPPABLE_DATASETS:
        _fail(path, f"[data] augment {augment!r}: dataset {dataset!r} holds digits, and a "
                    "mirrored digit is another symbol (or none), so its label would be wrong. "
                    "Fix: drop 'flip', e.g. augment = \"rotate+crop\".")


def _parse_data(path, task, table, dataset):
    config_class = _TASK_SPECS[task].data_config
    if config_class is None:
        if table is not None:
            _fail(path, f"a {task} card has no [data] table (its dataset says it all). "
                        f"Received: {table!r}")
        return None
    data_config = _parse_section(path, "data", table or {}, config_class, task=task)
    if task == "classification" and not 0 <= data_config.validation_fraction < 1:
        _fail(path, "[data] validation_fraction must be in [0, 1). "
                    f"Received: {data_config.validation_fraction}")
    if task == "classification":
        _check_augment(path, dataset, data_config.augment)
    if task == "super_resolution":
        for name in ("crop_size", "crops_per_image"):
            if getattr(data_config, name) < 1:
                _fail(path, f"[data] {name} must be positive. "
                            f"Received: {getattr(data_config, name)}")
    return data_config


def read_card(path):
    """Reads and checks one card file.

    Args:
        path: a `.toml` file; the card's name is the file name without it.

    A card's `task` (default `"classification"`) decides which
    architectures, datasets and `[data]` / `[training]` keys it may have;
    any other key is an error.

    Returns:
        A `Card`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: invalid TOML or a card that breaks the format (unknown
            key, wrong type, unknown architecture, a key its task does not
            use, ...), naming the file, the key and the value.

    Example:

    >>> card = bz.zoo.read_card("my_models/lenet5_lrt_svhn.toml")
    """
    path = os.fspath(path)
    name = os.path.splitext(os.path.basename(path))[0]
    if not path.endswith(".toml"):
        raise ValueError(f"A zoo card is a .toml file. Received: path={path!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No zoo card file {path}")
    if not _NAME_PATTERN.match(name):
        _fail(path, f"the card's name {name!r} must be lower-case letters, digits and '_'")
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        _fail(path, f"invalid TOML: {error}")
    unknown = sorted(set(document) - set(_TOP_LEVEL_KEYS) - set(_TABLES))
    if unknown:
        _fail(path, f"unknown key(s) {unknown}; a card has {_TOP_LEVEL_KEYS} and the "
                    f"tables {_TABLES}")
    task = document.get("task", "classification")
    _check_choice(path, "task", task, TASKS)
    spec = _TASK_SPECS[task]
    for key in ("architecture", "method", "dataset"):
        if key not in document:
            _fail(path, f"missing `{key}`")
    _check_choice(path, "architecture", document["architecture"], spec.architectures)
    _check_choice(path, "method", document["method"], METHODS)
    _check_choice(path, "dataset", document["dataset"], spec.datasets)
    if "training" not in document:
        _fail(path, "missing the [training] table")
    variational = document["method"] in VARIATIONAL_METHODS
    training_table = document["training"]
    if isinstance(training_table, dict):
        training_table = {"loss": spec.loss, **training_table}
    training = _parse_section(path, "training", training_table, TrainingConfig,
                              allowed=spec.training_keys, task=task)
    _check_training(path, training, task)
    evaluation = _parse_section(path, "evaluation", document.get("evaluation", {}),
                                EvaluationConfig, task=task)
    if evaluation.num_samples < 1:
        _fail(path, "[evaluation] num_samples must be positive. "
                    f"Received: {evaluation.num_samples}")
    data_config = _parse_data(path, task, document.get("data"), document["dataset"])
    for table in ("paper", "results"):
        if not isinstance(document.get(table, {}), dict):
            _fail(path, f"[{table}] must be a table")
    description = document.get("description", "")
    if not isinstance(description, str):
        _fail(path, f"description must be a string. Received: {description!r}")
    return Card(
        name=name,
        path=path,
        description=description,
        task=task,
        architecture=document["architecture"],
        method=document["method"],
        dataset=document["dataset"],
        model=_parse_model(path, document["architecture"], document.get("model", {})),
        prior=_parse_distribution(path, "prior", document.get("prior"), _PRIOR_KINDS,
                                  variational),
        posterior=_parse_distribution(path, "posterior", document.get("posterior"),
                                      _POSTERIOR_KINDS, variational),
        data=data_config,
        training=training,
        evaluation=evaluation,
        paper=dict(document.get("paper", {})),
        results=dict(document.get("results", {})),
        artefacts=_parse_artefacts(path, name, document.get("artefacts", {})),
        document=document,
    )


# ---------------------------------------------------------------------------
# The registry.


def home(root=None):
    """The zoo's home folder, which holds `models/` and `saved_models/`.

    Args:
        root: None or a folder. None: `$BAYES_ZOO_HOME` if set, else the
            repository this package is installed from.

    Returns:
        The folder, as an absolute path.

    Raises:
        FileNotFoundError: the folder does not exist or has no `models/`.

    Example:

    >>> bz.zoo.home()
    '/home/me/bayes-zoo'
    """
    how = {"argument": "the argument `root`", "environment": f"${HOME_VARIABLE}",
           "package": "the repository of the installed package"}[home_source(root)]
    if root is None:
        root = os.environ.get(HOME_VARIABLE) or os.path.dirname(
            os.path.dirname(os.path.abspath(__file__)))
    root = os.path.abspath(os.path.expanduser(os.fspath(root)))
    if not os.path.isdir(os.path.join(root, "models")):
        raise FileNotFoundError(
            f"No zoo cards folder {os.path.join(root, 'models')} (from {how}). Fix: set "
            f"{HOME_VARIABLE} to the bayes-zoo repository, which holds models/*.toml."
        )
    return root


def home_source(root=None):
    """Where `home(root)` takes the zoo's home from.

    The `bayes-zoo` command writes a card's artefacts into its home by
    default only when the user named that home: it never rewrites the
    repository the package is installed from unless asked.

    Args:
        root: None or a folder, as in `home`.

    Returns:
        `"argument"` (`root` given), `"environment"` (`$BAYES_ZOO_HOME`) or
        `"package"` (the repository of the installed package).

    Example:

    >>> bz.zoo.home_source()
    'package'
    """
    if root is not None:
        return "argument"
    return "environment" if os.environ.get(HOME_VARIABLE) else "package"


# `list` is the zoo's public name (DESIGN.md); inside this module the
# built-in is `builtins.list`.
def list(root=None):  # noqa: A001
    """Names of the zoo's cards, sorted.

    Args:
        root: the zoo's home, see `home`.

    Returns:
        A list of str.

    Example:

    >>> bz.zoo.list()[:2]
    ['alexnet_frequentist_cifar10', 'alexnet_half_frequentist_cifar10']
    """
    folder = os.path.join(home(root), "models")
    return sorted(
        os.path.splitext(entry)[0] for entry in os.listdir(folder) if entry.endswith(".toml")
    )


def card(name, root=None):
    """One card, by name or by the path of a `.toml` file.

    Args:
        name: a card name of `list()`, or the path of a card file.
        root: the zoo's home, see `home`.

    Returns:
        A `Card`.

    Raises:
        ValueError: an unknown name (the message lists the known ones) or an
            invalid card.

    Example:

    >>> bz.zoo.card("gal_lenet_all_mcdropout_mnist").model
    {'dropout': 'all', 'dropout_rate': 0.5, 'activation': 'relu', 'train_samples': 1}
    """
    name = os.fspath(name)
    if name.endswith(".toml"):
        return read_card(name)
    known = list(root)
    if name not in known:
        raise ValueError(
            f"Unknown zoo card {name!r}. Known cards: {', '.join(known)}. Fix: pick one of "
            "those (`bayes-zoo list`) or pass the path of a .toml card file."
        )
    return read_card(os.path.join(home(root), "models", f"{name}.toml"))


def cards(root=None):
    """Every card of the zoo, sorted by name.

    Example:

    >>> [(c.name, c.dataset) for c in bz.zoo.cards()][:1]
    [('alexnet_frequentist_cifar10', 'cifar10')]
    """
    return [card(name, root) for name in list(root)]


def _as_card(name_or_card, root):
    return name_or_card if isinstance(name_or_card, Card) else card(name_or_card, root)


def model_path(name, root=None):
    """Where the card's trained `.keras` model lives (whether or not it exists yet).

    Example:

    >>> bz.zoo.model_path("lenet5_lrt_mnist")
    '/home/me/bayes-zoo/saved_models/lenet5_lrt_mnist/model.keras'
    """
    zoo_card = _as_card(name, root)
    return os.path.join(home(root), zoo_card.artefacts["model"])


def _train_command(zoo_card, output_dir):
    """The `bayes-zoo train` command that writes the card's model into `output_dir`."""
    command = f"bayes-zoo train {zoo_card.name}"
    if zoo_card.dataset != "digits":
        command += f" --data-dir FOLDER_WITH_{zoo_card.dataset.upper()}"
    # The command writes into the card's artefact folder by default only in
    # a zoo home named by $BAYES_ZOO_HOME; elsewhere under the current folder.
    default = (os.path.dirname(model_path(zoo_card)) if home_source() == "environment"
               else None)
    if os.path.abspath(output_dir) != default:
        command += f" --output {output_dir}"
    return command


def load(name, root=None, compile=True):
    """Loads a zoo model trained by `bayes-zoo train`.

    Args:
        name: a card name or a `Card`.
        root: the zoo's home, see `home`.
        compile: bool, compile the model with its saved loss, metrics and
            optimizer configuration (for fine-tuning). The optimizer starts
            afresh: a zoo artefact holds no optimizer state (see
            `save_for_inference`).

    Returns:
        The trained `keras.Model`, mapping images to logits.

    Raises:
        ValueError: an unknown card.
        FileNotFoundError: the model was not trained yet; the message gives
            the command that trains it.
        ValueError: the model file exists but is not a readable `.keras`
            archive (truncated or overwritten); see `load_file`.

    Example:

    >>> model = bz.zoo.load("lenet5_lrt_mnist")
    >>> result = bz.predict_with_uncertainty(model, images, num_samples=25)
    """
    zoo_card = _as_card(name, root)
    path = model_path(zoo_card, root)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Zoo model {zoo_card.name!r} is not trained: no file {path}. "
            f"Fix: run `{_train_command(zoo_card, os.path.dirname(path))}`, which writes it."
        )
    return load_file(path, compile=compile, card=zoo_card)


# The members every `.keras` archive that `model.save` writes holds.
_KERAS_ARCHIVE_MEMBERS = ("config.json", "model.weights.h5")


def _archive_problem(path):
    """Why `path` is not a `.keras` archive, or None when it looks like one."""
    if not zipfile.is_zipfile(path):
        return "it is not a zip archive (a truncated download or copy, or another file)"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as error:
        return f"its zip directory is damaged ({error})"
    missing = [member for member in _KERAS_ARCHIVE_MEMBERS if member not in names]
    if missing:
        return f"it is a zip archive without {' and '.join(missing)}, not a `model.save` file"
    return None


def load_file(path, compile=True, card=None):
    """Loads a `.keras` file, telling a corrupt file from a missing one.

    Keras reports a truncated or overwritten `.keras` file as "File not
    found"; this says that the file exists but is not a readable `.keras`
    archive, and how to get a good copy back. The stochastic layers' own
    noise streams restart from Python's `random` (`bz.layers.noise.reseed`),
    so the seeds the file records do not freeze the noise of `model(x)`.

    Args:
        path: the `.keras` file, as written by `model.save` or
            `save_for_inference`.
        compile: bool, as in `keras.models.load_model`.
        card: None, or the card (a name or a `Card`) whose training writes
            the file: the message of a corrupt file then gives its
            `bayes-zoo train` command.

    Returns:
        The `keras.Model`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file exists but is not a readable `.keras` archive.

    Example:

    >>> model = bz.zoo.load_file("runs/demo/model.keras", compile=False)
    """
    import keras

    # Importing them registers the zoo's layers, models and (for a saved
    # optimizer) the trainer's learning-rate schedule with Keras' loading.
    from bayes_zoo import architectures  # noqa: F401
    from bayes_zoo import trainer  # noqa: F401
    from bayes_zoo.layers import noise

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No model file {path}. Fix: pass a .keras file written by `model.save`."
        )
    problem = _archive_problem(path)
    if problem is None:
        try:
            with warnings.catch_warnings():
                # Compiling builds a fresh optimizer, and a `save_for_inference`
                # file holds no state for it: Keras warns of that, which is the
                # point.
                warnings.filterwarnings(
                    "ignore", message="Skipping variable loading for optimizer"
                )
                model = keras.models.load_model(path, compile=compile)
            # The file records each layer's seed: without this, every
            # process that loads it would draw the same noise in `model(x)`.
            noise.reseed(model)
            return model
        except (zipfile.BadZipFile, EOFError, zlib.error) as error:
            # A member's bytes damaged behind an intact zip directory.
            problem = f"a member of the zip archive is damaged ({error})"
    retrain = (
        f"`{_train_command(_as_card(card, None), os.path.dirname(os.path.abspath(path)))}`"
        if card is not None
        else "`bayes-zoo train CARD` for the card that wrote it"
    )
    raise ValueError(
        f"Model file {path} exists but is not a readable .keras archive: {problem}. "
        f"Fix: restore a good copy (if git tracks it, `git checkout -- {path}`) "
        f"or retrain it with {retrain}."
    )


def save_for_inference(model, path):
    """Saves `model` as a `.keras` file without its optimizer's state.

    The file holds what `model.save` writes (architecture, weights, compile
    settings: loss, metrics and the optimizer's configuration) except the
    optimizer's state, which is replaced by that of an unbuilt optimizer of
    the same configuration: the state (Adam's moments are twice the weights)
    serves only to resume training, and a zoo artefact is for prediction and
    fine-tuning. `keras.models.load_model(path)` returns a model that
    predicts as `model` does and can `fit` again with a freshly started
    optimizer; resuming a run exactly needs a `model.save` file (the
    trainer's checkpoint).

    Args:
        model: a Keras model, compiled or not; it is left as it was.
        path: the `.keras` file to write.

    Returns:
        `path`.

    Example:

    >>> model.fit(train_ds, epochs=10)
    >>> bz.zoo.save_for_inference(model, "saved_models/lenet5_lrt_mnist/model.keras")
    >>> model = bz.zoo.load("lenet5_lrt_mnist")
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        model.save(path)
        return path
    # Keras 3's `.keras` format has no `include_optimizer`, and the optimizer
    # is saved from `model.optimizer`: swap in one without per-weight state.
    model.optimizer = type(optimizer).from_config(optimizer.get_config())
    try:
        model.save(path)
    finally:
        model.optimizer = optimizer
    return path


def _export_on_demand(zoo_card, root, export_dir):
    """Exports the card's trained model into `export_dir`; the folder written."""
    from bayes_zoo import export  # Lazy: exporting needs TensorFlow's SavedModel machinery.

    base = os.path.dirname(os.path.dirname(export_dir))
    if not os.access(home(root), os.W_OK):
        raise PermissionError(
            f"Zoo model {zoo_card.name!r} has no SavedModel export yet, and the zoo's home "
            f"{home(root)} is not writable. Fix: run `bayes-zoo export {zoo_card.name} "
            f"--output DIR` and load DIR/{zoo_card.name}/1, or set ${HOME_VARIABLE} to a "
            "writable copy of the zoo."
        )
    print(f"Exporting zoo model {zoo_card.name!r} to {export_dir} (first use; later calls "
          "reuse it)...", flush=True)
    model = load(zoo_card, root, compile=False)
    try:
        export.saved_model(model, export_dir, num_samples=zoo_card.evaluation.num_samples)
    except FileExistsError:
        pass  # Another process exported it first; its rename made it complete.
    export.write_models_config(base)
    return export_dir


def saved_model_path(name, version=None, root=None, must_exist=True, export_if_missing=True):
    """The folder of a SavedModel export of a zoo model, exported on first use.

    Exports follow TensorFlow Serving's layout, one numbered folder per
    version (`saved_models/<name>/<version>/`). The repository commits only
    each card's `model.keras`: the first call without a version exports it
    as version 1 (the card's `[evaluation] num_samples` in
    `serving_default`) into that folder, which git ignores, and later calls
    reuse it. Processes asking at once get one complete export.

    Args:
        name: a card name or a `Card`.
        version: positive int, or None for the highest version exported.
        root: the zoo's home, see `home`.
        must_exist: bool; False returns the path of `version` whether or not
            it exists (where an export should write).
        export_if_missing: bool; with `version=None` and no export yet,
            export the trained `model.keras` (True) or raise (False).

    Returns:
        The folder, as a str.

    Raises:
        FileNotFoundError: with `must_exist`, no such export (and none can
            be made: the model is not trained, or `export_if_missing` is
            False); the message gives the commands that produce it.
        PermissionError: the export should be made but the zoo's home is
            not writable; the message says where to export instead.

    Example:

    >>> bz.zoo.saved_model_path("lenet5_lrt_mnist")
    '/home/me/bayes-zoo/saved_models/lenet5_lrt_mnist/1'
    """
    zoo_card = _as_card(name, root)
    template = os.path.join(home(root), zoo_card.artefacts["saved_model"].rstrip("/"))
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise ValueError(f"Argument `version` must be a positive integer. Received: {version!r}")
    if version is None:
        if not must_exist:
            raise ValueError("Argument `version` is needed with must_exist=False.")
        parent = os.path.dirname(template)
        versions = sorted(
            int(entry)
            for entry in (os.listdir(parent) if os.path.isdir(parent) else ())
            if entry.isdigit() and os.path.isdir(os.path.join(parent, entry))
        )
        if versions:
            return template.format(version=versions[-1])
        if export_if_missing and os.path.isfile(model_path(zoo_card, root)):
            return _export_on_demand(zoo_card, root, template.format(version=1))
        path = template.format(version="<version>")
    else:
        path = template.format(version=version)
        if not must_exist or os.path.isdir(path):
            return path
    raise FileNotFoundError(
        f"Zoo model {zoo_card.name!r} has no SavedModel export {path}. Fix: run "
        f"`bayes-zoo export {zoo_card.name}"
        # Elsewhere than in a $BAYES_ZOO_HOME zoo, the command writes to ./serving.
        + ("" if home_source(root) == "environment"
           else f" --output {os.path.dirname(os.path.dirname(template))}")
        + "`"
        + ("" if os.path.isfile(model_path(zoo_card, root))
           else " after `"
           + _train_command(zoo_card, os.path.dirname(model_path(zoo_card, root))) + "`")
        + "."
    )
