"""The zoo's registry: its home, its cards, and their trained models and exports.

The zoo's home is the folder that holds `models/` and `saved_models/`: the
`root` argument of every function here, else the environment variable
`BAYES_ZOO_HOME`, else the repository this package is installed from
(editable installs). Nothing is ever downloaded.

Example:

>>> bz.zoo.list()                             # ['alexnet_frequentist_cifar10', ...]
>>> model = bz.zoo.load("lenet5_lrt_mnist")   # the trained keras model
>>> bz.zoo.saved_model_path("lenet5_lrt_mnist")  # exported on first use
"""

import os

from bayes_zoo import saving
from bayes_zoo import task_registry
from bayes_zoo.zoo.card_schema import Card
from bayes_zoo.zoo.card_schema import read_card

HOME_VARIABLE = "BAYES_ZOO_HOME"


def home(root=None):
    """The zoo's home folder, which holds `models/` and `saved_models/`.

    Args:
        root: None or a folder. None: `$BAYES_ZOO_HOME` if set, else the
            repository this package is installed from.

    Returns:
        The folder, as an absolute path.

    Raises:
        FileNotFoundError: the folder does not exist or has no `models/`.

    Example:

    >>> bz.zoo.home()
    '/home/me/bayes-zoo'
    """
    how = {"argument": "the argument `root`", "environment": f"${HOME_VARIABLE}",
           "package": "the repository of the installed package"}[home_source(root)]
    if root is None:
        # bayes_zoo/zoo/registry.py -> the repository holding bayes_zoo/.
        root = os.environ.get(HOME_VARIABLE) or os.path.dirname(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    root = os.path.abspath(os.path.expanduser(os.fspath(root)))
    if not os.path.isdir(os.path.join(root, "models")):
        raise FileNotFoundError(
            f"No zoo cards folder {os.path.join(root, 'models')} (from {how}). Fix: set "
            f"{HOME_VARIABLE} to the bayes-zoo repository, which holds models/*.toml."
        )
    return root


def home_source(root=None):
    """Where `home(root)` takes the zoo's home from.

    The `bayes-zoo` command writes a card's artefacts into its home by
    default only when the user named that home: it never rewrites the
    repository the package is installed from unless asked.

    Args:
        root: None or a folder, as in `home`.

    Returns:
        `"argument"` (`root` given), `"environment"` (`$BAYES_ZOO_HOME`) or
        `"package"` (the repository of the installed package).

    Example:

    >>> bz.zoo.home_source()
    'package'
    """
    if root is not None:
        return "argument"
    return "environment" if os.environ.get(HOME_VARIABLE) else "package"


# `list` is the zoo's public name (DESIGN.md); inside this module the
# built-in is `builtins.list`.
def list(root=None):  # noqa: A001
    """Names of the zoo's cards, sorted.

    Args:
        root: the zoo's home, see `home`.

    Returns:
        A list of str.

    Example:

    >>> bz.zoo.list()[:2]
    ['alexnet_frequentist_cifar10', 'alexnet_half_frequentist_cifar10']
    """
    folder = os.path.join(home(root), "models")
    return sorted(
        os.path.splitext(entry)[0] for entry in os.listdir(folder) if entry.endswith(".toml")
    )


def card(name, root=None):
    """One card, by name or by the path of a `.toml` file.

    Args:
        name: a card name of `list()`, or the path of a card file.
        root: the zoo's home, see `home`.

    Returns:
        A `Card`.

    Raises:
        ValueError: an unknown name (the message lists the known ones) or an
            invalid card.

    Example:

    >>> bz.zoo.card("gal_lenet_all_mcdropout_mnist").model
    {'dropout': 'all', 'dropout_rate': 0.5, 'activation': 'relu', 'train_samples': 1}
    """
    name = os.fspath(name)
    if name.endswith(".toml"):
        return read_card(name)
    known = list(root)
    if name not in known:
        raise ValueError(
            f"Unknown zoo card {name!r}. Known cards: {', '.join(known)}. Fix: pick one of "
            "those (`bayes-zoo list`) or pass the path of a .toml card file."
        )
    return read_card(os.path.join(home(root), "models", f"{name}.toml"))


def cards(root=None):
    """Every card of the zoo, sorted by name.

    Example:

    >>> [(c.name, c.dataset) for c in bz.zoo.cards()][:1]
    [('alexnet_frequentist_cifar10', 'cifar10')]
    """
    return [card(name, root) for name in list(root)]


def _as_card(name_or_card, root):
    return name_or_card if isinstance(name_or_card, Card) else card(name_or_card, root)


def model_path(name, root=None):
    """Where the card's trained `.keras` model lives (whether or not it exists yet).

    Example:

    >>> bz.zoo.model_path("lenet5_lrt_mnist")
    '/home/me/bayes-zoo/saved_models/lenet5_lrt_mnist/model.keras'
    """
    zoo_card = _as_card(name, root)
    return os.path.join(home(root), zoo_card.artefacts["model"])


def train_command(zoo_card, output_dir):
    """The `bayes-zoo train` command that writes the card's model into `output_dir`."""
    command = f"bayes-zoo train {zoo_card.name}"
    if zoo_card.dataset != "digits":
        command += f" --data-dir FOLDER_WITH_{zoo_card.dataset.upper()}"
    # The command writes into the card's artefact folder by default only in
    # a zoo home named by $BAYES_ZOO_HOME; elsewhere under the current folder.
    default = (os.path.dirname(model_path(zoo_card)) if home_source() == "environment"
               else None)
    if os.path.abspath(output_dir) != default:
        command += f" --output {output_dir}"
    return command


def load(name, root=None, compile=True):
    """Loads a zoo model trained by `bayes-zoo train`.

    Args:
        name: a card name or a `Card`.
        root: the zoo's home, see `home`.
        compile: bool, compile the model with its saved loss, metrics and
            optimizer configuration (for fine-tuning). The optimizer starts
            afresh: a zoo artefact holds no optimizer state (see
            `save_for_inference`).

    Returns:
        The trained `keras.Model`, mapping images to logits.

    Raises:
        ValueError: an unknown card.
        FileNotFoundError: the model was not trained yet; the message gives
            the command that trains it.
        ValueError: the model file exists but is not a readable `.keras`
            archive (truncated or overwritten); see `load_file`.

    Example:

    >>> model = bz.zoo.load("lenet5_lrt_mnist")
    >>> result = bz.predict_with_uncertainty(model, images, num_samples=25)
    """
    zoo_card = _as_card(name, root)
    path = model_path(zoo_card, root)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Zoo model {zoo_card.name!r} is not trained: no file {path}. "
            f"Fix: run `{train_command(zoo_card, os.path.dirname(path))}`, which writes it."
        )
    return load_file(path, compile=compile, card=zoo_card)


