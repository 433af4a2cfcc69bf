"""Training callbacks: KL-weight schedules, divergence checks, posterior records."""

import warnings

import keras
import numpy as np

from bayes_zoo.layers.kl_weight import kl_weighted_layers

# The KL conventions, by the weight of the KL per example (N training
# examples, M batches per epoch, batch i = 1..M):
#   "elbo"               1 / N                the negative ELBO per example
#   "tempered"           beta / N             a tempered ELBO (the reference code's beta = 0.1)
#   "blundell"           M * pi_i / N         Blundell et al.'s pi_i with their summed NLL
#   "reference_blundell" pi_i / N             the reference code's older loss, M times less KL
#   "warmup"             min(1, t / T) / N    linear warm-up over T epochs (Soenderby et al.)
# and the older names: "standard" is "elbo", "soenderby" is "warmup", and
# "constant" is `scale / N`.
SCHEDULES = (
    "elbo", "tempered", "blundell", "reference_blundell", "warmup",
    "constant", "standard", "soenderby",
)


def blundell_pi(batch_index, num_batches):
    """`pi_i = 2^(M - i) / (2^M - 1)` for batch `i = 1..M` (Blundell et al., 2015, eq. 9).

    The `pi_i` of an epoch sum to one. Written as `2^-i / (1 - 2^-M)` so
    that large M does not overflow.
    """
    i = batch_index + 1
    return 2.0 ** (-i) / (1.0 - 2.0 ** (-num_batches))


def blundell_factor(batch_index, num_batches):
    """`M * pi_i`: Blundell's weight of batch `i` relative to the ELBO's `1 / N` per example.

    Blundell's minibatch cost `pi_i KL - sum_j log p(y_j | w)` sums the NLL
    over the batch's B examples; Keras averages it, so per example the KL
    weight is `pi_i / B = M pi_i / N` (with `M = N / B`). The factors of an
    epoch average to one.
    """
    return num_batches * blundell_pi(batch_index, num_batches)


class KLWeightSchedule(keras.callbacks.Callback):
    """Sets the KL weight of every variational layer during `fit`, by a named convention.

    Each variational layer adds `kl_weight * KL(q || p)` to the loss and
    starts with `kl_weight = 1 / num_train_examples` (as the zoo's builders
    and `bz.layers.set_kl_weight(model, 1 / N)` set it), so that `fit`
    minimises the negative ELBO per example. A schedule multiplies that
    initial weight by a factor per batch; the weight of the KL per example
    (N training examples, M batches per epoch, batch `i = 1..M`) is then:

    - `"elbo"`: `1 / N` (factor 1), the negative ELBO per example.
    - `"tempered"`: `beta / N` (factor `beta`), a tempered ELBO; the
      reference code (PyTorch-BayesianCNN) uses `beta = 0.1`.
    - `"blundell"`: `M * pi_i / N` with `pi_i = 2^(M - i) / (2^M - 1)`:
      Blundell et al.'s minibatch weighting (eq. 9) for their summed
      minibatch NLL, per example. The first batch of an epoch carries about
      `M / 2` times the ELBO's KL, the last ones almost none; the epoch's
      mean is the ELBO's.
    - `"reference_blundell"`: `pi_i / N`: the reference code's older loss
      `nll_mean * N + pi_i * KL`, M times less KL than `"blundell"`.
    - `"warmup"`: `min(1, (epoch + i / M) / warmup_epochs) / N`, a linear
      warm-up from 0 (Soenderby et al., 2016).
    - older names: `"standard"` is `"elbo"`, `"soenderby"` is `"warmup"`,
      `"constant"` is `scale / N`.
    - a callable `f(epoch, batch, num_batches) -> factor`.

    `per_example_weight` returns the weight itself. Validation and
    evaluation use the initial weight (factor 1), so the reported
    validation loss is the negative ELBO per example.

    Args:
        schedule: one of the names above, or a callable.
        scale: float, the factor of the `"constant"` schedule.
        warmup_epochs: positive int, the length of the warm-up.
        beta: positive float, the temperature of `"tempered"`.

    Example:

    >>> bz.layers.set_kl_weight(model, 1 / num_train_examples)
    >>> model.fit(train_ds, epochs=10,
    ...           callbacks=[bz.callbacks.KLWeightSchedule("tempered", beta=0.1)])
    """

    def __init__(self, schedule="elbo", scale=1.0, warmup_epochs=10, beta=0.1):
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
        if not beta > 0:
            raise ValueError(f"Argument `beta` must be positive. Received: beta={beta}")
        self.schedule = schedule
        self.scale = float(scale)
        self.warmup_epochs = warmup_epochs
        self.beta = float(beta)
        self._epoch = 0
        self._factor = None

    def factor(self, epoch, batch, num_batches):
        """The multiplier of the initial KL weight (`1 / N`) at this step."""
        if callable(self.schedule):
            return float(self.schedule(epoch, batch, num_batches))
        if self.schedule in ("elbo", "standard"):
            return 1.0
        if self.schedule == "constant":
            return self.scale
        if self.schedule == "tempered":
            return self.beta
        if self.schedule == "blundell":
            return blundell_factor(batch, num_batches)
        if self.schedule == "reference_blundell":
            return blundell_pi(batch, num_batches)
        return min(1.0, (epoch + batch / num_batches) / self.warmup_epochs)

    def per_example_weight(self, epoch, batch, num_batches, num_train_examples):
        """The weight of the KL per example at this step: `factor / N`."""
        return self.factor(epoch, batch, num_batches) / num_train_examples

    def _variational_layers(self):
        return kl_weighted_layers(self.model)

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


