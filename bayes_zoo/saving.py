"""Writing and reading `.keras` model files: without optimizer state, and corrupt files named.

- `save_for_inference`: `model.save` without the optimizer's state (what the
  zoo commits);
- `load_model_file`: `keras.models.load_model` that tells a corrupt file
  from a missing one, and restarts the layers' noise streams.

Example:

>>> bz.saving.save_for_inference(model, "model.keras")
>>> model = bz.saving.load_model_file("model.keras", compile=False)
"""

import os
import warnings
import zipfile
import zlib

# The members every `.keras` archive that `model.save` writes holds.
_KERAS_ARCHIVE_MEMBERS = ("config.json", "model.weights.h5")


def _archive_problem(path):
    """Why `path` is not a `.keras` archive, or None when it looks like one."""
    if not zipfile.is_zipfile(path):
        return "it is not a zip archive (a truncated download or copy, or another file)"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as error:
        return f"its zip directory is damaged ({error})"
    missing = [member for member in _KERAS_ARCHIVE_MEMBERS if member not in names]
    if missing:
        return f"it is a zip archive without {' and '.join(missing)}, not a `model.save` file"
    return None


def load_model_file(path, compile=True, retrain_command=None):
    """Loads a `.keras` file, telling a corrupt file from a missing one.

    Keras reports a truncated or overwritten `.keras` file as "File not
    found"; this says that the file exists but is not a readable `.keras`
    archive, and how to get a good copy back. The stochastic layers' own
    noise streams restart from Python's `random` (`bz.layers.noise.reseed`),
    so the seeds the file records do not freeze the noise of `model(x)`.

    Args:
        path: the `.keras` file, as written by `model.save` or
            `save_for_inference`.
        compile: bool, as in `keras.models.load_model`.
        retrain_command: None, or the command that writes the file again
            (such as its `bayes-zoo train` command), which the message of a
            corrupt file gives.

    Returns:
        The `keras.Model`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file exists but is not a readable `.keras` archive.

    Example:

    >>> model = bz.saving.load_model_file("runs/demo/model.keras", compile=False)
    """
    # Importing them registers the core's layers, models and learning-rate
    # schedules with Keras' loading; a task's own layers register when its
    # package is imported (`bz.zoo.load_file` imports them all).
    import keras

    from bayes_zoo import schedules  # noqa: F401
    from bayes_zoo import training  # noqa: F401
    from bayes_zoo.layers import noise

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No model file {path}. Fix: pass a .keras file written by `model.save`."
        )
    problem = _archive_problem(path)
    if problem is None:
        try:
            with warnings.catch_warnings():
                # Compiling builds a fresh optimizer, and a `save_for_inference`
                # file holds no state for it: Keras warns of that, which is the
                # point.
                warnings.filterwarnings(
                    "ignore", message="Skipping variable loading for optimizer"
                )
                model = keras.models.load_model(path, compile=compile)
            # The file records each layer's seed: without this, every
            # process that loads it would draw the same noise in `model(x)`.
            noise.reseed(model)
            return model
        except (zipfile.BadZipFile, EOFError, zlib.error) as error:
            # A member's bytes damaged behind an intact zip directory.
            problem = f"a member of the zip archive is damaged ({error})"
    retrain = (f"`{retrain_command}`" if retrain_command is not None
               else "`bayes-zoo train CARD` for the card that wrote it")
    raise ValueError(
        f"Model file {path} exists but is not a readable .keras archive: {problem}. "
        f"Fix: restore a good copy (if git tracks it, `git checkout -- {path}`) "
        f"or retrain it with {retrain}."
    )


def save_for_inference(model, path):
    """Saves `model` as a `.keras` file without its optimizer's state.

    The file holds what `model.save` writes (architecture, weights, compile
    settings: loss, metrics and the optimizer's configuration) except the
    optimizer's state, which is replaced by that of an unbuilt optimizer of
    the same configuration: the state (Adam's moments are twice the weights)
    serves only to resume training, and a zoo artefact is for prediction and
    fine-tuning. `keras.models.load_model(path)` returns a model that
    predicts as `model` does and can `fit` again with a freshly started
    optimizer; resuming a run exactly needs a `model.save` file (the
    trainer's checkpoint).

    Args:
        model: a Keras model, compiled or not; it is left as it was.
        path: the `.keras` file to write.

    Returns:
        `path`.

    Example:

    >>> model.fit(train_ds, epochs=10)
    >>> bz.saving.save_for_inference(model, "saved_models/lenet5_lrt_mnist/model.keras")
    >>> model = bz.zoo.load("lenet5_lrt_mnist")
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        model.save(path)
        return path
    # Keras 3's `.keras` format has no `include_optimizer`, and the optimizer
    # is saved from `model.optimizer`: swap in one without per-weight state.
    model.optimizer = type(optimizer).from_config(optimizer.get_config())
    try:
        model.save(path)
    finally:
        model.optimizer = optimizer
    return path
