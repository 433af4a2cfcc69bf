"""A zoo card's training run: checkpoints every epoch, a CSV log, resume, test metrics.

`train(card)` builds the card's model, compiles it as the card says, fits it
with a progress bar (and the card's KL-weight schedule for variational
methods), and writes to its output folder:

- `training_log.csv`: one row per completed epoch: loss, NLL, KL, accuracy,
  their validation values, learning rate, seconds;
- `checkpoint/epoch_NNNN.keras`: the model after the last completed epoch,
  with the optimizer's state;
- `checkpoint/state.json`: that epoch, the run's settings, the training
  time so far, and the state of every `SeedGenerator` of the model (the
  noise of the stochastic layers), which `.keras` files do not store;
- `model.keras`: the trained model without the optimizer's state
  (`bz.saving.save_for_inference`), at the end;
- `metrics.json`: held-out test metrics (Monte Carlo averaged), at the end.

Run again on the same output folder after an interruption, it resumes from
the last completed epoch with the same weights, optimizer state and noise
state, and ends with the weights an uninterrupted run ends with: epoch `e`
sees the batches of `bz.data.DataSplits.train_epochs`, shuffled and augmented
as a function of the seed and `e` alone, and the layers' noise continues
where the checkpoint left it. (Keras' global seed generator is not saved: the
zoo's layers draw from their own generators, and training never uses it.)

`train(card, strategy=...)` trains under a `tf.distribute` strategy:
`"mirrored"` on every local device (GPUs), `"multi-worker"` on several
machines, each running the same call with the cluster described by the
`TF_CONFIG` environment variable. The card's batch size is the global batch,
split among the replicas, so the steps, the loss and the KL weight
(`1 / num_train_examples`, counted once per step) do not depend on the number
of machines. Under multi-worker only the chief (task `chief`, else worker 0)
writes into the output folder; to resume, every worker must see the chief's
folder (a shared file system).

A run that diverges stops with one `bz.callbacks.TrainingDivergedError` at
the first non-finite loss (or non-finite weights at an epoch's end), naming
the epoch and batch and what to try; a checkpoint is written only for
finite weights and optimizer state, and a checkpoint that is not finite (as
older versions wrote) is refused on resume with a message saying so. A KL term that
balloons while the accuracy stays at chance gets a warning
(`bz.callbacks.WarnOnKLGrowth`).
"""

import contextlib
import csv
import dataclasses
import json
import os
import shutil
import tempfile
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from bayes_zoo import callbacks as bz_callbacks
from bayes_zoo import data
from bayes_zoo import precision as bz_precision
from bayes_zoo import pruning as bz_pruning
from bayes_zoo import saving
from bayes_zoo.layers.base_variational import BaseVariational
from bayes_zoo.schedules import CaffeInverseDecay
from bayes_zoo.tasks.classification import evaluation
from bayes_zoo.uncertainty import predict_with_uncertainty

CHECKPOINT_FOLDER = "checkpoint"
STATE_FILE = "state.json"
LOG_FILE = "training_log.csv"
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
# The weights of the epoch a card's `[training] select` chose so far.
BEST_WEIGHTS_FILE = "best.weights.h5"
# `[training] select`: "last", or the validation metric to choose the epoch by.
SELECTION_MODES = {"val_loss": "min", "val_nll": "min", "val_accuracy": "max"}

# Settings a resumed run must share with the run it continues; `epochs` may
# grow (training longer), anything else would mix two different runs.
_RESUME_SETTINGS = ("card", "batch_size", "train_samples", "seed", "max_steps_per_epoch",
                    "precision", "select")
# What a state.json written before a setting existed ran with.
_RESUME_DEFAULTS = {"precision": "float32", "select": "last"}
# `train`'s `strategy` names (None is "default").
STRATEGIES = ("default", "mirrored", "multi-worker")
# The cluster of a multi-worker run, as `tf.distribute.MultiWorkerMirroredStrategy` reads it.
TF_CONFIG_VARIABLE = "TF_CONFIG"
_TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
                      '"task": {"type": "worker", "index": 0}}')
# CSV columns first in this order; other logged values follow, sorted.
_LEADING_COLUMNS = ("epoch", "loss", "nll", "kl", "accuracy",
                    "val_loss", "val_nll", "val_kl", "val_accuracy")
_TRAILING_COLUMNS = ("learning_rate", "seconds")
# The variables of Keras' `SeedGenerator`s have paths ending so.
_SEED_GENERATOR_STATE = "seed_generator_state"
# What `evaluate_model` takes from `bz.evaluation.evaluate_predictions`.
_EVALUATION_KEYS = ("accuracy", "nll", "ece", "brier", "aleatoric", "epistemic",
                    "predictive_entropy", "mutual_information", "num_examples")


