"""Training runs of zoo cards: outputs, resume after an interruption, optimizers, weight decay."""

import csv
import dataclasses
import json
import os
import shutil
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from bayes_zoo import architectures
from bayes_zoo import callbacks as bz_callbacks
from bayes_zoo.tasks.classification import evaluation
from bayes_zoo import trainer
from bayes_zoo import zoo

REPOSITORY_MODELS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models")
# The demo card on 2 batches per epoch: a few seconds per run.
TINY = dict(max_steps_per_epoch=2, verbose=0)


def read_log(output_dir):
    with open(os.path.join(output_dir, trainer.LOG_FILE), newline="") as file:
        return list(csv.DictReader(file))


def read_state(output_dir):
    with open(os.path.join(output_dir, trainer.CHECKPOINT_FOLDER, trainer.STATE_FILE)) as file:
        return json.load(file)


class InterruptAfterFirstEpoch(keras.callbacks.Callback):
    """Stops a run as Ctrl-C would, after the trainer checkpointed epoch 1."""

    def on_epoch_end(self, epoch, logs=None):
        self.iterations = int(self.model.optimizer.iterations.numpy())
        self.optimizer_variables = [v.numpy().copy() for v in self.model.optimizer.variables]
        self.weights = [w.numpy().copy() for w in self.model.weights]
        raise KeyboardInterrupt


