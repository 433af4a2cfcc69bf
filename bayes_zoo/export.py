"""SavedModel export with uncertainty signatures, in TensorFlow Serving's layout.

An exported model runs the whole Monte Carlo prediction inside the graph, so
a server needs TensorFlow only (TensorFlow Serving, or `tf.saved_model.load`
without bayes_zoo installed), on CPU or GPU: no op is pinned to a device.

Each task hands this module its signatures (`bz.task_registry.Task.serving_endpoints`):
a classifier's are listed in `bayes_zoo.tasks.classification.serving`
(`serving_default`, `predict_with_uncertainty`, `posterior_mean`), a
super-resolution model's in `bayes_zoo.tasks.super_resolution.serving`, a
GAN's in `bayes_zoo.tasks.gan.serving`. This module shares the input checks
and the signature names among them, writes the SavedModel and keeps
TensorFlow Serving's layout; it imports no task.

Noise: every request to a signature that samples draws its own noise, seeded
from the operating system's entropy when it runs, so that two processes (or
replicas) that load one export, and concurrent requests to one, never share
draws. Each such signature has a twin named `<signature>_seeded`
(`serving_default_seeded`, `predict_with_uncertainty_seeded`, and
`discriminate_seeded` for a GAN) with one more input, `seed` int64 [], whose
draws a given seed reproduces. (A signature cannot have an optional input:
TensorFlow Serving and `tf.saved_model.load` feed every input a signature
declares.)

Inputs are checked inside the graph, because TensorFlow Serving does not
check request shapes against the signature: a request that breaks the
contract fails with an `InvalidArgumentError` whose message says what
was expected and what was received, e.g. "Input `images` must be float32
[batch, 32, 32, 1]: 32x32 pixels. Received shape: [2 28 28 1]" (or "...:
rank 4. ...", "...: 1 channel(s). ...", "Input `images` contains NaN or inf
values in 1 example(s), the first at index 0", "Input `num_samples` (the
number of Monte Carlo samples) must be >= 1. Received: 0", "... must be a
scalar. ...").

TensorFlow Serving's layout is `BASE/MODEL_NAME/VERSION/` plus
`BASE/models.config` listing every model under `BASE`:

```python
bz.export.saved_model(model, "saved_models/lenet5_lrt_mnist/1", num_samples=20)
bz.export.export_for_serving(model, "saved_models", "lenet5_lrt_mnist")  # next version
# docker run -p 8501:8501 --mount type=bind,source=$PWD/saved_models,target=/models \\
#     tensorflow/serving --model_config_file=/models/models.config
```
"""

import numbers
import os
import shutil
import uuid

import keras
import tensorflow as tf

from bayes_zoo import task_registry
from bayes_zoo.layers import noise
from bayes_zoo.uncertainty import MODES

SERVING_DEFAULT = "serving_default"
PREDICT_WITH_UNCERTAINTY = "predict_with_uncertainty"
POSTERIOR_MEAN = "posterior_mean"
# Every signature that draws noise has a twin with this suffix and one more
# input, `seed` (int64 []), that makes its draws reproducible.
SEEDED_SUFFIX = "_seeded"
MODELS_CONFIG = "models.config"
# Where `docker run --mount ...,target=/models` puts BASE inside the container.
DEFAULT_SERVING_ROOT = "/models"


# --- checks inside the graph ------------------------------------------------------


def _shape_text(image_shape):
    sizes = ", ".join("any" if size is None else str(size) for size in image_shape)
    return f"[batch, {sizes}]"


def _rank_is(shape, rank):
    """Whether a `tf.shape` result has `rank` entries, read from its values.

    `tf.rank`, or a raw `Rank` op, of a signature input is a constant (the
    signature declares the rank) that TensorFlow folds, and the check would
    vanish; the values of `tf.shape` are only known when the graph runs.
    Padded with -1, a shape of length `rank` has -1 at index `rank` and a size
    (>= 0) before it.
    """
    padded = tf.concat([shape, tf.fill([rank + 1], -1)], axis=0)
    if rank == 0:
        return padded[0] < 0
    return tf.logical_and(padded[rank - 1] >= 0, padded[rank] < 0)


