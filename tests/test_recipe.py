"""The training recipe's knobs: learning-rate schedules, the kept epoch, the KL convention of a card."""

import csv
import dataclasses
import json
import os

import numpy as np
import pytest

from bayes_zoo import trainer
from bayes_zoo.tasks.classification import trainer as task_trainer
from bayes_zoo import zoo


def _training(**changes):
    return dataclasses.replace(zoo.card("demo_lrt_digits").training, **changes)


def _rates(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_linear_and_cosine_decay_to_zero_over_the_run():
    linear = trainer.make_learning_rate(_training(lr_schedule="linear", learning_rate=0.1),
                                        steps_per_epoch=10, epochs=4)
    np.testing.assert_allclose(_rates(linear, [0, 20, 40]), [0.1, 0.05, 0.0], atol=1e-7)
    cosine = trainer.make_learning_rate(_training(lr_schedule="cosine", learning_rate=0.1),
                                        steps_per_epoch=10, epochs=4)
    np.testing.assert_allclose(_rates(cosine, [0, 20, 40]), [0.1, 0.05, 0.0], atol=1e-7)


def test_step_decay_multiplies_every_period():
    step = trainer.make_learning_rate(
        _training(lr_schedule="step", learning_rate=0.1, lr_gamma=0.5, lr_step_epochs=2),
        steps_per_epoch=10)
    np.testing.assert_allclose(_rates(step, [0, 19, 20, 39, 40]), [0.1, 0.1, 0.05, 0.05, 0.025],
                               rtol=1e-6)


def test_evaluation_split_is_checked():
    with pytest.raises(ValueError, match="evaluation_split"):
        trainer.train("demo_lrt_digits", evaluation_split="train", verbose=0)


def test_decaying_schedules_need_the_run_length():
    with pytest.raises(ValueError, match="steps per epoch and of epochs"):
        trainer.make_learning_rate(_training(lr_schedule="linear"), steps_per_epoch=10)
    assert trainer.make_learning_rate(_training(lr_schedule="constant")) == pytest.approx(0.003)


def _card_file(tmp_path, **training):
    with open(zoo.card("demo_lrt_digits").path) as file:
        text = file.read()
    kept = [line for line in text.splitlines(keepends=True)
            if line.split("=")[0].strip() not in training]
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in training.items())
    text = "".join(kept).replace("[training]\n", "[training]\n" + lines, 1)
    path = os.path.join(tmp_path, "recipe_card.toml")
    with open(path, "w") as file:
        file.write(text)
    return path


@pytest.mark.parametrize("training, message", [
    ({"select": "accuracy"}, "select must be one of"),
    ({"kl_beta": 0.0}, "kl_beta must be positive"),
    ({"lr_schedule": "step"}, "needs lr_step_epochs"),
    ({"kl_schedule": "tempred"}, "kl_schedule must be one of"),
    ({"early_stopping_patience": -1}, "early_stopping_patience must be >= 0"),
    ({"early_stopping_patience": 5, "select": "last"}, "needs a validation metric"),
])
def test_cards_reject_bad_recipe_settings(tmp_path, training, message):
    with pytest.raises(ValueError, match=message):
        zoo.card(_card_file(tmp_path, **training))


def test_a_run_keeps_and_evaluates_the_epoch_best_on_validation(tmp_path):
    card = zoo.card(_card_file(tmp_path, select="val_loss", lr_schedule="linear",
                               kl_schedule="tempered", kl_beta=0.5))
    run = trainer.train(card, epochs=3, output_dir=os.path.join(tmp_path, "run"),
                        max_steps_per_epoch=2, num_samples=2, verbose=0,
                        evaluation_split="validation")
    # A recipe study measures on validation: the test split is never read.
    assert run.metrics["evaluated_on"] == "validation"
    assert run.metrics["num_examples"] == 144  # 10% of the 1,438 non-test digits
    with open(os.path.join(run.output_dir, trainer.LOG_FILE), newline="") as file:
        rows = list(csv.DictReader(file))
    losses = [float(row["val_loss"]) for row in rows]
    best_epoch = int(np.argmin(losses)) + 1
    assert run.metrics["selected_by"] == "val_loss"
    assert run.metrics["selected_epoch"] == best_epoch
    # The learning rate decays linearly to 0 over the 3 x 2 steps.
    rates = [float(row["learning_rate"]) for row in rows]
    np.testing.assert_allclose(rates, [0.003 * (1 - 2 * k / 6) for k in (1, 2, 3)], rtol=1e-5)
    kept = zoo.load_file(os.path.join(run.output_dir, trainer.MODEL_FILE))
    best = os.path.join(run.output_dir, trainer.CHECKPOINT_FOLDER, trainer.BEST_WEIGHTS_FILE)
    reference = zoo.load_file(os.path.join(run.output_dir, trainer.MODEL_FILE))
    reference.load_weights(best)
    for written, chosen in zip(kept.weights, reference.weights):
        np.testing.assert_array_equal(written.numpy(), chosen.numpy())


