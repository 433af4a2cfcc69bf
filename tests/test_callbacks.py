"""Training callbacks: KL-weight schedules, divergence checks."""

import warnings

import keras
import numpy as np
import pytest

import bayes_zoo as bz


def _model(kl_weight):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, bz.layers.DenseFlipout(2, kl_weight=kl_weight)(inputs))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class _RecordKLWeight(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append(float(self.model.layers[-1].kl_weight))


def _fit(schedule, epochs=2, num_batches=4):
    model = _model(kl_weight=0.01)
    recorder = _RecordKLWeight()
    x = np.zeros((8 * num_batches, 3), "float32")
    y = np.zeros(8 * num_batches, "int32")
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=[schedule, recorder])
    return np.array(recorder.weights).reshape(epochs, num_batches), model


def test_blundell_schedule_follows_the_paper_and_restores_the_weight():
    weights, model = _fit(bz.callbacks.KLWeightSchedule("blundell"))
    m = 4
    pi = np.array([2.0 ** (m - i) / (2.0**m - 1) for i in range(1, m + 1)])
    np.testing.assert_allclose(weights[0], 0.01 * m * pi, rtol=1e-6)
    np.testing.assert_allclose(weights[1], weights[0])
    np.testing.assert_allclose(pi.sum(), 1.0)
    assert float(model.layers[-1].kl_weight) == pytest.approx(0.01)


def test_blundell_factor_does_not_overflow_for_many_batches():
    factors = [bz.callbacks.blundell_factor(i, 5000) for i in range(5000)]
    assert np.isfinite(factors).all()
    np.testing.assert_allclose(np.mean(factors), 1.0, rtol=1e-6)


def test_constant_standard_and_soenderby_schedules():
    weights, _ = _fit(bz.callbacks.KLWeightSchedule("constant", scale=2.0))
    np.testing.assert_allclose(weights, 0.02)
    weights, _ = _fit(bz.callbacks.KLWeightSchedule("standard"))
    np.testing.assert_allclose(weights, 0.01)
    weights, _ = _fit(bz.callbacks.KLWeightSchedule("soenderby", warmup_epochs=2))
    expected = [[(e + b / 4) / 2 * 0.01 for b in range(4)] for e in range(2)]
    np.testing.assert_allclose(weights, expected, rtol=1e-6)


@pytest.mark.parametrize("name, per_example", [
    # The KL weight per example each convention gives, with N = 100 (kl_weight 0.01), M = 4.
    ("elbo", lambda e, b: 0.01),
    ("tempered", lambda e, b: 0.1 * 0.01),
    ("blundell", lambda e, b: 4 * 2.0 ** (4 - b - 1) / 15 * 0.01),
    ("reference_blundell", lambda e, b: 2.0 ** (4 - b - 1) / 15 * 0.01),
    ("warmup", lambda e, b: min(1.0, (e + b / 4) / 2) * 0.01),
])
def test_each_convention_gives_its_documented_per_example_weight(name, per_example):
    schedule = bz.callbacks.KLWeightSchedule(name, warmup_epochs=2, beta=0.1)
    weights, _ = _fit(schedule)
    expected = [[per_example(e, b) for b in range(4)] for e in range(2)]
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    documented = [[schedule.per_example_weight(e, b, 4, 100) for b in range(4)] for e in range(2)]
    np.testing.assert_allclose(weights, documented, rtol=1e-6)


def test_blundell_averages_to_the_elbo_and_the_reference_variant_to_a_mth_of_it():
    m = 50
    blundell = [bz.callbacks.KLWeightSchedule("blundell").factor(0, b, m) for b in range(m)]
    reference = [bz.callbacks.KLWeightSchedule("reference_blundell").factor(0, b, m) for b in range(m)]
    assert np.mean(blundell) == pytest.approx(1.0)
    assert np.mean(reference) == pytest.approx(1.0 / m)
    with pytest.raises(ValueError, match="beta"):
        bz.callbacks.KLWeightSchedule("tempered", beta=0.0)


def test_user_function_schedule():
    weights, _ = _fit(bz.callbacks.KLWeightSchedule(lambda epoch, batch, m: 10.0 * epoch))
    np.testing.assert_allclose(weights, [[0.0] * 4, [0.1] * 4], rtol=1e-6)


def test_schedule_needs_the_number_of_batches():
    import tensorflow as tf

    model = _model(0.01)
    dataset = tf.data.Dataset.from_tensors((np.zeros((4, 3), "float32"), np.zeros(4, "int32"))).repeat(2)
    dataset = dataset.filter(lambda x, y: True)  # unknown cardinality
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(dataset, epochs=1, verbose=0, callbacks=[bz.callbacks.KLWeightSchedule("blundell")])


# ---------------------------------------------------------------------------
# Divergence: non-finite losses, a ballooning KL.


def _tiny_classifier(num_classes=10):
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(num_classes)(inputs))