def check_finite(tensor, name):
    """`tensor` [N, ...] after an in-graph check that every value is finite.

    The message is the Python API's (`bz.predict_with_uncertainty`): how
    many examples hold NaN or inf, and the index of the first.
    """
    flat = tf.reshape(tensor, [tf.shape(tensor)[0], -1])
    bad = tf.logical_not(tf.reduce_all(tf.math.is_finite(flat), axis=1))
    check = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(bad)),
        [
            f"Input `{name}` contains NaN or inf values in",
            tf.reduce_sum(tf.cast(bad, tf.int32)),
            "example(s), the first at index",
            tf.argmax(tf.cast(bad, tf.int32), output_type=tf.int32),
        ],
    )
    with tf.control_dependencies([check]):
        return tf.identity(tensor)


def check_images(images, image_shape):
    """`images` after in-graph checks of its rank, spatial size, channels and values.

    The signature declares the shape, but TensorFlow Serving feeds requests
    without checking it, so the graph checks again. Each check runs after
    the previous one, so that a wrong rank is reported as such rather than
    as a failed slice.
    """
    height, width, channels = image_shape
    expected = f"Input `images` must be float32 {_shape_text(image_shape)}"
    shape = tf.shape(images)
    check = tf.debugging.Assert(
        _rank_is(shape, 4), [f"{expected}: rank 4. Received shape:", shape], summarize=8
    )
    with tf.control_dependencies([check]):
        checks = []
        if height is not None and width is not None:
            checks.append(tf.debugging.Assert(
                tf.reduce_all(tf.equal(shape[1:3], [height, width])),
                [f"{expected}: {height}x{width} pixels. Received shape:", shape],
                summarize=8,
            ))
        checks.append(tf.debugging.Assert(
            tf.equal(shape[3], channels),
            [f"{expected}: {channels} channel(s). Received shape:", shape],
            summarize=8,
        ))
    with tf.control_dependencies(checks):
        return check_finite(images, "images")


def check_num_samples(num_samples):
    """`num_samples` after in-graph checks: an int32 scalar >= 1."""
    expected = "Input `num_samples` (the number of Monte Carlo samples) must be"
    # A raw `Shape` op: `tf.shape` of a tensor of fully known shape (the
    # signature's scalar) is a constant, and the check would vanish. The
    # session TensorFlow Serving runs keeps it; the runtime behind
    # `tf.saved_model.load` folds it all the same, and there TensorFlow's
    # Assert rejects a non-scalar with "In[0] should be a scalar".
    shape = tf.raw_ops.Shape(input=num_samples)
    check = tf.debugging.Assert(
        _rank_is(shape, 0), [f"{expected} a scalar. Received shape:", shape], summarize=8
    )
    with tf.control_dependencies([check]):
        check = tf.debugging.Assert(
            num_samples >= 1, [f"{expected} >= 1. Received:", num_samples]
        )
    with tf.control_dependencies([check]):
        return tf.identity(num_samples)


# --- the signatures ---------------------------------------------------------------


def _unseeded(function):
    """`function` drawing from a fresh seed on every run (every request)."""

    def unseeded(*inputs):
        return function(*inputs, noise.random_seed())

    unseeded.__name__ = function.__name__
    return unseeded


def _seeded(function):
    """`function` drawing from its last input, the request's `seed`."""

    def seeded(*inputs):
        return function(*inputs[:-1], noise.as_seed(inputs[-1]))

    seeded.__name__ = f"{function.__name__}{SEEDED_SUFFIX}"
    return seeded