def test_the_checkpoint_keeps_the_best_epochs_weights_not_the_last(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")  # the checkpoint logs the learning rate
    checkpoint = task_trainer._EpochCheckpoint(str(tmp_path), {}, None, 0.0, "", select="val_loss")
    checkpoint.set_model(model)
    kernels = []
    for epoch, val_loss in enumerate([3.0, 1.0, 2.0]):
        model.layers[0].kernel.assign(np.full((2, 1), float(epoch), "float32"))
        kernels.append(model.layers[0].kernel.numpy().copy())
        checkpoint.on_epoch_begin(epoch)
        checkpoint.on_epoch_end(epoch, {"loss": 0.0, "val_loss": val_loss})
    assert checkpoint.best == {"epoch": 2, "monitor": "val_loss", "value": 1.0}
    with open(os.path.join(tmp_path, trainer.CHECKPOINT_FOLDER, trainer.STATE_FILE)) as file:
        assert json.load(file)["best"]["epoch"] == 2
    model.load_weights(os.path.join(tmp_path, trainer.CHECKPOINT_FOLDER, trainer.BEST_WEIGHTS_FILE))
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), kernels[1])
    accuracy = task_trainer._EpochCheckpoint(str(tmp_path), {}, None, 0.0, "", select="val_accuracy")
    accuracy.set_model(model)
    with pytest.raises(ValueError, match="validation_fraction"):
        accuracy.on_epoch_begin(0)
        accuracy.on_epoch_end(0, {"loss": 0.0})


def test_early_stopping_ends_the_run_when_the_selected_metric_stalls(tmp_path):
    # A learning rate too small to change any prediction: validation accuracy
    # never improves after the first epoch, so a patience of 1 stops at epoch 2.
    card = zoo.card(_card_file(tmp_path, select="val_accuracy", early_stopping_patience=1,
                               learning_rate=1e-12))
    run = trainer.train(card, epochs=6, output_dir=os.path.join(tmp_path, "run"),
                        max_steps_per_epoch=2, num_samples=2, verbose=0,
                        evaluation_split="validation")
    assert run.metrics["epochs"] == 2
    assert run.metrics["selected_epoch"] == 1
    # Resuming the stopped run trains no further.
    again = trainer.train(card, epochs=6, output_dir=os.path.join(tmp_path, "run"),
                          max_steps_per_epoch=2, num_samples=2, verbose=0,
                          evaluation_split="validation")
    assert again.metrics["epochs"] == 2


def test_an_l1_penalty_on_the_posterior_means_joins_the_loss_but_not_the_kl():
    import keras
    import tensorflow as tf

    import bayes_zoo as bz

    posterior = zoo.posterior_from_table({"kind": "mean_field_normal", "loc_l1": 0.5})
    assert isinstance(posterior.loc_regularizer, keras.regularizers.L1)
    with pytest.raises(ValueError, match="loc_l1 must be >= 0"):
        zoo.posterior_from_table({"kind": "mean_field_normal", "loc_l1": -1.0})
    # The regularizer survives the posterior's config (and so a .keras file).
    restored = bz.posteriors.MeanFieldNormal.from_config(posterior.get_config())
    assert float(restored.loc_regularizer.l1) == pytest.approx(0.5)

    inputs = keras.Input((3,))
    layer = bz.layers.DenseLocalReparameterization(2, posterior=posterior, kl_weight=0.01,
                                                   seed=0)
    model = bz.training.BayesianModel(inputs, layer(inputs))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.zeros(8, "int64")
    loc = layer.kernel_posterior_variables["loc"]
    bias_loc = layer.bias_posterior_variables["loc"]
    with tf.GradientTape() as tape:
        model(x, training=True)
        penalty = sum(model.losses) - 0.01 * layer.kl_divergence()
    # 0.5 * sum |mu| over the kernel only; the bias carries no penalty.
    np.testing.assert_allclose(float(penalty), 0.5 * np.abs(loc.numpy()).sum(), rtol=1e-5)
    gradients = tape.gradient(penalty, [loc, bias_loc])
    np.testing.assert_allclose(gradients[0].numpy(), 0.5 * np.sign(loc.numpy()), rtol=1e-5)
    assert gradients[1] is None or not np.any(gradients[1].numpy())
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["kl"], 0.01 * float(layer.kl_divergence()), rtol=1e-4)
    np.testing.assert_allclose(logs["loss"], logs["nll"] + logs["kl"] + float(penalty),
                               rtol=1e-4)