def _epochs(callback, logs_per_epoch, model=None):
    """Feeds `callback` the epoch logs of a fit, as Keras would."""
    callback.set_model(model or _tiny_classifier())
    callback.on_train_begin()
    for epoch, logs in enumerate(logs_per_epoch):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, logs)


def test_raise_on_non_finite_loss_names_epoch_batch_and_advice():
    callback = bz.callbacks.RaiseOnNonFiniteLoss()
    callback.set_model(_tiny_classifier())
    callback.set_params({"epochs": 3, "steps": 20})
    callback.on_epoch_begin(0)
    callback.on_train_batch_end(0, {"loss": 2.3, "kl": 0.5})
    callback.on_epoch_end(0, {"loss": 2.3, "val_loss": 2.2})
    callback.on_epoch_begin(1)
    callback.on_train_batch_end(0, {"loss": 2.1, "kl": 0.5})
    with pytest.raises(bz.callbacks.TrainingDivergedError,
                       match=r"diverged at epoch 2, batch 2 of 20: loss=nan, kl=inf\. .*"
                             r"lower learning rate") as caught:
        callback.on_train_batch_end(1, {"loss": float("nan"), "kl": np.float32("inf"),
                                        "accuracy": 0.1})
    assert (caught.value.epoch, caught.value.batch) == (2, 2)
    assert isinstance(caught.value, ValueError)
    # A validation loss gone NaN is caught at the epoch's end.
    with pytest.raises(bz.callbacks.TrainingDivergedError,
                       match=r"in epoch 2: at its end val_loss=nan") as caught:
        callback.on_epoch_end(1, {"loss": 2.0, "val_loss": float("nan")})
    assert (caught.value.epoch, caught.value.batch) == (2, None)


def test_raise_on_non_finite_loss_stops_fit_at_the_first_nan_batch():
    model = _tiny_classifier(2)
    model.compile(keras.optimizers.SGD(1e30), "mse")
    x = np.full((64, 3), 1e10, "float32")
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    with pytest.raises(bz.callbacks.TrainingDivergedError, match="epoch 1, batch"):
        model.fit(x, np.zeros((64, 2), "float32"), batch_size=8, epochs=3, verbose=0,
                  callbacks=[bz.callbacks.RaiseOnNonFiniteLoss(), Record()])
    # The batch that diverged reached no later callback.
    assert len(seen) < 8


def test_kl_growth_warning_fires_once_when_the_kl_balloons_at_chance():
    callback = bz.callbacks.WarnOnKLGrowth()  # 10 classes, from the model
    logs = [{"kl": 728.0, "accuracy": 0.10}, {"kl": 2900.0, "accuracy": 0.11},
            {"kl": 13852.0, "accuracy": 0.09}, {"kl": 40000.0, "accuracy": 0.10}]
    with pytest.warns(UserWarning, match=r"KL term grew 19-fold, from 728 in epoch 1 to "
                                         r"13,852 in epoch 3.*at chance.*lower learning rate"):
        _epochs(callback, logs)
    assert callback.warned
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        callback.on_epoch_end(4, {"kl": 1e6, "accuracy": 0.1})  # once is enough


@pytest.mark.parametrize("logs", [
    # A healthy run: the KL settles while the network learns.
    [{"kl": 700.0, "accuracy": 0.3}, {"kl": 300.0, "accuracy": 0.8}, {"kl": 250.0,
                                                                      "accuracy": 0.9}],
    # The KL grows tenfold but the network learns (a KL warm-up).
    [{"kl": 10.0, "accuracy": 0.2}, {"kl": 100.0, "accuracy": 0.7}, {"kl": 200.0,
                                                                     "accuracy": 0.9}],
    # At chance, but the KL does not balloon.
    [{"kl": 700.0, "accuracy": 0.1}, {"kl": 900.0, "accuracy": 0.1}, {"kl": 1200.0,
                                                                      "accuracy": 0.1}],
    # No KL logged (a frequentist model).
    [{"loss": 2.3, "accuracy": 0.1}, {"loss": 9.0, "accuracy": 0.1}],
])
def test_kl_growth_warning_stays_quiet_otherwise(logs):
    callback = bz.callbacks.WarnOnKLGrowth()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _epochs(callback, logs)
    assert not callback.warned


def test_kl_growth_warning_chance_follows_the_number_of_classes():
    logs = [{"kl": 1.0, "accuracy": 0.5}, {"kl": 50.0, "accuracy": 0.52}]
    with pytest.warns(UserWarning, match="chance is 50.0%"):
        _epochs(bz.callbacks.WarnOnKLGrowth(num_classes=2), logs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _epochs(bz.callbacks.WarnOnKLGrowth(num_classes=10), logs)
    with pytest.raises(ValueError, match="`factor`"):
        bz.callbacks.WarnOnKLGrowth(factor=1.0)
    with pytest.raises(ValueError, match="`num_classes`"):
        bz.callbacks.WarnOnKLGrowth(num_classes=1)
