"""The zoo's card schema: a card's TOML, checked and read into a `Card`.

A card (`models/<name>.toml`, read with `tomllib`) says what a zoo model is and
how it is trained: its task (`bz.task_registry.names()`: image classification,
the default, or `"super_resolution"` and `"gan"`), architecture, method and
dataset, the builder's arguments (`[model]`), the prior and posterior of the
variational layers (`[prior]`, `[posterior]`), the data pipeline (`[data]`),
the optimisation (`[training]`), the Monte Carlo evaluation (`[evaluation]`),
what the papers report (`[paper]`), what this zoo measured (`[results]`), and
where the trained artefacts live (`[artefacts]`). Each task declares what its
cards may say (`bz.task_registry.Task`); this module checks every card against
its task's declaration and names the file, the key and the value of anything
wrong. Reading cards imports no TensorFlow.

The tables are frozen dataclasses checked by hand rather than by a schema
library: the checks are a few dozen lines, the error messages name the card
file and say how to fix the value, and a dependency would bring neither.

Example:

>>> card = bz.zoo.read_card("models/lenet5_lrt_mnist.toml")
>>> card.task, card.training.learning_rate
('classification', 0.001)
"""

import builtins
import dataclasses
import os
import re
import tomllib

from bayes_zoo import card_tables
from bayes_zoo import precision
from bayes_zoo import task_registry
from bayes_zoo import tasks  # noqa: F401  (registers the built-in tasks)

# What cards may name, as `bz.architectures` and `bz.data` define them
# (tests/test_light_imports.py checks that they agree).
METHODS = ("frequentist", "bbb", "lrt", "flipout", "mc_dropout")
VARIATIONAL_METHODS = ("bbb", "lrt", "flipout")
# The registered tasks, and every optimizer some task runs.
TASKS = task_registry.names()
OPTIMIZERS = tuple(dict.fromkeys(optimizer for task in task_registry.registered()
                                 for optimizer in task.optimizers))
# Each builder's parameters, which a card's [model] table may set (but for
# `_RESERVED_MODEL_ARGUMENTS`), as the tasks declare them.
BUILDER_PARAMETERS = {architecture: parameters
                      for task in task_registry.registered()
                      for architecture, parameters in task.builder_parameters.items()}
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
class PruningConfig:
    """The `[pruning]` table of a classification card: a pruned copy of another row.

    A card with it does not train from scratch: its training loads the
    `parent` card's trained `model.keras`, prunes it with `bz.pruning` (a
    kernel mask inside each variational layer: the pruned weights have zero
    mean, no variance and no KL) until its non-zero parameters are those of
    the `parameters_of` card's model, and trains the pruned model on for the
    card's `[training] epochs` with the pruned weights held at zero.

    Attributes:
        parent: str, the name of the card whose trained model is pruned (a
            card of the same zoo folder, architecture and dataset).
        parameters_of: str, the card whose model's parameter count is the
            budget (e.g. the frequentist twin).
        criterion: `"l1"` (smallest posterior mean `|mu|` first, the paper's)
            or `"signal_to_noise"` (smallest `|mu| / sigma` first).
    """

    parent: str
    parameters_of: str
    criterion: str = "l1"


PRUNING_CRITERIA = ("l1", "signal_to_noise")


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
        task: a name of `bz.task_registry.names()`: `"classification"` (a card without `task`),
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
        data: the `[data]` table as its task's dataclass (`DataConfig` for
            classification, `PhotographDataConfig` for super-resolution) or
            None (gan, which has no `[data]`).
        training: `TrainingConfig`.
        evaluation: `EvaluationConfig`.
        pruning: `PruningConfig` or None: a card that prunes another row's
            trained model instead of training from scratch.
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
    data: object  # the task's [data] dataclass, or None
    training: TrainingConfig
    evaluation: EvaluationConfig
    pruning: PruningConfig | None
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
        return card_tables.prior_from_table(self.prior)

    def make_posterior(self):
        """The `bz.posteriors.Posterior` of the `[posterior]` table, or None without one."""
        return card_tables.posterior_from_table(self.posterior)

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
        build = task_registry.get(self.task).build_model
        if build is None:
            module = "super_resolution" if self.task == "super_resolution" else "gan"
            raise ValueError(
                f"Card {self.name!r} is a {self.task!r} card: build_model builds "
                f"classifiers. Fix: train it with bz.{module}.train_card(card.document, ...)."
            )
        return build(self, num_train_examples, input_shape=input_shape, num_classes=num_classes,
                     seed=seed, train_samples=train_samples)


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
    if annotation == bool | str:  # [data] augment; the classification task reads the string
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
    spec = task_registry.get(task)
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
    "model", "prior", "posterior", "data", "training", "evaluation", "pruning", "paper",
    "results", "artefacts",
)


def _parse_data(path, task, table, dataset):
    config_class = task.data_config
    if config_class is None:
        if table is not None:
            _fail(path, f"a {task.name} card has no [data] table (its dataset says it all). "
                        f"Received: {table!r}")
        return None
    data_config = _parse_section(path, "data", table or {}, config_class, task=task.name)
    problem = task.check_data(dataset, data_config) if task.check_data else None
    if problem is not None:
        _fail(path, problem)
    return data_config


def _parse_pruning(path, document, variational):
    table = document.get("pruning")
    if table is None:
        return None
    if document.get("task", "classification") != "classification" or not variational:
        _fail(path, "[pruning] is for classification cards of a variational method "
                    f"(its layers hold the kernel masks). Received: task "
                    f"{document.get('task', 'classification')!r}, method {document['method']!r}")
    pruning = _parse_section(path, "pruning", table, PruningConfig)
    _check_choice(path, "[pruning] criterion", pruning.criterion, PRUNING_CRITERIA)
    folder = os.path.dirname(os.path.abspath(path))
    for key in ("parent", "parameters_of"):
        name = getattr(pruning, key)
        if not os.path.isfile(os.path.join(folder, f"{name}.toml")):
            _fail(path, f"[pruning] {key} names {name!r}, which is no card of {folder}")
    if pruning.parent == os.path.splitext(os.path.basename(path))[0]:
        _fail(path, "[pruning] parent names the card itself")
    return pruning


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
    _check_choice(path, "task", task, task_registry.names())
    spec = task_registry.get(task)
    for key in ("architecture", "method", "dataset"):
        if key not in document:
            _fail(path, f"missing `{key}`")
    _check_choice(path, "architecture", document["architecture"],
                  tuple(spec.builder_parameters))
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
    data_config = _parse_data(path, spec, document.get("data"), document["dataset"])
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
        prior=_parse_distribution(path, "prior", document.get("prior"), card_tables.PRIOR_KINDS,
                                  variational),
        posterior=_parse_distribution(path, "posterior", document.get("posterior"),
                                      card_tables.POSTERIOR_KINDS, variational),
        data=data_config,
        training=training,
        evaluation=evaluation,
        pruning=_parse_pruning(path, document, variational),
        paper=dict(document.get("paper", {})),
        results=dict(document.get("results", {})),
        artefacts=_parse_artefacts(path, name, document.get("artefacts", {})),
        document=document,
    )