class RecordStart(keras.callbacks.Callback):
    """Records the state a resumed run starts from, and the epochs it runs."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_train_begin(self, logs=None):
        self.iterations = int(self.model.optimizer.iterations.numpy())
        self.optimizer_variables = [v.numpy().copy() for v in self.model.optimizer.variables]
        self.weights = [w.numpy().copy() for w in self.model.weights]

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_train_writes_log_checkpoint_model_and_test_metrics(tmp_path):
    run = trainer.train("demo_lrt_digits", epochs=2, output_dir=tmp_path, **TINY)

    rows = read_log(tmp_path)
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    for column in ("loss", "nll", "kl", "accuracy", "val_loss", "val_nll", "val_kl",
                   "val_accuracy", "learning_rate", "seconds"):
        assert all(np.isfinite(float(row[column])) for row in rows), column
    # The loss is the negative ELBO per example: data term plus weighted KL.
    for row in rows:
        assert float(row["loss"]) == pytest.approx(float(row["nll"]) + float(row["kl"]), rel=1e-4)
    assert float(rows[0]["learning_rate"]) == pytest.approx(0.003)

    state = read_state(tmp_path)
    assert state["completed_epochs"] == 2
    assert set(os.listdir(tmp_path / trainer.CHECKPOINT_FOLDER)) == {
        "epoch_0002.keras", "state.json"}

    with open(tmp_path / trainer.METRICS_FILE) as file:
        metrics = json.load(file)
    assert metrics == run.metrics
    assert metrics["num_examples"] == 359 and metrics["num_samples"] == 25
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["nll"] > 0.0
    assert (metrics["card"], metrics["epochs"], metrics["max_steps_per_epoch"]) == (
        "demo_lrt_digits", 2, 2)

    # The trained model leaves out the optimizer's state; the checkpoint keeps it.
    model_file = tmp_path / trainer.MODEL_FILE
    checkpoint = tmp_path / trainer.CHECKPOINT_FOLDER / "epoch_0002.keras"
    assert os.path.getsize(model_file) < 0.5 * os.path.getsize(checkpoint)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        loaded = keras.models.load_model(model_file)
    for trained, restored in zip(run.model.weights, loaded.weights):
        np.testing.assert_array_equal(trained.numpy(), restored.numpy())
    assert int(loaded.optimizer.iterations.numpy()) == 0
    assert int(keras.models.load_model(checkpoint).optimizer.iterations.numpy()) == 4

    # resume=False starts afresh in the same folder.
    start = RecordStart()
    run = trainer.train("demo_lrt_digits", epochs=1, output_dir=tmp_path, resume=False,
                        callbacks=[start], **TINY)
    assert start.epochs == [0] and start.iterations == 0 and run.resumed_from == 0
    assert [int(row["epoch"]) for row in read_log(tmp_path)] == [1]


def test_interrupted_run_resumes_from_its_checkpoint_with_the_same_optimizer_state(tmp_path):
    interrupt = InterruptAfterFirstEpoch()
    with pytest.raises(KeyboardInterrupt):
        trainer.train("demo_lrt_digits", epochs=3, output_dir=tmp_path, callbacks=[interrupt],
                      **TINY)
    assert read_state(tmp_path)["completed_epochs"] == 1
    assert [int(row["epoch"]) for row in read_log(tmp_path)] == [1]
    assert not os.path.exists(tmp_path / trainer.MODEL_FILE)
    assert interrupt.iterations == 2
    # Another run's settings are refused before anything is touched.
    with pytest.raises(ValueError, match=r"a run with batch_size=64, not 32.*another --output"):
        trainer.train("demo_lrt_digits", epochs=3, batch_size=32, output_dir=tmp_path, **TINY)
    # As if the crash came after epoch 2's log row but before its checkpoint.
    with open(tmp_path / trainer.LOG_FILE, "a") as file:
        file.write("2" + ",0" * (len(read_log(tmp_path)[0]) - 1) + "\n")

    start = RecordStart()
    run = trainer.train("demo_lrt_digits", epochs=3, output_dir=tmp_path, callbacks=[start],
                        **TINY)
    assert run.resumed_from == 1 and run.completed_epochs == 3
    assert start.epochs == [1, 2]
    assert start.iterations == interrupt.iterations
    assert len(start.optimizer_variables) == len(interrupt.optimizer_variables)
    for resumed, saved in zip(start.optimizer_variables, interrupt.optimizer_variables):
        np.testing.assert_array_equal(resumed, saved)
    # Adam's moments are there, not freshly zeroed.
    assert any(np.any(value != 0) for value in start.optimizer_variables[2:])
    for resumed, saved in zip(start.weights, interrupt.weights):
        np.testing.assert_array_equal(resumed, saved)
    assert int(run.model.optimizer.iterations.numpy()) == 6
    rows = read_log(tmp_path)
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]
    assert all(float(row["loss"]) > 0 for row in rows)

    # A finished run is evaluated again, not trained further.
    start = RecordStart()
    run = trainer.train("demo_lrt_digits", epochs=3, output_dir=tmp_path, callbacks=[start],
                        **TINY)
    assert start.epochs == [] and run.resumed_from == 3
    assert len(read_log(tmp_path)) == 3


@pytest.mark.parametrize(
    "argument, value",
    [("epochs", 0), ("batch_size", -1), ("train_samples", 1.5), ("max_steps_per_epoch", True),
     ("seed", -3)],
)
def test_bad_arguments_name_themselves(tmp_path, argument, value):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        trainer.train("demo_lrt_digits", output_dir=tmp_path, verbose=0, **{argument: value})


def test_sgd_with_caffe_schedule_and_weight_decay_trains_and_resumes(tmp_path):
    # Gal's solver (SGD, momentum, Caffe "inv" learning rate, weight decay) on
    # MC-dropout LeNet, with the bundled digits in place of MNIST.
    home = tmp_path / "zoo"
    (home / "models").mkdir(parents=True)
    shutil.copy(os.path.join(REPOSITORY_MODELS, "gal_lenet_all_mcdropout_mnist.toml"),
                home / "models" / "gal_digits.toml")
    text = (home / "models" / "gal_digits.toml").read_text()
    (home / "models" / "gal_digits.toml").write_text(
        text.replace('dataset = "mnist"', 'dataset = "digits"'))
    card = zoo.card("gal_digits", root=home)
    trainer.train(card, epochs=1, output_dir=tmp_path / "run", **TINY)
    run = trainer.train(card, epochs=2, output_dir=tmp_path / "run", **TINY)

    optimizer = run.model.optimizer
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.momentum == 0.9
    schedule = optimizer.get_config()["learning_rate"]
    assert schedule["registered_name"] == "bayes_zoo>CaffeInverseDecay"
    assert schedule["config"] == {"initial_learning_rate": 0.01, "gamma": 1e-4, "power": 0.75}
    rates = [float(row["learning_rate"]) for row in read_log(tmp_path / "run")]
    assert rates == pytest.approx([0.01 * (1 + 1e-4 * 2) ** -0.75,
                                   0.01 * (1 + 1e-4 * 4) ** -0.75])
    # Weight decay survived the checkpoint: the loss holds the L2 term.
    kernels = [layer.kernel for layer in run.model.layers if hasattr(layer, "kernel")]
    expected = sum(0.0005 / 2 * float(np.sum(kernel.numpy() ** 2)) for kernel in kernels)
    assert len(run.model.losses) == len(kernels)
    assert float(sum(keras.ops.convert_to_numpy(loss) for loss in run.model.losses)) == (
        pytest.approx(expected, rel=1e-5))


def test_evaluate_model_takes_its_numbers_from_the_evaluation(monkeypatch):
    # One way to compute accuracy, NLL, ECE, ...: bz.evaluation's.
    computed = []

    def evaluate_predictions(labels, result, **kwargs):
        computed.append(real(labels, result, **kwargs))
        return computed[-1]

    real = evaluation.evaluate_predictions
    monkeypatch.setattr(evaluation, "evaluate_predictions", evaluate_predictions)
    model = architectures.lenet5(method="lrt", input_shape=(16, 16, 1), num_classes=3, seed=0)
    rng = np.random.default_rng(0)
    dataset = tf.data.Dataset.from_tensor_slices((
        rng.uniform(size=(10, 16, 16, 1)).astype("float32"), rng.integers(0, 3, size=10),
    )).batch(4)
    numbers = trainer.evaluate_model(model, dataset, num_samples=3, batch_size=4)
    assert len(computed) == 1
    assert numbers == {
        **{key: computed[0][key] for key in (
            "accuracy", "nll", "ece", "brier", "aleatoric", "epistemic", "predictive_entropy",
            "mutual_information", "num_examples")},
        "num_samples": 3,
    }
    assert computed[0]["num_bins"] == 15 and numbers["num_examples"] == 10


def test_weight_decay_skips_variational_layers():
    frequentist = architectures.lenet5(method="frequentist", input_shape=(32, 32, 1))
    assert trainer.apply_weight_decay(frequentist, 5e-4) == ["conv1", "conv2", "fc1", "fc2",
                                                             "logits"]
    lrt = architectures.lenet5(method="lrt", input_shape=(32, 32, 1))
    assert trainer.apply_weight_decay(lrt, 5e-4) == []
    assert trainer.apply_weight_decay(frequentist, 0.0) == []
    with pytest.raises(ValueError, match="weight_decay"):
        trainer.apply_weight_decay(frequentist, -1.0)


def test_caffe_inverse_decay_values_and_config():
    schedule = trainer.CaffeInverseDecay(0.01, gamma=1e-4, power=0.75)
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(10000)) == pytest.approx(0.01 * 2 ** -0.75)
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule))
    assert restored.get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="gamma"):
        trainer.CaffeInverseDecay(0.01, gamma=0.0, power=0.75)


def _with_learning_rate(name, learning_rate):
    card = zoo.card(name)
    return dataclasses.replace(
        card, training=dataclasses.replace(card.training, learning_rate=learning_rate))


def _checkpoint_is_finite(path):
    model = keras.models.load_model(path)
    variables = list(model.weights) + list(model.optimizer.variables)
    return all(np.all(np.isfinite(v.numpy())) for v in variables
               if np.issubdtype(np.asarray(v.numpy()).dtype, np.floating))


def test_diverging_run_stops_at_the_first_non_finite_loss_and_checkpoints_nothing(tmp_path):
    card = _with_learning_rate("demo_lrt_digits", 1e6)
    with pytest.raises(bz_callbacks.TrainingDivergedError) as caught:
        trainer.train(card, epochs=3, output_dir=tmp_path, max_steps_per_epoch=5, verbose=0)
    message = str(caught.value)
    assert caught.value.epoch == 1 and 1 <= caught.value.batch <= 5
    assert f"diverged at epoch 1, batch {caught.value.batch} of 5" in message
    assert "learning_rate is 1e+06" in message and "kl_schedule is 'blundell'" in message
    # A ValueError: `bayes-zoo train` prints it as one line.
    assert isinstance(caught.value, ValueError) and "\n" not in message
    assert not os.path.exists(tmp_path / trainer.CHECKPOINT_FOLDER)
    assert not os.path.exists(tmp_path / trainer.MODEL_FILE)


class PoisonAfterValidation(keras.callbacks.Callback):
    """Makes a weight NaN after epoch `epoch`'s validation, so its logs stay finite."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch

    def on_test_end(self, logs=None):
        if self._current == self.epoch:
            weight = self.model.weights[0]
            weight.assign(np.full(weight.shape, np.nan, "float32"))


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    with pytest.raises(bz_callbacks.TrainingDivergedError,
                       match=r"diverged in epoch 2: after it, \d+ variables are not finite "
                             r"\(conv1/kernel_loc.*not checkpointed"):
        trainer.train("demo_lrt_digits", epochs=3, output_dir=tmp_path,
                      callbacks=[PoisonAfterValidation(epoch=1)], **TINY)
    # Epoch 1's checkpoint and row stay; epoch 2 left neither.
    assert read_state(tmp_path)["completed_epochs"] == 1
    assert [int(row["epoch"]) for row in read_log(tmp_path)] == [1]
    assert _checkpoint_is_finite(tmp_path / trainer.CHECKPOINT_FOLDER / "epoch_0001.keras")


