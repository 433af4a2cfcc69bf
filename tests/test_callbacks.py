"""KL-weight schedules."""

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
