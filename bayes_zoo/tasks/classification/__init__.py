"""The image-classification task: LeNet-5, AlexNet, AlexNetHalf, 3Conv3FC and Gal's LeNet.

Everything about classification is in this folder:

- `architectures`: the network builders (`bz.architectures` re-exports them);
- `trainer`: a card's training run, with checkpoints, resume and test metrics
  (`bz.trainer`);
- `evaluation`: the held-out evaluation with its figures (`bz.evaluation`);
- `serving`: the SavedModel signatures of a classifier (`bz.export`).

This module declares the task's card section to the zoo (`TASK`); it imports
no TensorFlow, so that reading cards starts at once.

Example:

>>> from bayes_zoo.tasks import classification
>>> classification.TASK.datasets[:3]
('mnist', 'fashion_mnist', 'cifar10')
"""

import dataclasses
import re

from bayes_zoo import task_registry

DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn_cropped", "digits")
# The builders' parameters, as `architectures` defines them
# (tests/test_light_imports.py checks that they agree).
_CLASSIFIER_PARAMETERS = ("method", "input_shape", "num_classes", "num_train_examples",
                          "prior", "posterior", "activation", "train_samples", "dropout_rate",
                          "seed")
BUILDER_PARAMETERS = {
    "lenet5": _CLASSIFIER_PARAMETERS,
    "alexnet": _CLASSIFIER_PARAMETERS,
    "alexnet_half": _CLASSIFIER_PARAMETERS,
    "three_conv_three_fc": _CLASSIFIER_PARAMETERS,
    "gal_lenet": _CLASSIFIER_PARAMETERS + ("dropout",),
}


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


# What `bz.data.load(augment=...)` accepts (tests/test_data.py checks that
# they agree): cards are read without TensorFlow, so without bz.data.
_AUGMENTATIONS = ("rotate", "crop", "flip")
_ROTATE_BOUND = re.compile(r"rotate(?P<degrees>\d+(?:\.\d+)?)")
_UNFLIPPABLE_DATASETS = ("mnist", "svhn_cropped", "digits")  # labels lost by mirroring


def _augment_problem(dataset, augment):
    """Why `augment` is not a bool or a policy that `bz.data` applies to `dataset`, or None."""
    if isinstance(augment, bool):
        return None
    valid = (f"false, true, or some of {_AUGMENTATIONS} joined by '+' (e.g. \"flip+rotate\"; "
             "\"rotate15\" bounds the rotations at 15 degrees, 10 by default)")
    operations = []
    for operation in augment.split("+"):
        bound = _ROTATE_BOUND.fullmatch(operation)
        if bound is not None and not 0 < float(bound["degrees"]) <= 180:
            return (f"[data] augment {augment!r}: the rotation bound must be in (0, 180] "
                    f"degrees. Received: {bound['degrees']}")
        operation = "rotate" if bound is not None else operation
        if operation not in _AUGMENTATIONS or operation in operations:
            return (f"[data] augment must be {valid}, each operation once. "
                    f"Received: {augment!r}")
        operations.append(operation)
    if "flip" in operations and dataset in _UNFLIPPABLE_DATASETS:
        return (f"[data] augment {augment!r}: dataset {dataset!r} holds digits, and a "
                "mirrored digit is another symbol (or none), so its label would be wrong. "
                "Fix: drop 'flip', e.g. augment = \"rotate+crop\".")
    return None


def _data_problem(dataset, data):
    if not 0 <= data.validation_fraction < 1:
        return f"[data] validation_fraction must be in [0, 1). Received: {data.validation_fraction}"
    return _augment_problem(dataset, data.augment)


def _build_model(card, num_train_examples, input_shape=None, num_classes=None, seed=None,
                 train_samples=None):
    from bayes_zoo import data
    from bayes_zoo.tasks.classification import architectures

    info = data.dataset_info(card.dataset, card.data.image_size)
    arguments = dict(card.model)
    if train_samples is not None:
        arguments["train_samples"] = train_samples
    # The architecture names are the builders' names.
    return getattr(architectures, card.architecture)(
        method=card.method,
        input_shape=tuple(input_shape or info.image_shape),
        num_classes=num_classes or info.num_classes,
        num_train_examples=num_train_examples,
        prior=card.make_prior(),
        posterior=card.make_posterior(),
        seed=seed,
        **arguments,
    )


TASK = task_registry.register(task_registry.Task(
    name="classification",
    builder_parameters=BUILDER_PARAMETERS,
    datasets=DATASETS,
    loss="cross_entropy",
    optimizers=("adam", "sgd"),
    data_config=DataConfig,
    training_keys=("epochs", "batch_size", "learning_rate", "optimizer", "loss", "momentum",
                   "weight_decay", "lr_schedule", "lr_gamma", "lr_power", "kl_schedule",
                   "precision", "lr_step_epochs", "kl_beta", "select",
                   "early_stopping_patience"),
    check_data=_data_problem,
    build_model=_build_model,
    serves=task_registry.lazy("bayes_zoo.tasks.classification.serving", "serves"),
    serving_endpoints=task_registry.lazy("bayes_zoo.tasks.classification.serving", "endpoints"),
    register_keras_objects=task_registry.lazy("bayes_zoo.tasks.classification.architectures"),
))