def test_a_non_finite_checkpoint_is_refused_on_resume(tmp_path):
    trainer.train("demo_lrt_digits", epochs=1, output_dir=tmp_path, **TINY)
    # A checkpoint as an older version wrote it for a diverged run.
    path = tmp_path / trainer.CHECKPOINT_FOLDER / "epoch_0001.keras"
    model = keras.models.load_model(path)
    model.weights[0].assign(np.full(model.weights[0].shape, np.nan, "float32"))
    model.save(path)
    with pytest.raises(ValueError, match=r"epoch_0001.keras holds non-finite values in 1 "
                                         r"variables \(conv1/kernel_loc\).*not resumed.*delete"):
        trainer.train("demo_lrt_digits", epochs=2, output_dir=tmp_path, **TINY)
    assert read_state(tmp_path)["completed_epochs"] == 1


class InterruptInEpoch(keras.callbacks.Callback):
    """Stops a run as Ctrl-C would, after `batches` batches of the 0-based `epoch`."""

    def __init__(self, epoch, batches):
        super().__init__()
        self.epoch, self.batches = epoch, batches

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._current == self.epoch and batch + 1 == self.batches:
            raise KeyboardInterrupt


def test_a_run_interrupted_mid_epoch_and_resumed_ends_as_an_uninterrupted_one(tmp_path):
    # 3 batches of each epoch, of its own shuffled order.
    options = dict(epochs=3, max_steps_per_epoch=3, num_samples=2, verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        uninterrupted = trainer.train("demo_lrt_digits", output_dir=tmp_path / "a", **options)
    # A healthy run: no warning of a ballooning KL.
    assert not [w for w in caught if "KL term grew" in str(w.message)]
    with pytest.raises(KeyboardInterrupt):
        trainer.train("demo_lrt_digits", output_dir=tmp_path / "b",
                      callbacks=[InterruptInEpoch(epoch=1, batches=2)], **options)
    assert read_state(tmp_path / "b")["completed_epochs"] == 1
    resumed = trainer.train("demo_lrt_digits", output_dir=tmp_path / "b", **options)
    assert resumed.resumed_from == 1
    assert len(resumed.model.variables) == len(uninterrupted.model.variables)
    # Weights and the layers' noise state, bit for bit.
    for expected, actual in zip(uninterrupted.model.variables, resumed.model.variables):
        np.testing.assert_array_equal(actual.numpy(), expected.numpy(), err_msg=expected.path)
    assert read_log(tmp_path / "b")[-1]["loss"] == read_log(tmp_path / "a")[-1]["loss"]


def test_precision_is_chosen_printed_recorded_and_kept_on_resume(tmp_path, capsys, monkeypatch):
    run = trainer.train("demo_lrt_digits", epochs=1, output_dir=tmp_path, precision="float16",
                        max_steps_per_epoch=2, num_samples=2, verbose=1)
    assert "Precision: float16 (Keras policy mixed_float16)" in capsys.readouterr().out
    assert run.metrics["precision"] == "float16"
    assert isinstance(run.metrics["cpu_bf16_flags"], list)
    with open(os.path.join(tmp_path, trainer.METRICS_FILE)) as file:
        assert json.load(file)["precision"] == "float16"
    assert {layer.compute_dtype for layer in run.model.layers[1:]} == {"float16"}
    assert all(weight.dtype == "float32" for weight in run.model.weights)
    # A resumed run must keep its precision (the card's is float32).
    with pytest.raises(ValueError, match="precision='float16', not 'float32'"):
        trainer.train("demo_lrt_digits", epochs=2, output_dir=tmp_path, max_steps_per_epoch=2,
                      verbose=0)
    # No bf16 units, no bfloat16 (it would be emulated), and auto gives float32.
    monkeypatch.setattr("bayes_zoo.precision.cpu_flags", lambda *args: {"avx2"})
    monkeypatch.setattr("bayes_zoo.precision._gpu_compute_capabilities", lambda: [])
    with pytest.raises(ValueError, match="emulated"):
        trainer.train("demo_lrt_digits", output_dir=tmp_path / "bf16", precision="bfloat16",
                      verbose=0)
    run = trainer.train("demo_lrt_digits", epochs=1, output_dir=tmp_path / "auto",
                        precision="auto", max_steps_per_epoch=1, num_samples=1, verbose=0)
    assert run.metrics["precision"] == "float32"
    with pytest.raises(ValueError, match="Unknown precision"):
        trainer.train("demo_lrt_digits", output_dir=tmp_path / "bad", precision="fp8", verbose=0)


def test_a_truncated_checkpoint_is_reported_as_unreadable_on_resume(tmp_path):
    trainer.train("demo_lrt_digits", epochs=1, output_dir=tmp_path, num_samples=1, **TINY)
    checkpoint = os.path.join(tmp_path, trainer.CHECKPOINT_FOLDER, read_state(tmp_path)["checkpoint"])
    with open(checkpoint, "rb") as file:
        head = file.read(1000)
    with open(checkpoint, "wb") as file:
        file.write(head)
    with pytest.raises(ValueError, match="exists but is not a readable .keras archive"):
        trainer.train("demo_lrt_digits", epochs=2, output_dir=tmp_path, **TINY)
