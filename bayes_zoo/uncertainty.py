"""Monte Carlo prediction with uncertainty, vectorised in one graph call.

A Bayesian model (or an MC-dropout model) samples on every call, so T calls
give T draws `p_t` of the predictive probabilities. Here the T draws are one
graph call: the batch is repeated T times along the batch axis and the model
runs once on the stacked copies. Local reparameterization and MC dropout
draw their noise per example, so every copy is an independent draw;
Reparameterization ("bbb") and flipout layers are told through
`bayes_zoo.layers.set_weight_samples` to draw one kernel (perturbation) per
copy.

From the draws, `decompose` computes the two usual splits of the predictive
uncertainty:

- Depeweg et al. (2018): predictive entropy `H[p_bar]` = expected entropy
  `mean_t H[p_t]` (aleatoric) + mutual information (epistemic).
- Kwon et al. (2020), used by Shridhar et al. (eq. 14): the predictive
  variance `mean_t(diag(p_t) - p_t p_t^T)` (aleatoric) +
  `mean_t((p_t - p_bar)(p_t - p_bar)^T)` (epistemic), kept as the per-class
  diagonals and their sums.

```python
result = bz.predict_with_uncertainty(model, images, num_samples=20)
result.probabilities, result.mutual_information, result.epistemic
```
"""

import dataclasses
import math
import warnings
import weakref

import keras
import numpy as np
import tensorflow as tf

from bayes_zoo.layers import noise
from bayes_zoo.layers.base_variational import BaseVariational
from bayes_zoo.layers.stochastic_layer import StochasticLayer
from bayes_zoo.layers.stochastic_layer import posterior_mean
from bayes_zoo.layers.stochastic_layer import stacked_weight_samples
from bayes_zoo.layers.stochastic_layer import stochastic_layers
from bayes_zoo.layers.stochastic_layer import tile_copies

MODES = ("softmax", "normalized")


@dataclasses.dataclass
class UncertaintyResult:
    """What `predict_with_uncertainty` returns: NumPy arrays over N examples.

    Entropies are in nats. With T samples `p_t` ([N, C] each) and their mean
    `p_bar`:

    Attributes:
        probabilities: [N, C], `p_bar`, the mean predictive probabilities.
        predicted_class: [N], `argmax p_bar`.
        predictive_entropy: [N], `H[p_bar]`.
        expected_entropy: [N], `mean_t H[p_t]`, aleatoric (Depeweg et al.).
        mutual_information: [N], `H[p_bar] - mean_t H[p_t]`, epistemic
            (Depeweg et al.).
        aleatoric: [N], the trace of `mean_t(diag(p_t) - p_t p_t^T)`
            (Kwon et al.).
        epistemic: [N], the trace of `mean_t((p_t - p_bar)(p_t - p_bar)^T)`
            (Kwon et al.).
        aleatoric_per_class: [N, C], the diagonal of the aleatoric matrix.
        epistemic_per_class: [N, C], the diagonal of the epistemic matrix.
        sample_probabilities: [T, N, C], the draws `p_t`, or None unless
            `keep_samples=True`.
    """

    probabilities: np.ndarray
    predicted_class: np.ndarray
    predictive_entropy: np.ndarray
    expected_entropy: np.ndarray
    mutual_information: np.ndarray
    aleatoric: np.ndarray
    epistemic: np.ndarray
    aleatoric_per_class: np.ndarray
    epistemic_per_class: np.ndarray
    sample_probabilities: np.ndarray | None = None


def _entropy(probabilities):
    # xlogy gives 0 * log(0) = 0 for classes with zero probability.
    return -tf.reduce_sum(tf.math.xlogy(probabilities, probabilities), axis=-1)