def load_file(path, compile=True, card=None):
    """Loads a `.keras` file of any task, telling a corrupt file from a missing one.

    `bz.saving.load_model_file` with every task's layers and models
    registered with Keras' loading. Keras reports a truncated or overwritten
    `.keras` file as "File not found"; this says that the file exists but is
    not a readable `.keras` archive, and how to get a good copy back. The
    stochastic layers' own noise streams restart from Python's `random`
    (`bz.layers.noise.reseed`), so the seeds the file records do not freeze
    the noise of `model(x)`.

    Args:
        path: the `.keras` file, as written by `model.save` or
            `save_for_inference`.
        compile: bool, as in `keras.models.load_model`.
        card: None, or the card (a name or a `Card`) whose training writes
            the file: the message of a corrupt file then gives its
            `bayes-zoo train` command.

    Returns:
        The `keras.Model`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file exists but is not a readable `.keras` archive.

    Example:

    >>> model = bz.zoo.load_file("runs/demo/model.keras", compile=False)
    """
    # Each task's own layers and models (ESPCN's PixelShuffle, the
    # BayesianDCGAN) register with Keras' loading when their modules load.
    for task in task_registry.registered():
        task.register_keras_objects()
    retrain_command = None
    if card is not None:
        retrain_command = train_command(_as_card(card, None),
                                         os.path.dirname(os.path.abspath(os.fspath(path))))
    return saving.load_model_file(path, compile=compile, retrain_command=retrain_command)


