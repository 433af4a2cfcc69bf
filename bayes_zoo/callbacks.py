"""Training callbacks: KL-weight schedules."""

import keras

from bayes_zoo.layers.base_variational import BaseVariational

SCHEDULES = ("constant", "blundell", "standard", "soenderby")


def blundell_factor(batch_index, num_batches):
    """`M * pi_i` with `pi_i = 2^(M - i) / (2^M - 1)` for batch `i = 1..M`.

    Blundell et al. (2015), eq. 9: the KL is spread over the M minibatches of
    an epoch, heavily on the first ones, and the `pi_i` sum to one. Written
    as `2^-i / (1 - 2^-M)` so that large M does not overflow.
    """
    i = batch_index + 1
    return num_batches * 2.0 ** (-i) / (1.0 - 2.0 ** (-num_batches))


class KLWeightSchedule(keras.callbacks.Callback):
    """Sets the KL weight of every variational layer during `fit`.

    Each variational layer adds `kl_weight * KL(q || p)` to the loss and
    starts with `kl_weight = 1 / num_train_examples` (as the zoo's builders
    set it), so that `fit` minimises the negative ELBO per example. A schedule
    multiplies that initial weight by a factor per batch:

    - `"constant"`: `scale`, throughout (1 by default).
    - `"standard"`: Blundell et al.'s `pi_i = 1 / M` per minibatch, which per
      example is the initial weight itself (factor 1).
    - `"blundell"`: `pi_i = 2^(M - i) / (2^M - 1)` over the M batches of an
      epoch (the paper's appendix), i.e. factor `M * pi_i`; the factors of an
      epoch average to one.
    - `"soenderby"`: linear warm-up from 0 to 1 over `warmup_epochs` epochs
      (Soenderby et al., 2016).
    - a callable `f(epoch, batch, num_batches) -> factor`.

    Validation and evaluation use the initial weight (factor 1), so the
    reported validation loss is the negative ELBO per example.

    Args:
        schedule: one of the names above, or a callable.
        scale: float, the factor of the `"constant"` schedule.
        warmup_epochs: positive int, the length of the `"soenderby"` warm-up.

    Example:

    >>> model.fit(train_ds, epochs=10,
    ...           callbacks=[bz.callbacks.KLWeightSchedule("blundell")])
    """

    def __init__(self, schedule="constant", scale=1.0, warmup_epochs=10):
        super().__init__()
        if not callable(schedule) and schedule not in SCHEDULES:
            raise ValueError(
                f"Unknown argument `schedule`: expected one of {SCHEDULES} or a "
                f"callable f(epoch, batch, num_batches). Received: schedule={schedule!r}"
            )
        if not warmup_epochs > 0:
            raise ValueError(
                "Argument `warmup_epochs` must be positive. "
                f"Received: warmup_epochs={warmup_epochs}"
            )
        self.schedule = schedule
        self.scale = float(scale)
        self.warmup_epochs = warmup_epochs
        self._epoch = 0
        self._factor = None

    def factor(self, epoch, batch, num_batches):
        """The multiplier of the initial KL weight at this step."""
        if callable(self.schedule):
            return float(self.schedule(epoch, batch, num_batches))
        if self.schedule == "constant":
            return self.scale
        if self.schedule == "standard":
            return 1.0
        if self.schedule == "blundell":
            return blundell_factor(batch, num_batches)
        return min(1.0, (epoch + batch / num_batches) / self.warmup_epochs)

    def _variational_layers(self):
        return [
            layer
            for layer in self.model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, BaseVariational)
        ]

    def _set_factor(self, factor):
        if factor == self._factor:
            return
        for layer in self._variational_layers():
            layer.kl_weight.assign(layer.initial_kl_weight * factor)
        self._factor = factor

    def _num_batches(self):
        steps = (self.params or {}).get("steps")
        if not steps:
            raise ValueError(
                f"KLWeightSchedule({self.schedule!r}) needs the number of batches "
                "per epoch: pass `steps_per_epoch` to fit(), or a dataset whose "
                "length is known (tf.data cardinality, or a NumPy array)."
            )
        return steps

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self._set_factor(self.factor(self._epoch, batch, self._num_batches()))

    def on_test_begin(self, logs=None):
        self._set_factor(1.0)

    def on_train_end(self, logs=None):
        self._set_factor(1.0)