def decompose(sample_probabilities):
    """Splits the uncertainty of T Monte Carlo draws into its parts.

    Pure tensor math (usable inside a `tf.function` or a SavedModel).

    Args:
        sample_probabilities: float tensor or array [T, N, C], the predictive
            probabilities of T draws for N examples over C classes.

    Returns:
        A dict of tensors, keyed by the `UncertaintyResult` field names
        (`probabilities`, `predicted_class`, `predictive_entropy`,
        `expected_entropy`, `mutual_information`, `aleatoric`, `epistemic`,
        `aleatoric_per_class`, `epistemic_per_class`).

    Example:

    >>> samples = bz.uncertainty.monte_carlo_probabilities(model, images, 20)
    >>> parts = bz.uncertainty.decompose(samples)
    >>> parts["mutual_information"]  # [N]
    """
    samples = tf.convert_to_tensor(sample_probabilities)
    if not samples.dtype.is_floating:
        raise ValueError(
            "Argument `sample_probabilities` must be floating point. "
            f"Received: dtype={samples.dtype.name}"
        )
    if samples.shape.rank is not None and samples.shape.rank < 3:
        raise ValueError(
            "Argument `sample_probabilities` must have shape [T, N, C]. "
            f"Received: shape={samples.shape}"
        )
    # Means taken about the first draw: T equal draws (a deterministic
    # model) then give their own value exactly, and an epistemic part and a
    # mutual information of exactly 0, whatever order a CPU sums in.
    mean = samples[0] + tf.reduce_mean(samples - samples[0], axis=0)
    predictive_entropy = _entropy(mean)
    sample_entropy = _entropy(samples)
    expected_entropy = sample_entropy[0] + tf.reduce_mean(
        sample_entropy - sample_entropy[0], axis=0)
    # Diagonals of eq. 14: mean_t(p - p^2) and mean_t((p - p_bar)^2). Written
    # as p * (1 - p) rather than p_bar - mean_t(p^2) so it cannot go negative.
    aleatoric_per_class = tf.reduce_mean(samples * (1.0 - samples), axis=0)
    epistemic_per_class = tf.reduce_mean(tf.square(samples - mean), axis=0)
    return {
        "probabilities": mean,
        "predicted_class": tf.argmax(mean, axis=-1),
        "predictive_entropy": predictive_entropy,
        "expected_entropy": expected_entropy,
        "mutual_information": predictive_entropy - expected_entropy,
        "aleatoric": tf.reduce_sum(aleatoric_per_class, axis=-1),
        "epistemic": tf.reduce_sum(epistemic_per_class, axis=-1),
        "aleatoric_per_class": aleatoric_per_class,
        "epistemic_per_class": epistemic_per_class,
    }


# --- the in-graph core ----------------------------------------------------


def _check_mode(mode):
    if mode not in MODES:
        raise ValueError(
            f"Unknown argument `mode`: expected one of {MODES}. Received: mode={mode!r}"
        )


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"Argument `{name}` must be a positive integer. Received: {name}={value!r}"
        )


def _to_probabilities(outputs, mode):
    outputs = tf.cast(outputs, tf.float32)
    if mode == "softmax":
        return tf.nn.softmax(outputs, axis=-1)
    # The reference implementation's "normalized" mode.
    positive = tf.nn.softplus(outputs)
    return positive / tf.reduce_sum(positive, axis=-1, keepdims=True)


def _sampling_layers(model, estimators):
    return [
        layer
        for layer in stochastic_layers(model)
        if isinstance(layer, BaseVariational)
        and layer.estimator in estimators
        and not layer.use_posterior_mean
    ]


def _layer_chain(model):
    """The layers of `model` in call order when they form one chain, else None.

    A chain: one input and one output, and every layer between them called
    on the previous layer's output alone (as `keras.Sequential` and the zoo's
    classifiers are). Only then may the layers before the first draw run on
    the untiled batch.
    """
    # Functional and Sequential models have symbolic inputs and outputs;
    # subclassed ones do not.
    inputs = getattr(model, "inputs", None) if isinstance(model, keras.Model) else None
    outputs = getattr(model, "outputs", None) if inputs else None
    if not inputs or not outputs or len(inputs) != 1 or len(outputs) != 1:
        return None
    chain = []
    tensor = outputs[0]
    while tensor is not inputs[0]:
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            return None
        layer, node_index, _ = history
        node = layer._inbound_nodes[node_index]
        arguments = node.arguments
        if (
            not isinstance(layer, keras.layers.Layer)
            or len(arguments.args) != 1
            or arguments.kwargs
            or len(node.input_tensors) != 1
        ):
            return None
        chain.append(layer)
        tensor = node.input_tensors[0]
    return chain[::-1]


def _draws_noise(layer):
    return any(
        not inner.use_posterior_mean for inner in stochastic_layers(layer)
    )


