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
    "TrainingRun", "apply_weight_decay", "compile_model", "evaluate_model",
    "make_learning_rate", "make_optimizer", "train",
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
    return _task_trainer.train(zoo_card, output_dir=output_dir, **options)
