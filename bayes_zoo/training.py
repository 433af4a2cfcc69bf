"""The zoo's Keras model: K weight samples per training step, NLL and KL logged apart.

`BayesianModel` is a functional `keras.Model` (built as `BayesianModel(inputs,
outputs)`) that `fit`, `evaluate`, `predict`, `save` and `load_model` treat as
any Keras model. It adds two things:

- `train_samples=K`: each training step repeats the batch K times along the
  batch axis and runs one vectorised forward pass, so the data term of the
  loss is the likelihood averaged over K weight samples (the paper draws 10 to
  25). The KL terms of the layers are added once per step.
- the logs of `fit` and `evaluate` hold `nll` (the compiled loss, the data
  term) and `kl` (the weighted KL of the variational layers, as it enters the
  loss) beside `loss`.
"""

import keras
import tensorflow as tf

from bayes_zoo.callbacks import WarnOnDominantKL
from bayes_zoo.layers.base_variational import BaseVariational
from bayes_zoo.layers.stochastic_layer import stacked_weight_samples
from bayes_zoo.layers.stochastic_layer import stochastic_layers


def _repeat_batch(structure, num_samples):
    """Stacks `num_samples` copies of every tensor of `structure` on axis 0."""

    def repeat(tensor):
        if tensor is None:
            return None
        multiples = [num_samples] + [1] * (len(tensor.shape) - 1)
        return tf.tile(tensor, multiples)

    return keras.tree.map_structure(repeat, structure)


def _across_workers(strategy):
    """Whether `strategy` is a MultiWorkerMirroredStrategy with replicas on other workers."""
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.num_replicas_in_sync > len(strategy.extended.worker_devices))


def _reducible_across_workers(logs):
    """A step's logs, as vectors of one value when the replicas span several workers.

    Keras (3.15) averages such logs with `strategy.reduce("MEAN", value,
    axis=0)`, which refuses scalars (keras-team/keras#20585); one value per
    replica averages to the mean over the replicas, a scalar again, as the
    replicas of one worker are averaged.
    """
    if not _across_workers(tf.distribute.get_strategy()):
        return logs
    return {key: tf.reshape(value, [1]) for key, value in logs.items()}


def _with_kl_check(callbacks):
    callbacks = list(callbacks or [])
    if not any(isinstance(callback, WarnOnDominantKL) for callback in callbacks):
        callbacks.append(WarnOnDominantKL())
    return callbacks