def _signatures(endpoints):
    """{signature name: (function, input signature)}: each noisy endpoint twice.

    Without a seed input, every request draws its own noise (from the
    operating system's entropy, so that replicas and concurrent requests
    differ); its `_seeded` twin takes `seed` and reproduces its draws.
    """
    seed_spec = tf.TensorSpec([], tf.int64, name="seed")
    signatures = {}
    for name, (function, input_signature, draws_noise) in endpoints.items():
        if not draws_noise:
            signatures[name] = (function, input_signature)
            continue
        signatures[name] = (_unseeded(function), input_signature)
        signatures[name + SEEDED_SUFFIX] = (_seeded(function), [*input_signature, seed_spec])
    return signatures


def image_model_shapes(model):
    """(input image shape [H, W, C], output rank) of a one-input, one-output model."""
    inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
    if not isinstance(model, keras.Model) or not inputs or not outputs:
        raise ValueError(
            "Argument `model` must be a built functional Keras model (with `inputs` and "
            f"`outputs`), such as the zoo's builders return. Received: model={model!r}"
        )
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            "Argument `model` must have one input (the images) and one output. Received: "
            f"{len(inputs)} input(s) and {len(outputs)} output(s)"
        )
    input_shape = tuple(inputs[0].shape)
    if len(input_shape) != 4 or input_shape[3] is None:
        raise ValueError(
            "Argument `model` must take images [batch, height, width, channels] with a "
            f"known number of channels. Received: input shape {input_shape}"
        )
    return input_shape[1:], len(outputs[0].shape)


def _task_endpoints(model, num_samples, samples_per_call, mode):
    """The endpoints of the registered task that serves `model`."""
    for task in task_registry.registered():
        if task.serves(model):
            return task.serving_endpoints(model, num_samples, samples_per_call, mode)
    # No task serves it: say what is wrong with it as an image model.
    _, output_rank = image_model_shapes(model)
    raise ValueError(
        "Argument `model` must output logits [batch, classes] (a classifier) or images "
        f"[batch, height, width, channels]. Received: output rank {output_rank}"
    )


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"Argument `{name}` must be a positive integer. Received: {name}={value!r}"
        )


def _prepare_export_dir(export_dir, overwrite):
    export_dir = os.path.abspath(os.fspath(export_dir))
    if os.path.isfile(export_dir):
        raise ValueError(f"Argument `export_dir` is a file. Received: export_dir={export_dir!r}")
    if os.path.isdir(export_dir) and os.listdir(export_dir):
        if not overwrite:
            raise ValueError(
                f"Argument `export_dir` already holds files. Received: export_dir={export_dir!r}. "
                "Fix: export to a new version folder, or pass overwrite=True."
            )
        if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
            raise ValueError(
                "Argument `export_dir` holds files but no SavedModel; overwrite=True only "
                f"replaces a SavedModel. Received: export_dir={export_dir!r}"
            )
    return export_dir