class PosteriorStddevRecorder(keras.callbacks.Callback):
    """Records the posterior mean and standard deviation of chosen weights.

    At the end of every epoch it reads `N(mean, stddev^2)` of a few kernel
    weights, for the paper's Figures 8 and 9 (the standard deviation of a
    weight's posterior shrinks as training sees more data). The records are
    in the form `bz.plots.posterior_stddev_over_epochs` takes.

    Args:
        weights: a list of `(layer_name, index)` pairs, each naming one
            kernel weight by its index tuple; or None to draw `num_weights`
            kernel weights at random from the layer `layer_name`.
        layer_name: str or None, the layer to draw random weights from; the
            first variational layer of the model by default (Figure 9 takes
            a weight of LeNet-5's first layer).
        num_weights: positive int, the number of random weights.
        seed: int, seed of the random choice.

    Attributes:
        history: dict from a weight's name (e.g. `"conv2d kernel[0,1,0,3]"`)
            to its posterior standard deviation at epochs 1, 2, ...
        means: the posterior means, in the same form.

    Example:

    >>> recorder = bz.callbacks.PosteriorStddevRecorder(num_weights=3)
    >>> model.fit(train_ds, epochs=20, callbacks=[recorder])
    >>> bz.plots.posterior_stddev_over_epochs(
    ...     recorder.history, "stddev.png", means=recorder.means)
    """

    def __init__(self, weights=None, layer_name=None, num_weights=1, seed=0):
        super().__init__()
        if weights is not None and layer_name is not None:
            raise ValueError(
                "Pass `weights` or `layer_name`, not both. "
                f"Received: weights={weights!r}, layer_name={layer_name!r}"
            )
        if isinstance(num_weights, bool) or not isinstance(num_weights, int) or num_weights < 1:
            raise ValueError(
                "Argument `num_weights` must be a positive integer. "
                f"Received: num_weights={num_weights!r}"
            )
        self.weights = (
            None if weights is None else [(name, tuple(index)) for name, index in weights]
        )
        self.layer_name = layer_name
        self.num_weights = num_weights
        self.seed = seed
        self.history = {}
        self.means = {}
        self._chosen = None

    def _layer(self, name):
        for layer in self._variational_layers():
            if layer.name == name:
                return layer
        raise ValueError(
            f"No variational layer named {name!r} in the model. Variational layers: "
            f"{[layer.name for layer in self._variational_layers()]}"
        )

    def _variational_layers(self):
        return kl_weighted_layers(self.model)

    def _choose(self):
        """[(layer, [index, ...])] of the weights to record."""
        if self.weights is None:
            if self.layer_name is None:
                layers = self._variational_layers()
                if not layers:
                    raise ValueError(
                        "PosteriorStddevRecorder: the model has no variational layers."
                    )
                layer = layers[0]
            else:
                layer = self._layer(self.layer_name)
            shape = tuple(layer.kernel_posterior_variables["loc"].shape)
            size = int(np.prod(shape))
            flat = np.random.default_rng(self.seed).choice(
                size, min(self.num_weights, size), replace=False
            )
            return [(layer, [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat])]
        chosen = {}
        for name, index in self.weights:
            layer = self._layer(name)
            shape = tuple(layer.kernel_posterior_variables["loc"].shape)
            if len(index) != len(shape) or not all(0 <= i < n for i, n in zip(index, shape)):
                raise ValueError(
                    f"Index {index} is outside the kernel of layer {name!r}, of shape {shape}."
                )
            chosen.setdefault(layer, []).append(index)
        return list(chosen.items())

    def on_train_begin(self, logs=None):
        if self._chosen is None:
            self._chosen = self._choose()

    def on_epoch_end(self, epoch, logs=None):
        for layer, indices in self._chosen:
            variables = layer.kernel_posterior_variables
            # The posterior's stddev is elementwise: gather the chosen
            # entries first instead of computing it for the whole kernel.
            picked = {
                key: keras.ops.take(keras.ops.reshape(value, (-1,)), [
                    int(np.ravel_multi_index(index, value.shape)) for index in indices
                ])
                for key, value in variables.items()
            }
            means = keras.ops.convert_to_numpy(picked["loc"])
            stddevs = keras.ops.convert_to_numpy(layer.posterior.stddev(picked))
            for index, mean, stddev in zip(indices, means, stddevs):
                name = f"{layer.name} kernel[{','.join(str(i) for i in index)}]"
                self.means.setdefault(name, []).append(float(mean))
                self.history.setdefault(name, []).append(float(stddev))