def _call_on_copies(model, images, num_copies):
    """The model's outputs on `num_copies` stacked copies of `images`.

    On a chain of layers, the layers before the first that draws noise run
    once on the untiled batch, and that layer's `call_on_copies` tiles (a
    local reparameterization layer computes its activations' moments before
    tiling). Any other model runs on the tiled batch.
    """
    chain = _layer_chain(model)
    if chain is None:
        return model(tile_copies(images, num_copies), training=False)
    outputs = tf.cast(images, model.inputs[0].dtype)
    tiled = False
    for layer in chain:
        if tiled or not _draws_noise(layer):
            outputs = layer(outputs, training=False)
        elif isinstance(layer, StochasticLayer):
            outputs, tiled = layer.call_on_copies(outputs, num_copies), True
        else:
            outputs, tiled = layer(tile_copies(outputs, num_copies), training=False), True
    # A model that draws nothing gives `num_copies` equal samples.
    return outputs if tiled else tile_copies(outputs, num_copies)


def _draw_copies(model, images, num_copies, mode, seed):
    """[num_copies, N, C] probabilities from one model call on stacked copies.

    `num_copies` is a Python int, or a scalar tensor when no layer draws one
    kernel per call (`set_weight_samples` needs a Python int). Every draw of
    the call derives from `seed` ([2] int32).
    """
    with noise.call_seed(seed):
        if isinstance(num_copies, int):
            with stacked_weight_samples(model, num_copies):
                outputs = _call_on_copies(model, images, num_copies)
        else:
            outputs = _call_on_copies(model, images, num_copies)
    if not tf.is_tensor(outputs):
        raise ValueError(
            "predict_with_uncertainty needs a model with a single output tensor "
            f"(the logits). Received outputs of type {type(outputs).__name__}"
        )
    probabilities = _to_probabilities(outputs, mode)
    shape = tf.concat(
        [[num_copies, tf.shape(images)[0]], tf.shape(probabilities)[1:]], axis=0
    )
    return tf.reshape(probabilities, shape)


def _monte_carlo_function(model):
    """The model's compiled Monte Carlo function, traced once per signature."""
    # The function refers to the model weakly, so that caching it does not
    # keep the model alive.
    model_ref = weakref.ref(model)

    @tf.function(reduce_retracing=True, autograph=False)
    def draw(images, num_samples, mode, samples_per_call, switch_state, seed):
        # `switch_state` (the layers' posterior-mean switches) is only part
        # of the trace key: flipping a switch must trace again.
        del switch_state
        return _monte_carlo_draws(model_ref(), images, num_samples, mode, samples_per_call, seed)

    return draw


def _monte_carlo_draws(model, images, num_samples, mode, samples_per_call, seed):
    """[num_samples, N, C] probabilities, in calls of `samples_per_call` copies."""
    images = tf.convert_to_tensor(images)
    if not _draws_noise(model):
        # Computed once: separate calls of a deterministic network can
        # differ in the last bit on some CPUs, and its draws must be equal.
        single = _draw_copies(model, images, 1, mode, seed)
        return tf.tile(single, tf.stack([num_samples, 1, 1]))
    if samples_per_call is None:
        return _draw_copies(model, images, num_samples, mode, seed)
    # Memory is bounded by `samples_per_call` copies per model call; the
    # loop stays in the graph, one call at a time (parallel iterations
    # would hold several calls' activations at once). The body is traced
    # once: each call folds its index into the seed to draw its own noise.
    num_calls = (num_samples + samples_per_call - 1) // samples_per_call
    blocks = tf.TensorArray(tf.float32, size=num_calls)
    _, blocks = tf.while_loop(
        lambda i, blocks: i < num_calls,
        lambda i, blocks: (
            i + 1,
            blocks.write(i, _draw_copies(
                model, images, samples_per_call, mode,
                tf.random.experimental.stateless_fold_in(seed, i),
            )),
        ),
        (tf.constant(0), blocks),
        parallel_iterations=1,
    )
    return blocks.concat()[:num_samples]


_COMPILED = weakref.WeakKeyDictionary()