def saved_model(
    model,
    export_dir,
    num_samples=20,
    samples_per_call=None,
    mode="softmax",
    overwrite=False,
):
    """Writes a SavedModel whose signatures predict with uncertainty.

    The signatures (see the module docstring) run the Monte Carlo prediction
    of `bayes_zoo.uncertainty.monte_carlo_probabilities` and its
    decompositions (`decompose`) inside the graph. A classifier (output
    [batch, classes], logits) gets `serving_default`,
    `predict_with_uncertainty` and `posterior_mean`; an image-to-image model
    (output [batch, height', width', channels], such as
    `bz.architectures.espcn`) gets the super-resolution signatures; a
    `bz.architectures.BayesianDCGAN` gets `serving_default` (`latent` ->
    generated `images`, the discriminator's Monte Carlo `probability_real`
    and its `uncertainty`), `discriminate` (`images` -> the same two) and
    `posterior_mean` (`images` -> `probability_real` of the posterior-mean
    discriminator). The
    model's current switches are exported: a model inside
    `bz.layers.posterior_mean` exports deterministic signatures.

    The SavedModel is written beside `export_dir` first and renamed into
    place, so that a server watching the parent folder never loads a partial
    export.

    Args:
        model: a functional Keras model with one image input and one output.
        export_dir: the folder to write, e.g. `saved_models/NAME/1`.
        num_samples: positive int, the Monte Carlo samples T of
            `serving_default`.
        samples_per_call: positive int or None, the copies of the batch one
            model call holds (bounds memory); None: `num_samples`.
            `serving_default` makes `ceil(T / samples_per_call)` calls;
            `predict_with_uncertainty` draws a requested `n` samples in
            `ceil(n / samples_per_call)` calls of `samples_per_call` copies
            and discards the last call's extra draws (ask for multiples of
            it to waste none).
        mode: `"softmax"` or `"normalized"`, as in
            `bz.predict_with_uncertainty` (classifiers only).
        overwrite: bool, replace a SavedModel already in `export_dir`.

    Returns:
        `export_dir`, as an absolute path.

    Raises:
        ValueError: a bad argument, a model that is not a one-input
            one-output image model, or an `export_dir` that already holds
            files (without `overwrite`).
        FileExistsError: without `overwrite`, another process wrote
            `export_dir` while this export was being written (theirs is
            kept, complete).

    Example:

    >>> bz.export.saved_model(model, "saved_models/lenet5_lrt_mnist/1", num_samples=20)
    >>> served = tf.saved_model.load("saved_models/lenet5_lrt_mnist/1")
    >>> served.signatures["predict_with_uncertainty"](
    ...     images=images, num_samples=tf.constant(50))["epistemic"]
    """
    _check_positive_int("num_samples", num_samples)
    num_samples = int(num_samples)
    if samples_per_call is not None:
        _check_positive_int("samples_per_call", samples_per_call)
        samples_per_call = int(samples_per_call)
    if mode not in MODES:
        raise ValueError(
            f"Unknown argument `mode`: expected one of {MODES}. Received: mode={mode!r}"
        )
    endpoints = _task_endpoints(model, num_samples, samples_per_call, mode)
    export_dir = _prepare_export_dir(export_dir, overwrite)

    archive = keras.export.ExportArchive()
    # No `archive.track(model)`: the endpoints track the variables they use,
    # and `track` would store each of them a second time (keras-team/keras#23553).
    for name, (function, input_signature) in _signatures(endpoints).items():
        archive.add_endpoint(name, function, input_signature)
    parent, version = os.path.split(export_dir)
    os.makedirs(parent, exist_ok=True)
    # A dot folder (TensorFlow Serving only loads folders named by a number),
    # one per writer, so that concurrent exports never write into each other.
    partial = os.path.join(parent, f".{version}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        archive.write_out(partial, verbose=False)
        if overwrite and os.path.isdir(export_dir):
            shutil.rmtree(export_dir)
        try:
            # Atomic, and refused where another writer finished first.
            os.rename(partial, export_dir)
        except OSError as error:
            if not os.path.isdir(export_dir):
                raise
            raise FileExistsError(
                f"Another export wrote {export_dir} while this one was written; it is kept. "
                "Fix: pass overwrite=True to replace it."
            ) from error
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return export_dir


# --- TensorFlow Serving's layout ---------------------------------------------------


def versions(model_dir):
    """The version numbers exported in `model_dir` (`BASE/MODEL_NAME`), sorted.

    A version is a folder named by a positive integer that holds a
    `saved_model.pb`, as TensorFlow Serving reads them.

    Example:

    >>> bz.export.versions("saved_models/lenet5_lrt_mnist")
    [1, 2]
    """
    model_dir = os.fspath(model_dir)
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(entry)
        for entry in os.listdir(model_dir)
        if entry.isdigit()
        and int(entry) > 0
        and os.path.isfile(os.path.join(model_dir, entry, "saved_model.pb"))
    )