# What to try when a run diverges, unless the caller knows better (the
# trainer names the card's settings).
DIVERGENCE_ADVICE = (
    "Try a lower learning rate, or a smaller weight of the KL term (a "
    "KLWeightSchedule warm-up such as 'soenderby')."
)


class TrainingDivergedError(ValueError):
    """Training reached a non-finite loss or non-finite weights.

    A `ValueError`, so that `bayes-zoo train` reports it in one line.

    Args:
        message: str, what diverged, where, and what to try.
        epoch: int, the 1-based epoch in which it happened.
        batch: int or None, the 1-based batch of that epoch, None when it was
            found at the end of the epoch.

    Example:

    >>> try:
    ...     model.fit(train_ds, epochs=10, callbacks=[bz.callbacks.RaiseOnNonFiniteLoss()])
    ... except bz.callbacks.TrainingDivergedError as error:
    ...     print(error.epoch, error.batch)
    """

    def __init__(self, message, epoch, batch=None):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch


def _non_finite(logs):
    """The names of the numeric logged values that are NaN or infinite."""
    names = []
    for name, value in (logs or {}).items():
        value = np.asarray(value)
        if np.issubdtype(value.dtype, np.number) and not np.all(np.isfinite(value)):
            names.append(name)
    return names


class RaiseOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops `fit` at the first non-finite logged value with a `TrainingDivergedError`.

    Keras' `TerminateOnNaN` stops quietly, leaving NaN weights behind, and
    the run fails later with a puzzling error. This callback checks the logs
    of every training batch (the loss, and the NLL and KL of
    `bz.training.BayesianModel`) and, at each epoch's end, the epoch's logs
    (the validation values), and raises one error naming the epoch and batch
    and saying what to try. Callbacks placed after it, such as a checkpoint,
    never see a diverged epoch's end.

    Args:
        advice: str, the sentence of the error saying what to try.

    Example:

    >>> model.fit(train_ds, epochs=10,
    ...           callbacks=[bz.callbacks.RaiseOnNonFiniteLoss(), checkpoint])
    """

    def __init__(self, advice=DIVERGENCE_ADVICE):
        super().__init__()
        self.advice = advice
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = _non_finite(logs)
        if bad:
            steps = (self.params or {}).get("steps")
            of = f" of {steps}" if steps else ""
            values = ", ".join(f"{name}={float(np.asarray(logs[name])):g}" for name in bad)
            raise TrainingDivergedError(
                f"Training diverged at epoch {self._epoch + 1}, batch {batch + 1}{of}: "
                f"{values}. Training stopped there. {self.advice}",
                epoch=self._epoch + 1, batch=batch + 1,
            )

    def on_epoch_end(self, epoch, logs=None):
        bad = _non_finite(logs)
        if bad:
            values = ", ".join(f"{name}={float(np.asarray(logs[name])):g}" for name in bad)
            raise TrainingDivergedError(
                f"Training diverged in epoch {epoch + 1}: at its end {values}. Training "
                f"stopped there. {self.advice}",
                epoch=epoch + 1,
            )


def _readable(value):
    """13852.4 as "13,852", 0.01234 as "0.0123"."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


