"""`bz.trainer`: a zoo card's training run, by card name or `Card`.

The run itself lives in `bayes_zoo.tasks.classification.trainer` and takes a
`Card` and a folder; this module, which sits above the zoo, resolves a card
name (or a card file) and defaults the folder to the card's artefact folder,
and re-exports the rest unchanged.

Example:

>>> run = bz.trainer.train("demo_lrt_digits", epochs=5, output_dir="runs/demo")
>>> run.metrics["accuracy"]
"""

import os

from bayes_zoo import zoo
from bayes_zoo.schedules import CaffeInverseDecay
from bayes_zoo.tasks.classification import trainer as _task_trainer
from bayes_zoo.tasks.classification.trainer import BEST_WEIGHTS_FILE
from bayes_zoo.tasks.classification.trainer import CHECKPOINT_FOLDER
from bayes_zoo.tasks.classification.trainer import LOG_FILE
from bayes_zoo.tasks.classification.trainer import METRICS_FILE
from bayes_zoo.tasks.classification.trainer import MODEL_FILE
from bayes_zoo.tasks.classification.trainer import PruningStart
from bayes_zoo.tasks.classification.trainer import SELECTION_MODES
from bayes_zoo.tasks.classification.trainer import STATE_FILE
from bayes_zoo.tasks.classification.trainer import STRATEGIES
from bayes_zoo.tasks.classification.trainer import TF_CONFIG_VARIABLE
from bayes_zoo.tasks.classification.trainer import TrainingRun
from bayes_zoo.tasks.classification.trainer import apply_weight_decay
from bayes_zoo.tasks.classification.trainer import compile_model
from bayes_zoo.tasks.classification.trainer import evaluate_model
from bayes_zoo.tasks.classification.trainer import make_learning_rate
from bayes_zoo.tasks.classification.trainer import make_optimizer

__all__ = [
    "BEST_WEIGHTS_FILE", "CHECKPOINT_FOLDER", "LOG_FILE", "METRICS_FILE", "MODEL_FILE",
    "SELECTION_MODES", "STATE_FILE", "STRATEGIES", "TF_CONFIG_VARIABLE", "CaffeInverseDecay",
    "PruningStart", "TrainingRun", "apply_weight_decay", "compile_model", "evaluate_model",
    "make_learning_rate", "make_optimizer", "pruning_start", "train",
]


def train(card, *, output_dir=None, **options):
    """Trains a zoo card's model; see `bayes_zoo.tasks.classification.trainer.train`.

    Args:
        card: a `bz.zoo.Card`, a card name or the path of a card file.
        output_dir: the run's folder; the card's artefact folder
            (`saved_models/<name>/` in the zoo's home) by default.
        **options: the keyword arguments of the task's `train` (`epochs`,
            `data_dir`, `seed`, `resume`, `precision`, `strategy`, ...).

    Returns:
        A `TrainingRun`.

    Example:

    >>> run = bz.trainer.train("lenet5_lrt_mnist", epochs=2, data_dir="data")
    """
    zoo_card = card if isinstance(card, zoo.Card) else zoo.card(card)
    if output_dir is None:
        output_dir = os.path.dirname(zoo.model_path(zoo_card))
    if zoo_card.pruning is not None and options.get("pruning_start") is None:
        options["pruning_start"] = pruning_start(zoo_card)
    return _task_trainer.train(zoo_card, output_dir=output_dir, **options)


def pruning_start(zoo_card):
    """Where a `[pruning]` card starts: its parent's trained model, in the card's own zoo.

    The budget is the parameter count of the `[pruning] parameters_of`
    card's network, built (untrained) on the card's dataset.

    Args:
        zoo_card: a `bz.zoo.Card` with a `[pruning]` table.

    Returns:
        A `PruningStart`.

    Raises:
        FileNotFoundError: the parent card has no trained model yet (the
            message gives the command that trains it).

    Example:

    >>> bz.trainer.pruning_start(bz.zoo.card("alexnet_lrt_l1_pruned_cifar10"))
    """
    folder = os.path.dirname(zoo_card.path)
    root = os.path.dirname(folder)
    parent = zoo.read_card(os.path.join(folder, f"{zoo_card.pruning.parent}.toml"))
    model_file = os.path.join(root, parent.artefacts["model"])
    if not os.path.isfile(model_file):
        raise FileNotFoundError(
            f"Card {zoo_card.name!r} prunes the trained model of {parent.name!r}, and "
            f"{model_file} does not exist. Fix: train it first "
            f"(`bayes-zoo train {parent.name}`).")
    budget = zoo.read_card(os.path.join(folder, f"{zoo_card.pruning.parameters_of}.toml"))
    # The count depends on the network's shapes only, not on the KL's N.
    target = budget.build_model(num_train_examples=1).count_params()
    return _task_trainer.PruningStart(model_file=model_file, target_parameters=int(target))