def exported_models(base):
    """Names of the models exported under `base` (those with a version), sorted.

    Example:

    >>> bz.export.exported_models("saved_models")
    ['demo_lrt_digits', 'lenet5_lrt_mnist']
    """
    base = os.fspath(base)
    if not os.path.isdir(base):
        return []
    return sorted(
        entry
        for entry in os.listdir(base)
        if not entry.startswith(".") and versions(os.path.join(base, entry))
    )


def write_models_config(base, serving_root=DEFAULT_SERVING_ROOT):
    """Writes `BASE/models.config`, TensorFlow Serving's list of the models under `base`.

    A text `ModelServerConfig` with one `config` per model of
    `exported_models(base)`, each served from `serving_root/MODEL_NAME` (the
    server's view of `base`; TensorFlow Serving serves its highest version).

    Args:
        base: the folder holding `MODEL_NAME/VERSION/` exports.
        serving_root: where the server sees `base`: `"/models"` for the
            docker image with `--mount ...,target=/models`, or `base`'s own
            absolute path for a `tensorflow_model_server` on this machine.

    Returns:
        The path of the file written.

    Raises:
        ValueError: `base` holds no exported model.

    Example:

    >>> bz.export.write_models_config("saved_models")
    'saved_models/models.config'
    """
    base = os.fspath(base)
    names = exported_models(base)
    if not names:
        raise ValueError(
            "Argument `base` holds no exported model (MODEL_NAME/VERSION/saved_model.pb). "
            f"Received: base={base!r}"
        )
    root = serving_root.rstrip("/")
    entries = "".join(
        "  config {\n"
        f'    name: "{name}"\n'
        f'    base_path: "{root}/{name}"\n'
        '    model_platform: "tensorflow"\n'
        "  }\n"
        for name in names
    )
    path = os.path.join(base, MODELS_CONFIG)
    # Written whole and renamed, so that a server polling the file never
    # reads half of it.
    partial = f"{path}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with open(partial, "w") as file:
        file.write(f"model_config_list {{\n{entries}}}\n")
    os.replace(partial, path)
    return path


def export_for_serving(
    model,
    base,
    name,
    version=None,
    num_samples=20,
    samples_per_call=None,
    mode="softmax",
    serving_root=DEFAULT_SERVING_ROOT,
):
    """Exports `model` as `BASE/NAME/VERSION/` and rewrites `BASE/models.config`.

    Args:
        model: as for `saved_model`.
        base: the folder TensorFlow Serving mounts, e.g. `saved_models`.
        name: the model's name on the server: letters, digits, `_`, `-`, `.`.
        version: positive int, or None for one more than the highest version
            exported (1 for the first). An existing version is refused.
        num_samples, samples_per_call, mode: as for `saved_model`.
        serving_root: as for `write_models_config`.

    Returns:
        The version folder written, as an absolute path.

    Raises:
        ValueError: a bad argument or an existing version.

    Example:

    >>> bz.export.export_for_serving(model, "saved_models", "lenet5_lrt_mnist", num_samples=20)
    '/home/me/bayes-zoo/saved_models/lenet5_lrt_mnist/1'
    """
    if (
        not isinstance(name, str)
        or not name
        or name.startswith(".")
        or not all(character.isalnum() or character in "_-." for character in name)
    ):
        raise ValueError(
            "Argument `name` must be letters, digits, '_', '-' or '.', not starting with '.'. "
            f"Received: name={name!r}"
        )
    model_dir = os.path.join(os.fspath(base), name)
    if version is None:
        version = (versions(model_dir) or [0])[-1] + 1
    _check_positive_int("version", version)
    version = int(version)
    export_dir = os.path.join(model_dir, str(version))
    if os.path.exists(export_dir):
        raise ValueError(
            f"Version {version} of {name!r} already exists: {os.path.abspath(export_dir)}. "
            "Fix: pass another version (None: the next one), or delete that folder."
        )
    export_dir = saved_model(model, export_dir, num_samples, samples_per_call, mode)
    write_models_config(base, serving_root)
    return export_dir