def monte_carlo_probabilities(
    model, images, num_samples, mode="softmax", samples_per_call=None, seed=None
):
    """Draws `num_samples` predictive probabilities in one graph call.

    The batch is tiled `num_samples` times and the model runs once on the
    stacked copies (or once per `samples_per_call` copies, in a graph loop).
    When the model is a chain of layers (as `keras.Sequential` and the zoo's
    classifiers are), the layers before the first that draws noise run once
    on the untiled batch, and a local reparameterization layer tiles its
    activations' means and variances rather than its input; the draws are
    the same.
    Traceable: inside another `tf.function` (e.g. a SavedModel signature),
    `images` may have an unknown batch size and `num_samples` may be a
    scalar tensor.

    Reparameterization ("bbb") and flipout layers draw one kernel (or kernel
    perturbation) per copy, which needs the number of copies per call as a
    Python int: for a model with such layers, `num_samples` must be static (a
    Python int or a constant tensor) unless `samples_per_call` is given, in
    which case every call holds `samples_per_call` copies and a dynamic
    `num_samples` works (the last call may draw up to `samples_per_call - 1`
    extra samples, discarded).

    The model must output logits (no final softmax), as the zoo's builders
    do.

    Args:
        model: a Keras model with one input and one output (the logits).
        images: float tensor [N, ...] matching the model's input.
        num_samples: positive int or scalar int tensor, the number of draws T.
        mode: `"softmax"`, or `"normalized"` (softplus of the outputs divided
            by their sum, as the reference implementation).
        samples_per_call: positive int or None; at most this many copies of
            the batch per model call. None: all T copies in one call.
        seed: None, an int, or an int tensor of shape [] or [2]: the seed of
            every draw of this call (`bayes_zoo.layers.noise.call_seed`); the
            same seed gives the same draws. None: a fresh seed, from NumPy's
            global generator when called eagerly (so
            `keras.utils.set_random_seed` reproduces a run) and from the
            operating system's entropy on every run inside a traced function
            (a SavedModel signature).

    Returns:
        A float32 tensor [T, N, C] of probabilities.

    Example:

    >>> samples = bz.uncertainty.monte_carlo_probabilities(model, images, 20)
    >>> samples.shape  # (20, N, num_classes)
    """
    _check_mode(mode)
    if samples_per_call is not None:
        _check_positive_int("samples_per_call", samples_per_call)
        samples_per_call = int(samples_per_call)
    static_num_samples = tf.get_static_value(num_samples)
    if static_num_samples is not None:
        if np.ndim(static_num_samples) != 0 or not np.issubdtype(
            np.asarray(static_num_samples).dtype, np.integer
        ):
            raise ValueError(
                "Argument `num_samples` must be a positive integer. "
                f"Received: num_samples={static_num_samples!r}"
            )
        _check_positive_int("num_samples", int(static_num_samples))
        num_samples = int(static_num_samples)
        if samples_per_call is not None:
            if samples_per_call >= num_samples:
                samples_per_call = None
            else:
                # Spread the samples evenly over the calls: fewer discarded.
                num_calls = math.ceil(num_samples / samples_per_call)
                samples_per_call = math.ceil(num_samples / num_calls)
    needs_static_copies = samples_per_call is None and bool(
        _sampling_layers(model, ("reparameterization", "flipout"))
    )
    if needs_static_copies and static_num_samples is None:
        raise ValueError(
            "This model has Reparameterization ('bbb') or flipout layers, which draw "
            "one kernel per copy of the batch and need the number of copies as a "
            "Python int: pass a static `num_samples`, or a `samples_per_call`. "
            f"Received: num_samples={num_samples!r}"
        )
    if not needs_static_copies:
        # A tensor, so that a new T does not trace the function again.
        num_samples = tf.cast(num_samples, tf.int32)
    if seed is None:
        seed = _fresh_seed() if tf.executing_eagerly() else noise.random_seed()
    seed = noise.as_seed(seed)
    if model not in _COMPILED:
        _COMPILED[model] = _monte_carlo_function(model)
    switch_state = tuple(layer.use_posterior_mean for layer in stochastic_layers(model))
    return _COMPILED[model](images, num_samples, mode, samples_per_call, switch_state, seed)


def _fresh_seed():
    # NumPy's global generator: seeded from the operating system's entropy
    # in every process, and by `keras.utils.set_random_seed`; its legacy
    # functions hold a lock, so concurrent callers get different seeds.
    return tf.constant(np.random.randint(0, 2**31 - 1, size=2), tf.int32)


# --- input checks and batching --------------------------------------------


def _model_input_spec(model):
    """(shape, dtype) of the model's single input; shape None if unknown."""
    # Subclassed models have no symbolic inputs until they are called.
    inputs = getattr(model, "inputs", None)
    if not inputs:
        return None, "float32"
    if len(inputs) != 1:
        raise ValueError(
            "predict_with_uncertainty needs a model with one input. "
            f"Received a model with {len(inputs)}"
        )
    return tuple(inputs[0].shape), inputs[0].dtype