@keras.saving.register_keras_serializable(package="bayes_zoo")
class BayesianModel(keras.Model):
    """A functional Keras model trained with K weight samples per step.

    Built like `keras.Model(inputs, outputs)`. With `train_samples=K`, every
    training step tiles the batch K times (copy `k` of every example is row
    `k * batch_size + i`), tells the `Reparameterization` layers to draw one
    kernel per copy (as `bz.layers.set_weight_samples` does; the local
    reparameterization, flipout and MC dropout layers draw per example
    anyway), and runs one forward pass. The compiled loss, a mean over the
    tiled batch, is then the likelihood averaged over the K samples; the KL
    terms the layers add through `add_loss` enter once. Compiled metrics see
    the K predictions of every example. `evaluate` and `predict` run one pass
    over the batch as in plain Keras (one Monte Carlo draw; see
    `bayes_zoo.layers.posterior_mean` for the posterior means).

    Under `tf.distribute` strategies each replica tiles its own share of the
    batch, and Keras scales the loss and the `add_loss` terms by the number of
    replicas, so the KL is counted once per step, not once per replica. That
    holds across machines too (`tf.distribute.MultiWorkerMirroredStrategy`,
    which `fit` of a plain Keras 3.15 model refuses: this model works around
    keras-team/keras#20585).

    The logs of `fit` and `evaluate` hold, beside `loss` and the compiled
    metrics, `nll` (the compiled loss) and `kl` (the sum of the KL terms of
    the variational layers, each `kl_weight * KL(q || p)`); `loss` is their
    sum plus any other `add_loss` term, such as weight regularisers. `nll` is
    computed as `loss` minus the `add_loss` terms, so it is exact to the
    float32 rounding of `loss` (about 1e-7 of it).

    The training step is written for the TensorFlow backend, the package's
    backend.

    Args:
        *args: `inputs`, `outputs` and the other arguments of a functional
            `keras.Model`.
        train_samples: int >= 1, the number of weight samples per training
            step. Set it before `fit`; changing it afterwards takes effect at
            the next `fit` or `train_on_batch`.
        **kwargs: keyword arguments of a functional `keras.Model`, such as
            `name`.

    Example:

    >>> inputs = keras.Input((32, 32, 1))
    >>> x = bz.layers.Conv2DLocalReparameterization(6, 5, kl_weight=1 / 60000)(inputs)
    >>> x = keras.layers.Flatten()(x)
    >>> logits = bz.layers.DenseLocalReparameterization(10, kl_weight=1 / 60000)(x)
    >>> model = bz.training.BayesianModel(inputs, logits, train_samples=10)
    >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> history = model.fit(images, labels, epochs=1)
    >>> history.history["nll"], history.history["kl"]
    """

    def __init__(self, *args, train_samples=1, **kwargs):
        super().__init__(*args, **kwargs)
        self.train_samples = train_samples
        self.nll_tracker = keras.metrics.Mean(name="nll")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    @property
    def train_samples(self):
        return self._train_samples

    @train_samples.setter
    def train_samples(self, value):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                "Argument `train_samples` must be an integer >= 1. "
                f"Received: train_samples={value!r}"
            )
        self._train_samples = value
        # The number of samples is read while tracing the training step.
        self.train_function = None

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, with `bz.callbacks.WarnOnDominantKL` among the callbacks."""
        # `callbacks` is fit's sixth positional argument.
        if len(args) > 5:
            args = list(args)
            args[5] = _with_kl_check(args[5])
        else:
            kwargs["callbacks"] = _with_kl_check(kwargs.get("callbacks"))
        return super().fit(*args, **kwargs)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras (3.15) builds a distributed model from its first batch reduced
        # across the replicas as one nested structure, which
        # MultiWorkerMirroredStrategy refuses (keras-team/keras#20585). The
        # build needs the batch's shapes and dtypes only: this worker's first
        # replica's part of the batch has them.
        strategy = self.distribute_strategy
        if iterator is not None and _across_workers(strategy):
            for _, _, batches in iterator:
                data_batch = keras.tree.map_structure(
                    lambda value: strategy.experimental_local_results(value)[0]
                    if isinstance(value, tf.distribute.DistributedValues) else value,
                    next(batches),
                )
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, data):
        if self.train_samples > 1:
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            data = keras.utils.pack_x_y_sample_weight(
                *_repeat_batch((x, y, sample_weight), self.train_samples)
            )
        # Also with one sample: a `set_weight_samples` left on the model for
        # Monte Carlo prediction must not split the training batch.
        with stacked_weight_samples(self, self.train_samples):
            return _reducible_across_workers(super().train_step(data))

    def test_step(self, data):
        return _reducible_across_workers(super().test_step(data))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )
        # Keras divides every loss by the number of replicas (so that the
        # replicas' gradients add up to the step's); the trackers record
        # per-step values, as Keras' own loss tracker does.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        added = self._sum_of(self.losses, total.dtype)
        variational = [layer for layer in stochastic_layers(self)
                       if isinstance(layer, BaseVariational)]
        # A layer's losses hold its KL and the penalties of its variables'
        # regularizers (an L1 on the posterior means): only the KL is `kl`.
        kl = self._sum_of(
            [loss for layer in variational for loss in layer.losses], total.dtype
        ) - self._sum_of(
            [variable.regularizer(variable) for layer in variational
             for variable in layer.trainable_weights if variable.regularizer is not None],
            total.dtype,
        )
        batch_size = tf.shape(next(t for t in keras.tree.flatten(x) if t is not None))[0]
        self.nll_tracker.update_state(total * replicas - added, sample_weight=batch_size)
        self.kl_tracker.update_state(kl, sample_weight=batch_size)
        return total

    @staticmethod
    def _sum_of(losses, dtype):
        return sum(
            (keras.ops.sum(keras.ops.cast(loss, dtype)) for loss in losses),
            keras.ops.zeros((), dtype),
        )

    def get_config(self):
        config = super().get_config()
        config["train_samples"] = self.train_samples
        return config