class WarnOnKLGrowth(keras.callbacks.Callback):
    """Warns, once, when the KL term balloons while the accuracy stays at chance.

    A learning rate too large for a variational network can show no NaN at
    all: the posteriors drift away from the prior, the logged `kl` grows by
    orders of magnitude epoch after epoch, and the network never learns.
    This callback compares each epoch's logged `kl` (as
    `bz.training.BayesianModel` logs it) with the first epoch's of the `fit`
    call, and warns when it grew `factor` times while the training accuracy
    is at most chance (`1 / num_classes`) plus `margin`. Logs without `kl` or
    the accuracy are ignored.

    Args:
        num_classes: int >= 2, or None for the width of the model's output.
        factor: float > 1, the growth of `kl` that counts as ballooning.
        margin: float >= 0, how far above chance the accuracy may be and
            still count as chance.
        accuracy: str, the logged accuracy's name.
        advice: str, the sentence of the warning saying what to try.

    Attributes:
        warned: bool, whether it has warned.

    Example:

    >>> model.fit(train_ds, epochs=10, callbacks=[bz.callbacks.WarnOnKLGrowth(num_classes=10)])
    """

    def __init__(self, num_classes=None, factor=10.0, margin=0.05, accuracy="accuracy",
                 advice=DIVERGENCE_ADVICE):
        super().__init__()
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
        ):
            raise ValueError(
                "Argument `num_classes` must be None or an int >= 2. "
                f"Received: num_classes={num_classes!r}"
            )
        if not factor > 1:
            raise ValueError(f"Argument `factor` must be greater than 1. Received: factor={factor}")
        if not margin >= 0:
            raise ValueError(f"Argument `margin` must be >= 0. Received: margin={margin}")
        self.num_classes = num_classes
        self.factor = float(factor)
        self.margin = float(margin)
        self.accuracy = accuracy
        self.advice = advice
        self.warned = False
        self._first = None
        self._chance = None

    def on_train_begin(self, logs=None):
        self._first = None
        self._chance = 1.0 / (self.num_classes or int(self.model.output_shape[-1]))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.warned or "kl" not in logs or self.accuracy not in logs:
            return
        kl, accuracy = float(logs["kl"]), float(logs[self.accuracy])
        if self._first is None:
            self._first = (epoch, kl)
            return
        first_epoch, first_kl = self._first
        chance = self._chance
        if first_kl > 0 and kl >= self.factor * first_kl and accuracy <= chance + self.margin:
            self.warned = True
            warnings.warn(
                f"The KL term grew {kl / first_kl:.0f}-fold, from {_readable(first_kl)} in "
                f"epoch {first_epoch + 1} to {_readable(kl)} in epoch {epoch + 1}, while the "
                f"training {self.accuracy} stayed at chance ({accuracy:.1%}; chance is "
                f"{chance:.1%}): the posteriors drift instead of learning. {self.advice}",
                stacklevel=2,
            )


class WarnOnDominantKL(keras.callbacks.Callback):
    """Warns, once per `fit`, when the weighted KL dwarfs the data term.

    With the layers' default `kl_weight=1.0`, the KL term of a network is
    the sum over all its weights (hundreds of thousands of nats), while
    Keras averages the data term over the batch (a few nats): `fit` then
    learns the prior, not the data. After the first batch this callback
    compares the two and warns when the KL is more than `ratio` times the
    data term, saying which weight to set. `bz.training.BayesianModel.fit`
    adds it by itself; add it to the callbacks of a plain `keras.Model`.

    The data term is the logged `nll` where the model logs one (as
    `BayesianModel` does), else the logged `loss` less the KL the layers
    compute at that point.

    Args:
        ratio: float > 1, how many times the data term the KL may be.

    Attributes:
        warned: bool, whether it has warned in the last `fit`.

    Example:

    >>> model.fit(x, y, callbacks=[bz.callbacks.WarnOnDominantKL()])
    """

    def __init__(self, ratio=100.0):
        super().__init__()
        if not ratio > 1:
            raise ValueError(f"Argument `ratio` must be greater than 1. Received: ratio={ratio}")
        self.ratio = float(ratio)
        self.warned = False
        self._checked = False

    def on_train_begin(self, logs=None):
        self.warned = False
        self._checked = False

    def on_train_batch_end(self, batch, logs=None):
        if self._checked:
            return
        self._checked = True
        layers = kl_weighted_layers(self.model)
        logs = logs or {}
        if not layers or "loss" not in logs:
            return
        if "kl" in logs and "nll" in logs:
            kl, data = float(logs["kl"]), float(logs["nll"])
        else:
            # convert_to_numpy: `float()` fails on a variable made under a strategy.
            kl = sum(
                float(keras.ops.convert_to_numpy(layer.kl_weight * layer.kl_divergence()))
                for layer in layers
            )
            data = float(logs["loss"]) - kl
        if not np.isfinite(kl) or kl <= self.ratio * max(abs(data), 1e-12):
            return
        self.warned = True
        weights = sorted({float(keras.ops.convert_to_numpy(layer.kl_weight)) for layer in layers})
        shown = ", ".join(f"{w:g}" for w in weights)
        warnings.warn(
            f"The weighted KL term ({_readable(kl)}) is {kl / max(abs(data), 1e-12):,.0f} "
            f"times the data term ({_readable(data)}) after the first batch: the network "
            f"would learn its prior, not the data. The KL weight of its {len(layers)} "
            f"variational layers is {shown}; for the negative ELBO per example it is "
            "1 / num_train_examples: call `bz.layers.set_kl_weight(model, 1 / "
            "num_train_examples)` before `fit`.",
            stacklevel=2,
        )