def _check_images(images, input_shape, dtype, first_index):
    """Returns `images` as a NumPy array of `dtype`, or raises ValueError."""
    array = np.asarray(images)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(
            "Argument `x` must hold real numbers (float, or integers that are "
            f"cast to {dtype}). Received: dtype={array.dtype}"
        )
    if input_shape is not None:
        if array.ndim != len(input_shape):
            raise ValueError(
                f"Argument `x` must have rank {len(input_shape)} (batch + the model's "
                f"input shape {input_shape[1:]}). Received: shape={array.shape}"
            )
        for axis, (size, expected) in enumerate(zip(array.shape[1:], input_shape[1:]), 1):
            if expected is not None and size != expected:
                raise ValueError(
                    f"Argument `x` does not match the model's input shape "
                    f"{input_shape}: axis {axis} has size {size}, expected {expected}. "
                    f"Received: shape={array.shape}"
                )
    given_integers = np.issubdtype(array.dtype, np.integer)
    array = array.astype(dtype, copy=False)
    finite = np.isfinite(array).reshape(len(array), -1).all(axis=1) if array.size else []
    if not np.all(finite):
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"Argument `x` contains NaN or inf values in {len(bad)} example(s), "
            f"the first at index {first_index + bad[0]}"
        )
    return array, given_integers


# Values beyond this look like 0..255 pixels, not images scaled to [0, 1]
# (standardised images stay within a few units of zero).
_UNSCALED_THRESHOLD = 10.0
_WARNED_UNSCALED = weakref.WeakSet()


def _warn_if_unscaled(model, array, given_integers):
    """Warns once per model when `array` looks like unscaled 0..255 pixels."""
    if model in _WARNED_UNSCALED or not array.size:
        return
    largest = float(np.max(array))
    if largest > _UNSCALED_THRESHOLD or (given_integers and largest > 1.0):
        _WARNED_UNSCALED.add(model)
        warnings.warn(
            f"Argument `x` holds values up to {largest:g}"
            f"{' (integers)' if given_integers else ''}; the zoo's models take images "
            "scaled to [0, 1]. If this model was trained on [0, 1] inputs, divide by "
            "255 first: unscaled inputs saturate its activations, and its predictions "
            "and uncertainties are meaningless.",
            UserWarning,
            stacklevel=4,
        )


def _image_arrays(model, x, batch_size):
    """Yields the images in `x` as checked NumPy blocks.

    `x` is an array or tensor (one block), or a `tf.data.Dataset` of images
    or of `(images, labels, ...)` tuples (a block per batch; unbatched
    datasets are batched by `batch_size`).
    """
    input_shape, dtype = _model_input_spec(model)
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        if isinstance(spec, tuple):
            x = x.map(lambda *element: element[0])
            spec = spec[0]
        if not isinstance(spec, tf.TensorSpec):
            raise ValueError(
                "A dataset `x` must yield image tensors or (images, labels) tuples. "
                f"Received: element_spec={x.element_spec}"
            )
        if input_shape is not None and spec.shape.rank == len(input_shape) - 1:
            x = x.batch(batch_size)
        blocks = iter(x)
    else:
        blocks = iter([x])
    start = 0
    for block in blocks:
        array, given_integers = _check_images(block, input_shape, dtype, start)
        _warn_if_unscaled(model, array, given_integers)
        yield array
        start += len(array)
    if start == 0:
        raise ValueError("Argument `x` holds no examples.")


def _split(array, size):
    for offset in range(0, len(array), size):
        yield tf.convert_to_tensor(array[offset : offset + size])


# The default memory bound of `predict_with_uncertainty`: at most this many
# input values (32 MiB of float32) in one model call. The activations of a
# call grow in proportion (a few tens of values per input value for the
# zoo's CNNs), so any `num_samples` runs in bounded memory.
DEFAULT_CHUNK_VALUES = 2**23