def make_learning_rate(training, steps_per_epoch=None, epochs=None):
    """The learning rate (or schedule) of a card's `[training]` table.

    `lr_schedule` is one of:

    - `"constant"`: `learning_rate` throughout.
    - `"linear"`: decays linearly from `learning_rate` to 0 over the run's
      `epochs * steps_per_epoch` steps (the reference code's schedule).
    - `"cosine"`: a cosine decay to 0 over the same steps.
    - `"step"`: multiplied by `lr_gamma` every `lr_step_epochs` epochs.
    - `"caffe_inv"`: Caffe's "inv" policy (`CaffeInverseDecay`).

    A resumed run keeps its checkpoint's schedule, fixed by the epochs of
    the run that started it.

    Args:
        training: a `zoo.TrainingConfig`.
        steps_per_epoch: positive int, needed by "linear", "cosine", "step".
        epochs: positive int, needed by "linear" and "cosine".

    Example:

    >>> rate = bz.trainer.make_learning_rate(card.training, steps_per_epoch=390, epochs=100)
    """
    rate, schedule = training.learning_rate, training.lr_schedule
    if schedule == "constant":
        return rate
    if schedule == "caffe_inv":
        return CaffeInverseDecay(rate, training.lr_gamma, training.lr_power)
    needs_epochs = schedule in ("linear", "cosine")
    if not steps_per_epoch or (needs_epochs and not epochs):
        raise ValueError(
            f"lr_schedule {schedule!r} needs the number of steps per epoch"
            + (" and of epochs" if needs_epochs else "")
            + f". Received: steps_per_epoch={steps_per_epoch}, epochs={epochs}"
        )
    if schedule == "linear":
        return keras.optimizers.schedules.PolynomialDecay(
            rate, decay_steps=epochs * steps_per_epoch, end_learning_rate=0.0, power=1.0
        )
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(rate, decay_steps=epochs * steps_per_epoch)
    return keras.optimizers.schedules.ExponentialDecay(
        rate, decay_steps=training.lr_step_epochs * steps_per_epoch,
        decay_rate=training.lr_gamma, staircase=True,
    )


def make_optimizer(training, steps_per_epoch=None, epochs=None):
    """The optimizer of a card's `[training]` table (a `zoo.TrainingConfig`).

    Args:
        training: a `zoo.TrainingConfig`.
        steps_per_epoch, epochs: for the learning-rate schedules that decay
            over the run (see `make_learning_rate`).

    Example:

    >>> optimizer = bz.trainer.make_optimizer(bz.zoo.card("lenet5_lrt_mnist").training)
    """
    learning_rate = make_learning_rate(training, steps_per_epoch, epochs)
    if training.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=training.momentum)
    return keras.optimizers.Adam(learning_rate)


def apply_weight_decay(model, weight_decay):
    """Puts an L2 penalty on the kernels of the model's non-variational layers.

    The penalty `weight_decay / 2 * sum(w^2)` adds `weight_decay * w` to each
    kernel's gradient, as Caffe's and PyTorch's `weight_decay`. Variational
    layers are left alone: their KL term is their regulariser. The layer's
    `kernel_regularizer` is set too, so that it is saved and restored with the
    model (and resumed training keeps it).

    Args:
        model: a built Keras model.
        weight_decay: float >= 0; 0 does nothing.

    Returns:
        The names of the layers given the penalty.

    Example:

    >>> bz.trainer.apply_weight_decay(model, 5e-4)
    ['conv1', 'conv2', 'fc1', 'logits']
    """
    if weight_decay < 0:
        raise ValueError(f"Argument `weight_decay` must be >= 0. Received: {weight_decay}")
    if weight_decay == 0:
        return []
    penalised = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, BaseVariational) or not hasattr(layer, "kernel_regularizer"):
            continue
        regularizer = keras.regularizers.L2(weight_decay / 2.0)
        layer.kernel_regularizer = regularizer
        layer.kernel.regularizer = regularizer
        penalised.append(layer.name)
    return penalised