def _export_on_demand(zoo_card, root, export_dir):
    """Exports the card's trained model into `export_dir`; the folder written."""
    from bayes_zoo import export  # Lazy: exporting needs TensorFlow's SavedModel machinery.

    base = os.path.dirname(os.path.dirname(export_dir))
    if not os.access(home(root), os.W_OK):
        raise PermissionError(
            f"Zoo model {zoo_card.name!r} has no SavedModel export yet, and the zoo's home "
            f"{home(root)} is not writable. Fix: run `bayes-zoo export {zoo_card.name} "
            f"--output DIR` and load DIR/{zoo_card.name}/1, or set ${HOME_VARIABLE} to a "
            "writable copy of the zoo."
        )
    print(f"Exporting zoo model {zoo_card.name!r} to {export_dir} (first use; later calls "
          "reuse it)...", flush=True)
    model = load(zoo_card, root, compile=False)
    try:
        export.saved_model(model, export_dir, num_samples=zoo_card.evaluation.num_samples)
    except FileExistsError:
        pass  # Another process exported it first; its rename made it complete.
    export.write_models_config(base)
    return export_dir


def saved_model_path(name, version=None, root=None, must_exist=True, export_if_missing=True):
    """The folder of a SavedModel export of a zoo model, exported on first use.

    Exports follow TensorFlow Serving's layout, one numbered folder per
    version (`saved_models/<name>/<version>/`). The repository commits only
    each card's `model.keras`: the first call without a version exports it
    as version 1 (the card's `[evaluation] num_samples` in
    `serving_default`) into that folder, which git ignores, and later calls
    reuse it. Processes asking at once get one complete export.

    Args:
        name: a card name or a `Card`.
        version: positive int, or None for the highest version exported.
        root: the zoo's home, see `home`.
        must_exist: bool; False returns the path of `version` whether or not
            it exists (where an export should write).
        export_if_missing: bool; with `version=None` and no export yet,
            export the trained `model.keras` (True) or raise (False).

    Returns:
        The folder, as a str.

    Raises:
        FileNotFoundError: with `must_exist`, no such export (and none can
            be made: the model is not trained, or `export_if_missing` is
            False); the message gives the commands that produce it.
        PermissionError: the export should be made but the zoo's home is
            not writable; the message says where to export instead.

    Example:

    >>> bz.zoo.saved_model_path("lenet5_lrt_mnist")
    '/home/me/bayes-zoo/saved_models/lenet5_lrt_mnist/1'
    """
    zoo_card = _as_card(name, root)
    template = os.path.join(home(root), zoo_card.artefacts["saved_model"].rstrip("/"))
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise ValueError(f"Argument `version` must be a positive integer. Received: {version!r}")
    if version is None:
        if not must_exist:
            raise ValueError("Argument `version` is needed with must_exist=False.")
        parent = os.path.dirname(template)
        versions = sorted(
            int(entry)
            for entry in (os.listdir(parent) if os.path.isdir(parent) else ())
            if entry.isdigit() and os.path.isdir(os.path.join(parent, entry))
        )
        if versions:
            return template.format(version=versions[-1])
        if export_if_missing and os.path.isfile(model_path(zoo_card, root)):
            return _export_on_demand(zoo_card, root, template.format(version=1))
        path = template.format(version="<version>")
    else:
        path = template.format(version=version)
        if not must_exist or os.path.isdir(path):
            return path
    raise FileNotFoundError(
        f"Zoo model {zoo_card.name!r} has no SavedModel export {path}. Fix: run "
        f"`bayes-zoo export {zoo_card.name}"
        # Elsewhere than in a $BAYES_ZOO_HOME zoo, the command writes to ./serving.
        + ("" if home_source(root) == "environment"
           else f" --output {os.path.dirname(os.path.dirname(template))}")
        + "`"
        + ("" if os.path.isfile(model_path(zoo_card, root))
           else " after `"
           + train_command(zoo_card, os.path.dirname(model_path(zoo_card, root))) + "`")
        + "."
    )