def default_chunk_size(image_shape):
    """The images (examples x samples) one model call holds by default.

    `DEFAULT_CHUNK_VALUES` input values per call: 8,192 images of 32x32x1
    (MNIST), 2,730 of 32x32x3 (CIFAR), at least 1.

    Example:

    >>> bz.uncertainty.default_chunk_size((32, 32, 3))
    2730
    """
    values = int(np.prod([size for size in image_shape if size is not None], dtype=np.int64))
    return max(1, DEFAULT_CHUNK_VALUES // max(1, values))


# --- the public entry points ----------------------------------------------


def predict_with_uncertainty(
    model,
    x,
    num_samples=20,
    batch_size=128,
    mode="softmax",
    chunk_size=None,
    keep_samples=False,
    seed=None,
):
    """Monte Carlo prediction with its uncertainty decompositions.

    Every batch is one graph call that draws all `num_samples` samples (see
    `monte_carlo_probabilities`), in model calls of at most `chunk_size`
    images (examples x samples) each, so that memory stays bounded whatever
    `num_samples` is.

    Works for local reparameterization, Reparameterization ("bbb") and
    flipout models, MC-dropout models, and frequentist models (all samples
    equal, epistemic parts zero up to float rounding). Inside `bz.layers.posterior_mean(model)`
    every sample is the posterior-mean prediction.

    Every call draws fresh noise; `seed` (or `keras.utils.set_random_seed`
    before the call) reproduces it. The noise never depends on the seeds
    saved in a model file, so two processes that load one model draw
    different noise unless they are seeded.

    Args:
        model: a Keras model with one input and one output (the logits).
        x: images as a NumPy array or tensor [N, ...] matching the model's
            input (float; integers are cast as they are, not rescaled: a
            warning says so when values look like unscaled 0..255 pixels),
            or a `tf.data.Dataset` of images or `(images, labels)` tuples,
            batched or not.
        num_samples: positive int, the number of Monte Carlo draws T.
        batch_size: positive int, the examples per graph call (larger dataset
            batches are split).
        mode: `"softmax"`, or `"normalized"` (softplus of the outputs divided
            by their sum, as the reference implementation).
        chunk_size: positive int or None, the most images (examples x
            samples) in one model call. None: `default_chunk_size` of the
            image shape (`DEFAULT_CHUNK_VALUES` = 2**23 input values, 32 MiB
            of float32 input, per call).
        keep_samples: bool, also return the [T, N, C] draws.
        seed: None or an int: the same int gives the same result. None draws
            the seed from NumPy's global generator.

    Returns:
        An `UncertaintyResult` of NumPy arrays.

    Example:

    >>> result = bz.predict_with_uncertainty(model, images, num_samples=20)
    >>> result.probabilities.shape, result.epistemic.shape  # (N, C), (N,)
    """
    _check_positive_int("num_samples", num_samples)
    _check_positive_int("batch_size", batch_size)
    _check_mode(mode)
    if chunk_size is not None:
        _check_positive_int("chunk_size", chunk_size)
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
    ):
        raise ValueError(f"Argument `seed` must be an int or None. Received: seed={seed!r}")
    base_seed = _fresh_seed() if seed is None else noise.as_seed(int(seed))
    parts = []
    for array in _image_arrays(model, x, batch_size):
        chunk = chunk_size or default_chunk_size(array.shape[1:])
        examples_per_call = min(batch_size, chunk)
        samples_per_call = max(1, chunk // examples_per_call)
        for images in _split(array, examples_per_call):
            block_seed = tf.random.experimental.stateless_fold_in(base_seed, len(parts))
            samples = monte_carlo_probabilities(
                model, images, num_samples, mode, samples_per_call, block_seed
            )
            part = {name: value.numpy() for name, value in decompose(samples).items()}
            if keep_samples:
                part["sample_probabilities"] = samples.numpy()
            parts.append(part)
    return UncertaintyResult(
        **{
            name: np.concatenate(
                [part[name] for part in parts],
                axis=1 if name == "sample_probabilities" else 0,
            )
            for name in parts[0]
        }
    )


def posterior_mean_predict(model, x, batch_size=128, mode="softmax"):
    """Predictive probabilities of the posterior-mean network (no sampling).

    Every variational layer uses its posterior means and MC dropout is off
    (`bz.layers.posterior_mean`), for one deterministic pass.

    Args:
        model: a Keras model with one input and one output (the logits).
        x: images, as for `predict_with_uncertainty`.
        batch_size: positive int, the examples per graph call.
        mode: `"softmax"` or `"normalized"`.

    Returns:
        A NumPy array [N, C] of probabilities.

    Example:

    >>> probabilities = bz.uncertainty.posterior_mean_predict(model, images)
    """
    _check_positive_int("batch_size", batch_size)
    _check_mode(mode)
    with posterior_mean(model):
        return np.concatenate(
            [
                monte_carlo_probabilities(model, images, 1, mode)[0].numpy()
                for array in _image_arrays(model, x, batch_size)
                for images in _split(array, batch_size)
            ],
            axis=0,
        )