def compile_model(model, training, steps_per_epoch=None, epochs=None):
    """Compiles `model` with the card's optimizer, cross-entropy of logits and accuracy.

    `steps_per_epoch` and `epochs` are for the decaying learning-rate
    schedules (`make_learning_rate`).
    """
    apply_weight_decay(model, training.weight_decay)
    model.compile(
        optimizer=make_optimizer(training, steps_per_epoch, epochs),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def evaluate_model(model, dataset, num_samples, batch_size=128):
    """Monte Carlo test metrics of a classifier giving logits.

    Args:
        model: a Keras model mapping images to logits.
        dataset: a `tf.data.Dataset` of `(images, labels)` batches.
        num_samples: positive int, Monte Carlo samples per example.
        batch_size: positive int, examples per graph call.

    Returns:
        A dict of floats: `accuracy`, `nll`, `ece` (15 bins), `brier`, the
        means of `aleatoric` and `epistemic` (Kwon et al.) and of
        `predictive_entropy` and `mutual_information` (Depeweg et al.), and
        `num_examples`, `num_samples`.

    Example:

    >>> splits = bz.data.load_splits("digits", image_size=(32, 32))
    >>> bz.trainer.evaluate_model(model, splits.test, num_samples=25)["accuracy"]
    """
    images, labels = [], []
    for batch_images, batch_labels in dataset:
        images.append(np.asarray(batch_images))
        labels.append(np.asarray(batch_labels))
    images, labels = np.concatenate(images), np.concatenate(labels)
    result = predict_with_uncertainty(model, images, num_samples=num_samples,
                                      batch_size=batch_size)
    # The numbers of `bayes-zoo evaluate`, computed the same way.
    numbers = evaluation.evaluate_predictions(labels, result, num_bins=15)
    return {**{key: numbers[key] for key in _EVALUATION_KEYS}, "num_samples": int(num_samples)}


@dataclasses.dataclass
class TrainingRun:
    """What `train` returns.

    Attributes:
        model: the trained Keras model.
        metrics: dict, the held-out test metrics written to `metrics.json`.
        output_dir: str, the run's folder.
        completed_epochs: int.
        resumed_from: int, the epochs already done when this call started
            (0 for a fresh run).
    """

    model: keras.Model
    metrics: dict
    output_dir: str
    completed_epochs: int
    resumed_from: int


def _write_atomically(path, write):
    """Writes through `write(temporary_path)` then renames, so a crash leaves the old file."""
    temporary = f"{path}.partial{os.path.splitext(path)[1]}"
    write(temporary)
    os.replace(temporary, path)


def _write_json(path, value):
    def write(temporary):
        with open(temporary, "w") as file:
            json.dump(value, file, indent=2, sort_keys=True)
            file.write("\n")

    _write_atomically(path, write)


def _read_state(output_dir):
    path = os.path.join(output_dir, CHECKPOINT_FOLDER, STATE_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as file:
            state = json.load(file)
        checkpoint = os.path.join(output_dir, CHECKPOINT_FOLDER, state["checkpoint"])
        completed = int(state["completed_epochs"])
        settings = dict(state["settings"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"The checkpoint state {path} cannot be read ({error}). Fix: delete "
            f"{os.path.join(output_dir, CHECKPOINT_FOLDER)} to start afresh, or choose "
            "another --output."
        ) from None
    if not os.path.isfile(checkpoint):
        raise ValueError(
            f"The checkpoint state {path} names {checkpoint}, which is missing. Fix: delete "
            f"{os.path.join(output_dir, CHECKPOINT_FOLDER)} to start afresh."
        )
    return {"completed_epochs": completed, "checkpoint": checkpoint, "settings": settings,
            "train_seconds": float(state.get("train_seconds", 0.0)),
            "seed_generators": state.get("seed_generators"), "best": state.get("best"),
            "stopped_early": bool(state.get("stopped_early", False))}


def _seed_generator_states(model):
    """The state variables of the model's `SeedGenerator`s, in the model's order.

    Their paths are renumbered by each load (`seed_generator_5/...`); their
    order, that of the layers, is not.
    """
    return [variable for variable in model.variables
            if variable.path.endswith(_SEED_GENERATOR_STATE)]


def _restore_seed_generators(model, saved, checkpoint):
    """Puts back the seed-generator states that `state.json` saved with `checkpoint`."""
    variables = _seed_generator_states(model)
    if saved is None:
        # A checkpoint written before the states were saved: it still resumes.
        warnings.warn(
            f"The checkpoint state beside {checkpoint} has no seed-generator states, so the "
            "resumed run's noise restarts and it will not match an uninterrupted run.",
            stacklevel=3,
        )
        return
    if len(saved) != len(variables):
        raise ValueError(
            f"The checkpoint state beside {checkpoint} holds {len(saved)} seed-generator "
            f"states, but its model has {len(variables)}. Fix: delete "
            f"{os.path.dirname(checkpoint)} to start afresh."
        )
    for variable, value in zip(variables, saved):
        variable.assign(np.asarray(value, dtype=variable.dtype))


def _non_finite_variables(model):
    """The paths of the model's and its optimizer's float variables holding NaN or inf."""
    variables = list(model.weights)
    if model.optimizer is not None:
        variables += list(model.optimizer.variables)
    bad = []
    for variable in variables:
        value = np.asarray(variable.numpy())
        if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
            bad.append(variable.path)
    return bad


def _listed(paths, limit=3):
    more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
    return ", ".join(paths[:limit]) + more


def _divergence_advice(training, is_variational):
    """What to try when a card's run diverges, naming its settings."""
    advice = ("Try a lower learning rate (the card's [training] learning_rate is "
              f"{training.learning_rate:g})")
    if is_variational:
        advice += (f", or a smaller weight of the KL term ([training] kl_schedule is "
                   f"{training.kl_schedule!r}; 'soenderby' warms the KL up over epochs)")
    return advice + "."


def _check_resumable(state, settings, output_dir):
    for key in _RESUME_SETTINGS:
        saved = state["settings"].get(key, _RESUME_DEFAULTS.get(key))
        if saved != settings[key]:
            raise ValueError(
                f"{output_dir} holds a run with {key}={saved!r}, not "
                f"{settings[key]!r}. Fix: rerun with the same settings to resume it, or pass "
                "another --output (or resume=False) to start a new run."
            )


def _remove_run_progress(output_dir):
    """Removes the checkpoints and the log of an earlier run there, and nothing else.

    An earlier `model.keras` and `metrics.json` stay until the new run
    replaces them at its end.
    """
    shutil.rmtree(os.path.join(output_dir, CHECKPOINT_FOLDER), ignore_errors=True)
    log = os.path.join(output_dir, LOG_FILE)
    if os.path.isfile(log):
        os.remove(log)


def _keep_log_rows(path, completed_epochs):
    """Drops the log rows of epochs after the checkpoint (a crash); returns the header."""
    if not os.path.isfile(path):
        return None
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        header = reader.fieldnames
        rows = [row for row in reader if int(row["epoch"]) <= completed_epochs]

    def write(temporary):
        with open(temporary, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)

    _write_atomically(path, write)
    return header


class _EpochCheckpoint(keras.callbacks.Callback):
    """After each epoch: a CSV row, then the model and the state naming it.

    The row is written before the checkpoint, so every epoch up to the
    checkpoint's has its row; a row of a later epoch (a crash between the
    two) is dropped on resume. With `select` a validation metric, the
    weights of the best epoch so far are kept too (`BEST_WEIGHTS_FILE`,
    named in the state).
    """

    def __init__(self, output_dir, settings, header, train_seconds, advice,
                 select="last", best=None):
        super().__init__()
        self.select = select
        # {"epoch", "monitor", "value"} of the best epoch so far, or None.
        self.best = best
        self.folder = os.path.join(output_dir, CHECKPOINT_FOLDER)
        self.log_path = os.path.join(output_dir, LOG_FILE)
        self.settings = settings
        self.header = header
        self.train_seconds = train_seconds
        self.completed_epochs = None
        self.advice = advice
        self._epoch_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def _learning_rate(self):
        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def _append_row(self, row):
        if self.header is None:
            logged = [key for key in row if key not in ("epoch", *_TRAILING_COLUMNS)]
            self.header = (
                [key for key in _LEADING_COLUMNS if key in row]
                + sorted(key for key in logged if key not in _LEADING_COLUMNS)
                + list(_TRAILING_COLUMNS)
            )
            with open(self.log_path, "w", newline="") as file:
                csv.DictWriter(file, fieldnames=self.header).writeheader()
        with open(self.log_path, "a", newline="") as file:
            csv.DictWriter(file, fieldnames=self.header, extrasaction="ignore").writerow(row)

    def _keep_if_best(self, completed, logs):
        if self.select == "last":
            return
        if self.select not in logs:
            raise ValueError(
                f"[training] select = {self.select!r} needs a validation split that logs "
                f"it; epoch {completed} logged {sorted(logs)}. Fix: set [data] "
                'validation_fraction above 0, or select = "last".'
            )
        value = float(logs[self.select])
        if self.best is not None:
            previous = self.best["value"]
            improved = value < previous if SELECTION_MODES[self.select] == "min" else value > previous
            if not improved:
                return
        path = os.path.join(self.folder, BEST_WEIGHTS_FILE)
        # Keras wants the ".weights.h5" suffix on the temporary file too.
        temporary = path.replace(".weights.h5", ".partial.weights.h5")
        self.model.save_weights(temporary)
        os.replace(temporary, path)
        self.best = {"epoch": completed, "monitor": self.select, "value": value}

    def on_epoch_end(self, epoch, logs=None):
        completed = epoch + 1
        self.completed_epochs = completed
        # Checked before the row: a diverged epoch leaves neither row nor checkpoint.
        bad = _non_finite_variables(self.model)
        if bad:
            raise bz_callbacks.TrainingDivergedError(
                f"Training diverged in epoch {completed}: after it, {len(bad)} variables "
                f"are not finite ({_listed(bad)}), so it was not checkpointed. {self.advice}",
                epoch=completed,
            )
        seconds = time.perf_counter() - self._epoch_start
        self.train_seconds += seconds
        self._append_row({
            "epoch": completed,
            **{key: float(value) for key, value in (logs or {}).items()},
            "learning_rate": self._learning_rate(),
            "seconds": round(seconds, 3),
        })
        os.makedirs(self.folder, exist_ok=True)
        self._keep_if_best(completed, logs or {})
        name = f"epoch_{completed:04d}.keras"
        _write_atomically(os.path.join(self.folder, name), self.model.save)
        _write_json(os.path.join(self.folder, STATE_FILE), {
            "completed_epochs": completed,
            "checkpoint": name,
            "best": self.best,
            "settings": self.settings,
            "train_seconds": round(self.train_seconds, 3),
            "seed_generators": [
                variable.numpy().tolist()
                for variable in _seed_generator_states(self.model)
            ],
        })
        for entry in os.listdir(self.folder):
            if entry.startswith("epoch_") and entry.endswith(".keras") and entry != name:
                os.remove(os.path.join(self.folder, entry))


@dataclasses.dataclass(frozen=True)
class _Distribution:
    """The strategy of a run, and this process's part in it."""

    name: str
    strategy: tf.distribute.Strategy
    num_workers: int = 1
    task: str = "chief"
    is_chief: bool = True

    def describe(self):
        replicas = self.strategy.num_replicas_in_sync
        text = f"{self.name}, {replicas} replica{'s' if replicas > 1 else ''}"
        if self.name == "multi-worker":
            text += (f" on {self.num_workers} workers; this is {self.task}, "
                     + ("the chief, which writes the outputs" if self.is_chief
                        else "whose outputs go to a temporary folder (the chief writes them)"))
        return text


def _tf_config_error(problem):
    return ValueError(
        f"strategy='multi-worker' reads the cluster from the {TF_CONFIG_VARIABLE} environment "
        f"variable, but {problem}. Fix: set {TF_CONFIG_VARIABLE} on every machine to the same "
        f"cluster and that machine's own task, e.g. {_TF_CONFIG_EXAMPLE} on the first machine "
        'and "index": 1 on the second.'
    )


def _cluster_task():
    """`(task, num_workers, is_chief)` of this process, from `TF_CONFIG`, checked.

    The chief is the task of type "chief", or worker 0 in a cluster without one,
    as in TensorFlow's multi-worker tutorial.
    """
    text = os.environ.get(TF_CONFIG_VARIABLE, "")
    if not text.strip():
        raise _tf_config_error("it is not set")
    try:
        config = json.loads(text)
    except ValueError as error:
        raise _tf_config_error(f"it is not JSON ({error})") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not any(
            isinstance(cluster.get(kind), list) and cluster[kind]
            for kind in ("chief", "worker")):
        raise _tf_config_error('its "cluster" lists no "worker" (or "chief") addresses')
    if not isinstance(task, dict) or task.get("type") not in ("chief", "worker"):
        raise _tf_config_error('its "task" is not {"type": "chief" or "worker", "index": N}')
    addresses = cluster.get(task["type"])
    index = task.get("index", 0)
    if not isinstance(addresses, list) or isinstance(index, bool) or not isinstance(index, int) \
            or not 0 <= index < len(addresses):
        raise _tf_config_error(
            f'its task {task["type"]} {index!r} is not among the cluster\'s '
            f'{len(addresses) if isinstance(addresses, list) else 0} {task["type"]} addresses')
    num_workers = len(cluster.get("chief") or []) + len(cluster.get("worker") or [])
    is_chief = task["type"] == "chief" or (index == 0 and not cluster.get("chief"))
    return f"{task['type']} {index}", num_workers, is_chief


def _check_strategy_name(strategy):
    if strategy is not None and strategy not in STRATEGIES:
        raise ValueError(
            f"Unknown strategy: strategy={strategy!r}. Expected None or one of {STRATEGIES}.")


def _distribute(name):
    """The `_Distribution` of a `train(strategy=name)` run; creates its strategy."""
    if name in (None, "default"):
        # The default strategy (or the caller's, inside its scope).
        return _Distribution("default", tf.distribute.get_strategy())
    if name == "mirrored":
        return _Distribution(name, tf.distribute.MirroredStrategy())
    task, num_workers, is_chief = _cluster_task()
    return _Distribution(name, tf.distribute.MultiWorkerMirroredStrategy(), num_workers, task,
                         is_chief)


def _shard_by_batch(dataset, distribution):
    """Under multi-worker, splits each global batch among the workers.

    The pipelines read arrays, not files, so sharding by file (what the
    default policy tries first) cannot apply; sharding by data gives each
    worker its part of every batch.
    """
    if dataset is None or distribution.name != "multi-worker":
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


@contextlib.contextmanager
def _write_folder(output_dir, distribution):
    """The folder this process writes into: `output_dir` for the chief, else a temporary one.

    Every worker runs the same steps, checkpoints included, as TensorFlow's
    multi-worker Keras tutorial recommends (saving may take part in
    collective operations); the other workers write into a temporary folder
    deleted at the end, so that only the chief's files land in `output_dir`.
    """
    if distribution.is_chief:
        os.makedirs(output_dir, exist_ok=True)
        yield output_dir
        return
    folder = tempfile.mkdtemp(prefix=f"bayes_zoo_{distribution.task.replace(' ', '')}_")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _check_workers_agree(distribution, completed, output_dir):
    """Refuses a multi-worker run whose workers would start from different epochs.

    Each worker resumes from the checkpoint in its own `output_dir`; a worker
    that finds none (or another run's) would train other weights for another
    number of steps, and the others would wait for it forever.
    """
    if distribution.num_workers < 2:
        return
    strategy = distribution.strategy

    # In a graph: run eagerly, the collective strategy warns of its overhead.
    @tf.function
    def gather_epochs():
        per_replica = strategy.run(lambda: tf.constant([completed], tf.int32))
        return strategy.gather(per_replica, axis=0)

    epochs = sorted(set(gather_epochs().numpy().tolist()))
    if len(epochs) > 1:
        raise ValueError(
            f"The workers would start from different epochs ({', '.join(map(str, epochs))}): "
            f"each resumes from the checkpoint in its output folder, and {output_dir} on "
            f"{distribution.task} holds {completed} epochs. Fix: give every worker the "
            "chief's output folder (a shared file system, or a copy of it), or start afresh "
            "on all of them (resume=False, or a new --output)."
        )


@dataclasses.dataclass(frozen=True)
class PruningStart:
    """Where a `[pruning]` card's run starts: its parent's trained model, and the budget.

    Attributes:
        model_file: str, the parent card's trained `.keras` file.
        target_parameters: int, the non-zero parameters to prune down to
            (`bz.pruning.prune_to_budget`).
    """

    model_file: str
    target_parameters: int


def _start_from_pruned_parent(model, zoo_card, pruning_start, verbose):
    """Loads the parent's trained weights into `model` and prunes it to the budget."""
    pruning = zoo_card.pruning
    if pruning_start is None:
        raise ValueError(
            f"Card {zoo_card.name!r} prunes the trained model of {pruning.parent!r} ([pruning]), "
            "so its run needs `pruning_start`. Fix: train it by name with bz.trainer.train or "
            "`bayes-zoo train`, which find the parent's model in the zoo.")
    parent = saving.load_model_file(pruning_start.model_file, compile=False,
                                    retrain_command=f"bayes-zoo train {pruning.parent}")
    try:
        model.set_weights(parent.get_weights())
    except ValueError as error:
        raise ValueError(
            f"The trained model {pruning_start.model_file} of {pruning.parent!r} does not fit "
            f"card {zoo_card.name!r}'s network ({error}). Fix: give both cards the same "
            "architecture, [model] and dataset.") from error
    _, report = bz_pruning.prune_to_budget(model, pruning_start.target_parameters,
                                           pruning.criterion)
    _say(verbose, f"Started from {pruning_start.model_file} ({pruning.parent}), pruned:\n"
                  f"{report}")


def _check_optional_positive_int(name, value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(
            f"Argument `{name}` must be a positive integer. Received: {name}={value!r}")


def _say(verbose, message):
    if verbose:
        print(message, flush=True)


def train(
    card,
    *,
    epochs=None,
    batch_size=None,
    train_samples=None,
    num_samples=None,
    data_dir=None,
    output_dir=None,
    seed=0,
    max_steps_per_epoch=None,
    resume=True,
    verbose=1,
    callbacks=(),
    precision=None,
    strategy=None,
    evaluation_split="test",
    pruning_start=None,
):
    """Trains a zoo card's model, with checkpoints, a CSV log and resume.

    Args:
        card: a classification `bz.zoo.Card` (`bz.trainer.train` also takes a
            card name or the path of a card file).
        epochs: positive int, overrides the card's `[training] epochs` (the
            total, counting epochs done before a resume).
        batch_size: positive int, overrides the card's. It is the global
            batch: under a strategy, each step's batch is split among the
            replicas of all workers (the card's `batch_size` of 64 on 2
            workers is 32 examples on each).
        train_samples: positive int, overrides the card's weight samples
            per training step.
        num_samples: positive int, overrides the card's Monte Carlo samples
            of the test evaluation (`[evaluation] num_samples`).
        data_dir: folder holding the dataset (see `bz.data.load`); None
            looks in TFDS' and Keras' default folders. `"digits"` needs none.
        output_dir: the run's folder (`bz.trainer.train`: the card's artefact
            folder, `saved_models/<name>/` in the zoo's home, by default).
        seed: int, seeds Keras (initial weights), the data order and the
            stochastic layers' noise.
        max_steps_per_epoch: positive int or None, caps the training and
            validation batches per epoch (a quick run).
        resume: bool. True continues the run found in `output_dir` from its
            last completed epoch; False deletes that run's checkpoints and
            log and starts afresh.
        verbose: 0 (silent), 1 (what is done, and Keras' progress bar) or 2
            (what is done, and one line per epoch, for logs).
        callbacks: further Keras callbacks for `fit`, after the trainer's.
        precision: None (the card's `[training] precision`, `"float32"` by
            default), `"auto"`, `"float32"`, `"bfloat16"` or `"float16"`:
            the Keras mixed precision policy the model is built with
            (`bz.precision.resolve`; bfloat16 is refused on a CPU without
            bf16 units). The resolved choice is printed and written into
            `metrics.json`; a resumed run keeps its own.
        evaluation_split: `"test"` (the held-out test split, the default) or
            `"validation"`: the split the final metrics are measured on. A
            study that chooses a recipe measures on validation, so that the
            test split is never used to choose anything.
        pruning_start: a `PruningStart`, needed by (and only by) a card with
            a `[pruning]` table: its fresh run loads that trained model,
            prunes it to the budget, and trains it on for the card's
            epochs with the pruned weights held at zero.
        strategy: None or `"default"` (no `tf.distribute` strategy),
            `"mirrored"` (`tf.distribute.MirroredStrategy` on all local
            devices) or `"multi-worker"`
            (`tf.distribute.MultiWorkerMirroredStrategy`, one process per
            machine, each running this same call; the cluster and this
            process's task come from the `TF_CONFIG` environment variable).
            The model is built (or loaded, on resume) and compiled in the
            strategy's scope. Under multi-worker only the chief (task type
            `"chief"`, else worker 0) writes into `output_dir`; the other
            workers write into a temporary folder they delete at the end,
            and resume from the checkpoint in their own `output_dir`, which
            must be the chief's (a shared file system). The strategy and the
            numbers of workers and replicas are written into `metrics.json`.
            A run may resume under another strategy; its noise then differs
            from an uninterrupted run's.

    Returns:
        A `TrainingRun`.

    Raises:
        ValueError: a bad argument, an invalid card, an output folder
            holding a run with other settings or a checkpoint that is not
            finite, a missing or malformed `TF_CONFIG` under multi-worker, or
            workers that would resume from different epochs.
        bz.callbacks.TrainingDivergedError: (a ValueError) the loss or the
            weights became NaN or infinite; the last finite epoch's
            checkpoint stays.
        FileNotFoundError: the dataset or the card cannot be found.

    Example:

    >>> run = bz.trainer.train("demo_lrt_digits", epochs=5, output_dir="runs/demo")
    >>> run.metrics["accuracy"]

    On each of two machines, with `TF_CONFIG` naming both and that machine's
    index:

    >>> run = bz.trainer.train("demo_lrt_digits", strategy="multi-worker",
    ...                        output_dir="/shared/runs/demo")
    """
    zoo_card = card
    if not hasattr(zoo_card, "training") or getattr(zoo_card, "task", None) != "classification":
        raise ValueError("Argument `card` must be a classification card (a `bz.zoo.Card`); "
                         f"`bz.trainer.train` also takes card names. Received: card={card!r}")
    if output_dir is None:
        raise ValueError("Argument `output_dir` is needed: the run's folder. (`bz.trainer.train` "
                         "defaults it to the card's artefact folder.)")
    for name, value in (("epochs", epochs), ("batch_size", batch_size),
                        ("train_samples", train_samples), ("num_samples", num_samples),
                        ("max_steps_per_epoch", max_steps_per_epoch)):
        _check_optional_positive_int(name, value)
    if evaluation_split not in ("test", "validation"):
        raise ValueError("Argument `evaluation_split` must be 'test' or 'validation'. "
                         f"Received: evaluation_split={evaluation_split!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"Argument `seed` must be a non-negative integer. Received: seed={seed!r}")
    _check_strategy_name(strategy)
    epochs = epochs or zoo_card.training.epochs
    batch_size = batch_size or zoo_card.training.batch_size
    train_samples = train_samples or zoo_card.model.get("train_samples", 1)
    output_dir = os.path.abspath(os.fspath(output_dir))
    training_precision = bz_precision.resolve(precision or zoo_card.training.precision)
    settings = {
        "card": zoo_card.name,
        "architecture": zoo_card.architecture,
        "method": zoo_card.method,
        "dataset": zoo_card.dataset,
        "batch_size": batch_size,
        "train_samples": train_samples,
        "seed": seed,
        "max_steps_per_epoch": max_steps_per_epoch,
        "precision": training_precision,
        "select": zoo_card.training.select,
    }

    distribution = _distribute(strategy)
    # Recorded, not required to match on resume: a run may move to more machines.
    settings["strategy"] = distribution.name

    state = _read_state(output_dir)
    if state is not None and not resume:
        state = None
    if state is not None:
        _check_resumable(state, settings, output_dir)

    keras.utils.set_random_seed(seed)
    # `batch_size` is the global batch: each step's batch is split among the
    # replicas (across the workers), so a run takes the same steps on any
    # number of machines.
    splits = data.load_splits(
        zoo_card.dataset,
        batch_size=batch_size,
        seed=seed,
        data_dir=data_dir,
        validation_fraction=zoo_card.data.validation_fraction,
        augment=zoo_card.data.augment,
        image_size=zoo_card.data.image_size,
    )
    validation_data = splits.validation
    if evaluation_split == "validation" and validation_data is None:
        raise ValueError(
            f"evaluation_split='validation' needs a validation split, and card "
            f"{zoo_card.name!r} has [data] validation_fraction = 0. Fix: set it above 0."
        )
    if max_steps_per_epoch is not None and validation_data is not None:
        validation_data = validation_data.take(max_steps_per_epoch)
    validation_data = _shard_by_batch(validation_data, distribution)

    with _write_folder(output_dir, distribution) as write_dir:
        if state is None:
            _remove_run_progress(write_dir)
            # The layers keep the policy they are built with (and save it);
            # the variables are the strategy's when built in its scope.
            with bz_precision.policy_scope(training_precision), distribution.strategy.scope():
                model = zoo_card.build_model(
                    num_train_examples=splits.num_train_examples,
                    input_shape=splits.info.image_shape,
                    num_classes=splits.info.num_classes,
                    seed=seed,
                    train_samples=train_samples,
                )
                if zoo_card.pruning is not None:
                    _start_from_pruned_parent(model, zoo_card, pruning_start, verbose)
                # The steps of the whole run, over which a decaying schedule runs.
                _, steps_per_epoch = splits.train_epochs(
                    epochs, steps_per_epoch=max_steps_per_epoch)
                compile_model(model, zoo_card.training, steps_per_epoch, epochs)
            completed, train_seconds, header, best = 0, 0.0, None, None
        else:
            # The checkpoint holds the weights, the optimizer's state and the
            # compiled loss and metrics.
            # A truncated checkpoint is reported as such, not as a missing file.
            with distribution.strategy.scope():
                model = saving.load_model_file(
                    state["checkpoint"],
                    retrain_command=f"bayes-zoo train {zoo_card.name} --output {output_dir}")
            # Refused rather than rolled back: only the last checkpoint is kept,
            # so there is no finite one to fall back to.
            bad = _non_finite_variables(model)
            if bad:
                raise ValueError(
                    f"The checkpoint {state['checkpoint']} holds non-finite values in "
                    f"{len(bad)} variables ({_listed(bad)}): that run diverged, and it is not "
                    f"resumed. Fix: delete {os.path.join(output_dir, CHECKPOINT_FOLDER)} (or "
                    "pass resume=False) to start afresh, with a lower learning rate."
                )
            _restore_seed_generators(model, state["seed_generators"], state["checkpoint"])
            completed, train_seconds = state["completed_epochs"], state["train_seconds"]
            best = state.get("best")
            header = _keep_log_rows(os.path.join(write_dir, LOG_FILE), completed)
            if state["stopped_early"]:
                # Early stopping ended that run: resuming it trains no further.
                epochs = completed
        _check_workers_agree(distribution, completed, output_dir)

        _say(verbose, (
            f"{zoo_card.name}: {zoo_card.architecture} ({zoo_card.method}) on "
            f"{zoo_card.dataset} from {splits.source}; {splits.num_train_examples} training, "
            f"{splits.num_validation_examples} validation, {splits.num_test_examples} test "
            "examples"
        ))
        _say(verbose, f"Precision: {bz_precision.describe(training_precision)}")
        _say(verbose, f"Strategy: {distribution.describe()}")
        if completed >= epochs:
            _say(verbose, f"{output_dir} already holds {completed} trained epochs (of {epochs}).")
        else:
            _say(verbose, (f"Resuming from epoch {completed} of {epochs}" if completed
                           else f"Training {epochs} epochs") + f"; writing to {write_dir}")
            advice = _divergence_advice(zoo_card.training, zoo_card.is_variational)
            fit_callbacks = []
            if zoo_card.is_variational:
                fit_callbacks += [
                    bz_callbacks.KLWeightSchedule(zoo_card.training.kl_schedule,
                                                  beta=zoo_card.training.kl_beta),
                    bz_callbacks.WarnOnKLGrowth(splits.info.num_classes, advice=advice),
                ]
            # Before the checkpoint, which must never see a diverged epoch.
            fit_callbacks.append(bz_callbacks.RaiseOnNonFiniteLoss(advice))
            checkpoint = _EpochCheckpoint(write_dir, settings, header, train_seconds, advice,
                                          select=zoo_card.training.select, best=best)
            fit_callbacks.append(checkpoint)
            patience = zoo_card.training.early_stopping_patience
            if patience:
                # After the checkpoint, which records the epoch it stops at.
                fit_callbacks.append(keras.callbacks.EarlyStopping(
                    monitor=zoo_card.training.select, patience=patience,
                    mode=SELECTION_MODES[zoo_card.training.select], verbose=int(verbose > 0)))
            fit_callbacks.extend(callbacks)
            # Only the epochs still to train, each as an uninterrupted run sees it.
            train_data, steps_per_epoch = splits.train_epochs(
                epochs, initial_epoch=completed, steps_per_epoch=max_steps_per_epoch)
            try:
                model.fit(
                    _shard_by_batch(train_data, distribution),
                    validation_data=validation_data,
                    epochs=epochs,
                    initial_epoch=completed,
                    steps_per_epoch=steps_per_epoch,
                    callbacks=fit_callbacks,
                    # bz.data shuffles the training pipeline itself.
                    shuffle=False,
                    verbose=verbose,
                )
            except bz_callbacks.TrainingDivergedError:
                # Keras' progress bar stops mid-line: end it, so the error has a line of
                # its own.
                _say(verbose, "")
                raise
            train_seconds = checkpoint.train_seconds
            best = checkpoint.best
            if checkpoint.completed_epochs is not None and checkpoint.completed_epochs < epochs:
                completed = epochs = checkpoint.completed_epochs
                state_path = os.path.join(write_dir, CHECKPOINT_FOLDER, STATE_FILE)
                with open(state_path) as file:
                    stopped = {**json.load(file), "stopped_early": True}
                _write_json(state_path, stopped)
                _say(verbose, f"Stopped early after epoch {completed}: "
                              f"{zoo_card.training.select} did not improve for "
                              f"{zoo_card.training.early_stopping_patience} epochs.")
        if best is not None:
            # The chosen epoch's weights are the ones evaluated and written.
            model.load_weights(os.path.join(write_dir, CHECKPOINT_FOLDER, BEST_WEIGHTS_FILE))
            _say(verbose, f"Selected epoch {best['epoch']} by {best['monitor']} "
                          f"({best['value']:.4f}).")
        resumed_from = completed
        completed = max(completed, epochs)

        num_samples = num_samples or zoo_card.evaluation.num_samples
        evaluated, count = (
            (splits.test, f"{splits.num_test_examples} held-out test")
            if evaluation_split == "test"
            else (splits.validation, f"{splits.num_validation_examples} validation")
        )
        _say(verbose, f"Evaluating on the {count} examples "
                      f"({num_samples} Monte Carlo sample{'s' if num_samples > 1 else ''})...")
        # Every worker evaluates the whole split on its own (no collective
        # operations); only the chief's numbers are written.
        test_metrics = evaluate_model(model, evaluated, num_samples)
        test_metrics.update({
            "evaluated_on": evaluation_split,
            "card": zoo_card.name,
            "dataset": zoo_card.dataset,
            "data_source": splits.source,
            "epochs": completed,
            "batch_size": batch_size,
            "train_samples": train_samples,
            "seed": seed,
            "max_steps_per_epoch": max_steps_per_epoch,
            "precision": training_precision,
            "cpu_bf16_flags": sorted(bz_precision.CPU_BF16_FLAGS & bz_precision.cpu_flags()),
            "strategy": distribution.name,
            "num_workers": distribution.num_workers,
            "num_replicas": distribution.strategy.num_replicas_in_sync,
            "train_seconds": round(train_seconds, 3),
            "selected_by": zoo_card.training.select,
            "selected_epoch": best["epoch"] if best is not None else completed,
        })
        if zoo_card.pruning is not None:
            counts = bz_pruning.count_parameters(model)
            test_metrics.update({"pruned_from": zoo_card.pruning.parent,
                                 "non_zero_parameters": counts["non_zero_parameters"],
                                 "non_zero_means": counts["non_zero_means"]})
        _write_atomically(os.path.join(write_dir, MODEL_FILE),
                          lambda path: saving.save_for_inference(model, path))
        _write_json(os.path.join(write_dir, METRICS_FILE), test_metrics)
        _say(verbose, (
            f"{evaluation_split.capitalize()} accuracy {test_metrics['accuracy']:.2%}, "
            f"NLL {test_metrics['nll']:.4f}, "
            f"ECE {test_metrics['ece']:.4f}. Wrote {os.path.join(write_dir, MODEL_FILE)} and "
            f"{METRICS_FILE}."
        ))
    return TrainingRun(model=model, metrics=test_metrics, output_dir=output_dir,
                       completed_epochs=completed, resumed_from=resumed_from)
