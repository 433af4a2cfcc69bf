"""Datasets of the zoo as batched, prefetched `tf.data` pipelines.

Every dataset has the official train and test splits; a validation split is
carved from the official train split, and the test split is never touched.
The images come from the first source that has them, in this order:

1. TensorFlow Datasets: a prepared copy in `data_dir` (or TFDS' default
   folder). Nothing is ever downloaded.
2. A folder holding the datasets' standard files: `mnist.npz`, the MNIST /
   Fashion-MNIST idx files, `cifar-10-batches-py/`, `cifar-100-python/`,
   SVHN's `train_32x32.mat` / `test_32x32.mat`, or class-subfolder image trees
   `train/<class>/*.png|jpg` and `test/<class>/...`. That folder is `data_dir`
   when given, otherwise Keras' dataset cache (`~/.keras/datasets`), and each
   layout is also looked for in a subfolder named after the dataset.
3. Data bundled in an installed package: scikit-learn's 8x8 digits
   (`"digits"`), which needs no files at all.

A dataset found nowhere, or a file that cannot be read, raises one error that
says what was looked for, where, and how to fix it.
"""

import dataclasses
import gzip
import logging
import os
import pickle
import re
import zipfile
import zlib

import numpy as np
import tensorflow as tf

DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn_cropped", "digits")
SPLITS = ("train", "validation", "test")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# The operations of an `augment` policy string, applied in this order.
AUGMENTATIONS = ("rotate", "crop", "flip")
# The bound of "rotate" without one: the paper's code rotates its training
# images by up to 10 degrees (PyTorch-BayesianCNN, data/data.py).
DEFAULT_MAX_ROTATION_DEGREES = 10.0

# The official order of the CIFAR-100 fine labels (`fine_label_names` of its
# `meta` file), which is alphabetical.
_CIFAR100_CLASSES = tuple(
    """
    apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy
    bridge bus butterfly camel can castle caterpillar cattle chair chimpanzee
    clock cloud cockroach couch crab crocodile cup dinosaur dolphin elephant
    flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower
    leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom
    oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate
    poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark
    shrew skunk skyscraper snail snake spider squirrel streetcar sunflower
    sweet_pepper table tank telephone television tiger tractor train trout tulip
    turtle wardrobe whale willow_tree wolf woman worm
    """.split()
)
_DIGIT_CLASSES = tuple(str(digit) for digit in range(10))

# TFDS' `batch_size=-1` crashes under `tfds.testing.mock_data`, so splits are
# read in batches of this size and concatenated.
_TFDS_READ_BATCH = 4096
# "digits" has no official test split: the last 20% of a fixed permutation.
_DIGITS_TEST_FRACTION = 0.2
_DIGITS_SPLIT_SEED = 0

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know of a dataset.

    Attributes:
        name: str, one of `DATASETS`.
        image_shape: tuple `(height, width, channels)` of the images as
            loaded (MNIST and Fashion-MNIST are padded to 32x32 by default).
        num_classes: int.
        class_names: tuple of str, indexed by label id.

    Example:

    >>> info = bz.data.dataset_info("mnist")
    >>> info.image_shape, info.num_classes
    ((32, 32, 1), 10)
    """

    name: str
    image_shape: tuple
    num_classes: int
    class_names: tuple


@dataclasses.dataclass
class DataSplits:
    """The three pipelines of a dataset, with their sizes.

    Attributes:
        train: `tf.data.Dataset` of the training examples (the official train
            split less the validation examples).
        validation: `tf.data.Dataset`, or None when `validation_fraction=0`.
        test: `tf.data.Dataset` of the official test split.
        num_train_examples: int, e.g. for `kl_weight = 1 / num_train_examples`.
        num_validation_examples: int.
        num_test_examples: int.
        info: `DatasetInfo`, with `image_shape` as these pipelines yield it.
        source: str, where the images were read from.

    Example:

    >>> splits = bz.data.load_splits("mnist", data_dir="/data")
    >>> model.fit(splits.train, validation_data=splits.validation)
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    num_train_examples: int
    num_validation_examples: int
    num_test_examples: int
    info: DatasetInfo
    source: str = ""
    # `(initial_epoch, epochs, steps_per_epoch) -> (dataset, steps)`, set by
    # `load_splits`; what `train_epochs` runs.
    _train_epochs: object = dataclasses.field(default=None, repr=False, compare=False)

    def train_epochs(self, epochs, initial_epoch=0, steps_per_epoch=None):
        """The training batches of epochs `initial_epoch .. epochs - 1`, for resumable runs.

        `train` draws a new shuffling order (and augmentation) each time it is
        iterated, so a fresh pipeline, as a resumed run builds, starts the
        sequence again from the first epoch's. Here epoch `e` is shuffled and
        augmented by stateless draws keyed on the loader's seed and `e`
        alone: a run resumed at epoch `e` sees the batches an uninterrupted
        run sees there. Epochs are 0-based, as Keras' `initial_epoch`.

        Args:
            epochs: int, the index of the epoch to stop before (the total, as
                `fit`'s `epochs`).
            initial_epoch: int >= 0, the first epoch to yield.
            steps_per_epoch: positive int or None: yield at most this many
                batches of each epoch (its first ones); None yields them all.

        Returns:
            `(dataset, steps)`: a `tf.data.Dataset` of the epochs' batches one
            epoch after another, and the batches per epoch, for `fit`'s
            `steps_per_epoch`.

        Example:

        >>> splits = bz.data.load_splits("digits", seed=0, augment=True)
        >>> train, steps = splits.train_epochs(10, initial_epoch=3)
        >>> model.fit(train, steps_per_epoch=steps, epochs=10, initial_epoch=3)
        """
        if self._train_epochs is None:
            raise ValueError(
                "This DataSplits was not made by bz.data.load_splits, so it cannot "
                "rebuild its training epochs. Fix: make it with load_splits."
            )
        _check_int("epochs", epochs, 0)
        _check_int("initial_epoch", initial_epoch, 0)
        if steps_per_epoch is not None:
            _check_int("steps_per_epoch", steps_per_epoch, 1)
        if initial_epoch > epochs:
            raise ValueError(
                f"Argument `initial_epoch` must be at most `epochs`. Received: "
                f"initial_epoch={initial_epoch}, epochs={epochs}")
        return self._train_epochs(int(initial_epoch), int(epochs), steps_per_epoch)


@dataclasses.dataclass(frozen=True)
class _Source:
    """Where a dataset's images were found.

    `read(split)` returns the official `"train"` or `"test"` split as
    `(images, labels)` arrays; it raises ValueError if the files are corrupt.
    """

    description: str
    read: object


@dataclasses.dataclass(frozen=True)
class _Spec:
    """What the loader knows of one dataset.

    `layouts` are functions `layout(folder, spec) -> (looked_for, source)`
    tried in order in each candidate folder; `source` is None when the layout
    is absent there. `folder_names` are the subfolders of a data folder that
    may hold the files. `max_value` is the pixel value that maps to 1.0.
    """

    name: str
    native_shape: tuple
    default_size: tuple
    class_names: tuple
    max_value: int
    horizontal_flip: bool  # whether a mirrored image keeps its label
    tfds_name: object
    layouts: tuple
    folder_names: tuple
    bundled: object = None
    fix: str = ""


# ---------------------------------------------------------------------------
# Directory layouts.


def _corrupt(spec, path, problem):
    return ValueError(
        f"Dataset '{spec.name}': could not read {path}: {problem}. Fix: replace it "
        "with a complete copy of the official file, or move it away so that the "
        "next source is used."
    )


def _npz_layout(filename):
    """`filename` with arrays x_train, y_train, x_test, y_test (keras' mnist.npz)."""

    def layout(folder, spec):
        path = os.path.join(folder, filename)
        if not os.path.isfile(path):
            return path, None

        def read(split):
            # Read directly: keras.datasets.mnist.load_data() deletes a cached
            # file whose hash it does not know when it cannot re-download it.
            try:
                with np.load(path, allow_pickle=False) as arrays:
                    return arrays[f"x_{split}"], arrays[f"y_{split}"]
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
                raise _corrupt(spec, path, f"{type(error).__name__}: {error}") from error

        return path, _Source(path, read)

    return layout


_IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_idx(path, spec):
    """An idx file (optionally gzipped) of unsigned bytes as an array."""
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as file:
            data = file.read()
    except (OSError, EOFError, zlib.error) as error:
        raise _corrupt(spec, path, f"{type(error).__name__}: {error}") from error
    # Header: two zero bytes, a type code (0x08: unsigned byte), the number of
    # dimensions, then each dimension as a big-endian uint32.
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise _corrupt(spec, path, "not an idx file of unsigned bytes (bad header)")
    ndim = data[3]
    header_size = 4 + 4 * ndim
    shape = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    values = np.frombuffer(data, dtype=np.uint8, offset=min(header_size, len(data)))
    if len(data) < header_size or values.size != int(np.prod(shape)):
        raise _corrupt(
            spec, path, f"the header announces shape {shape} but the file holds "
            f"{max(len(data) - header_size, 0)} values (truncated?)"
        )
    return values.reshape(shape)


def _idx_layout(folder, spec):
    """The four MNIST-format idx files, gzipped or not."""
    looked_for = os.path.join(
        folder, "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]"
    )
    paths = {}
    for stem in _IDX_STEMS["train"] + _IDX_STEMS["test"]:
        for candidate in (os.path.join(folder, stem + ".gz"), os.path.join(folder, stem)):
            if os.path.isfile(candidate):
                paths[stem] = candidate
                break
    if not paths:
        return looked_for, None
    missing = [stem for stem in _IDX_STEMS["train"] + _IDX_STEMS["test"] if stem not in paths]
    if missing:
        raise FileNotFoundError(
            f"Dataset '{spec.name}': {folder} holds only some of the idx files; "
            f"missing: {', '.join(m + '[.gz]' for m in missing)}. Fix: add them."
        )

    def read(split):
        images_stem, labels_stem = _IDX_STEMS[split]
        return _read_idx(paths[images_stem], spec), _read_idx(paths[labels_stem], spec)

    return looked_for, _Source(folder + os.sep + " (idx files)", read)


def _cifar_pickle_layout(subfolder, split_files, label_key):
    """The python-pickle batches of CIFAR-10 / CIFAR-100."""

    def layout(folder, spec):
        root = os.path.join(folder, subfolder)
        looked_for = os.path.join(root, "")
        if not os.path.isdir(root):
            return looked_for, None

        def read(split):
            images, labels = [], []
            for filename in split_files[split]:
                path = os.path.join(root, filename)
                try:
                    # The official format is a pickle; it is only read from a
                    # folder the user named.
                    with open(path, "rb") as file:
                        batch = pickle.load(file, encoding="bytes")
                    data = np.asarray(batch[b"data"], dtype=np.uint8)
                    images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
                    labels.append(np.asarray(batch[label_key]))
                except (OSError, EOFError, KeyError, TypeError, ValueError,
                        pickle.UnpicklingError) as error:
                    raise _corrupt(spec, path, f"{type(error).__name__}: {error}") from error
            return np.concatenate(images), np.concatenate(labels)

        return looked_for, _Source(looked_for, read)

    return layout


def _svhn_layout(folder, spec):
    """SVHN's cropped-digits MATLAB files, `train_32x32.mat` and `test_32x32.mat`."""
    paths = {split: os.path.join(folder, f"{split}_32x32.mat") for split in ("train", "test")}
    looked_for = os.path.join(folder, "{train,test}_32x32.mat")
    if not all(os.path.isfile(path) for path in paths.values()):
        return looked_for, None

    def read(split):
        import scipy.io

        try:
            arrays = scipy.io.loadmat(paths[split])
            images = np.transpose(arrays["X"], (3, 0, 1, 2))
            labels = np.asarray(arrays["y"]).reshape(-1)
        except (OSError, ValueError, KeyError, TypeError,
                scipy.io.matlab.MatReadError) as error:
            raise _corrupt(spec, paths[split], f"{type(error).__name__}: {error}") from error
        # SVHN writes the digit 0 as label 10.
        return images, np.where(labels == 10, 0, labels)

    return looked_for, _Source(looked_for, read)


def _normalised(class_name):
    return re.sub(r"[^0-9a-z]", "", class_name.lower())


def _label_of_folder(folder, class_folder, spec):
    """The official label id of a class folder, matched by class name."""
    key = _normalised(class_folder)
    for label, class_name in enumerate(spec.class_names):
        if _normalised(class_name) == key:
            return label
    if class_folder.isdigit() and int(class_folder) < len(spec.class_names):
        return int(class_folder)
    raise ValueError(
        f"Dataset '{spec.name}': class folder {os.path.join(folder, class_folder)} is "
        f"not one of its classes {spec.class_names} (nor a label id 0.."
        f"{len(spec.class_names) - 1}). Fix: name each class folder after its class."
    )


def _decode_image(path, spec):
    image = tf.io.decode_image(
        tf.io.read_file(path), channels=spec.native_shape[-1], expand_animations=False
    )
    return tf.ensure_shape(image, spec.native_shape)


def _read_image_tree(folder, spec):
    """Images of `folder/<class>/*` with labels mapped by class name."""
    paths, labels = [], []
    for class_folder in sorted(os.listdir(folder)):
        class_path = os.path.join(folder, class_folder)
        if not os.path.isdir(class_path):
            continue
        label = _label_of_folder(folder, class_folder, spec)
        files = sorted(
            name for name in os.listdir(class_path) if name.lower().endswith(IMAGE_EXTENSIONS)
        )
        paths.extend(os.path.join(class_path, name) for name in files)
        labels.extend([label] * len(files))
    if not paths:
        raise ValueError(
            f"Dataset '{spec.name}': {folder} holds no images in class subfolders "
            f"(looked for {folder}/<class>/*{'|*'.join(IMAGE_EXTENSIONS)}). "
            "Fix: extract the complete image tree there."
        )
    decoded = (
        tf.data.Dataset.from_tensor_slices(paths)
        .map(lambda path: _decode_image(path, spec), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(1024)
    )
    try:
        images = np.concatenate(list(decoded.as_numpy_iterator()))
    except tf.errors.OpError as error:
        # The batched decoding does not say which file failed: find it.
        bad_path = folder
        for path in paths:
            try:
                _decode_image(path, spec)
            except tf.errors.OpError:
                bad_path = path
                break
        height, width, channels = spec.native_shape
        raise _corrupt(
            spec, bad_path, f"not a decodable {height}x{width} image with {channels} "
            f"channel(s) ({error.message.splitlines()[0]})"
        ) from error
    return images, np.asarray(labels)


def _image_tree_layout(folder, spec):
    """Class-subfolder trees `train/<class>/*` and `test/<class>/*`."""
    roots = {split: os.path.join(folder, split) for split in ("train", "test")}
    looked_for = os.path.join(folder, "{train,test}", "<class>", "*.png|jpg")
    if not all(os.path.isdir(root) for root in roots.values()):
        return looked_for, None
    return looked_for, _Source(
        os.path.join(folder, "{train,test}", ""),
        lambda split: _read_image_tree(roots[split], spec),
    )


# ---------------------------------------------------------------------------
# Bundled data.


def _digits_source():
    """scikit-learn's 1,797 8x8 digits, pixel values 0..16."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.uint8)[..., np.newaxis]
    num_examples = len(images)
    num_test = int(round(_DIGITS_TEST_FRACTION * num_examples))
    order = np.random.default_rng(_DIGITS_SPLIT_SEED).permutation(num_examples)
    indices = {"train": np.sort(order[:-num_test]), "test": np.sort(order[-num_test:])}
    return _Source(
        "scikit-learn's bundled 8x8 digits (sklearn.datasets.load_digits)",
        lambda split: (images[indices[split]], digits.target[indices[split]]),
    )


_IDX_FIX = "the four idx files ({train,t10k}-{images-idx3,labels-idx1}-ubyte.gz)"
_TREE_FIX = "or train/<class>/*.png|jpg and test/<class>/... image folders"

_SPECS = {
    "mnist": _Spec(
        name="mnist",
        native_shape=(28, 28, 1),
        default_size=(32, 32),
        class_names=_DIGIT_CLASSES,
        max_value=255,
        horizontal_flip=False,
        tfds_name="mnist",
        layouts=(_npz_layout("mnist.npz"), _idx_layout, _image_tree_layout),
        folder_names=("mnist",),
        fix=f"mnist.npz (arrays x_train, y_train, x_test, y_test), {_IDX_FIX}, {_TREE_FIX}",
    ),
    "fashion_mnist": _Spec(
        name="fashion_mnist",
        native_shape=(28, 28, 1),
        default_size=(32, 32),
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        max_value=255,
        horizontal_flip=True,
        tfds_name="fashion_mnist",
        layouts=(_idx_layout, _image_tree_layout),
        folder_names=("fashion-mnist", "fashion_mnist"),
        fix=f"{_IDX_FIX}, {_TREE_FIX}",
    ),
    "cifar10": _Spec(
        name="cifar10",
        native_shape=(32, 32, 3),
        default_size=(32, 32),
        class_names=(
            "airplane", "automobile", "bird", "cat", "deer",
            "dog", "frog", "horse", "ship", "truck",
        ),
        max_value=255,
        horizontal_flip=True,
        tfds_name="cifar10",
        layouts=(
            _cifar_pickle_layout(
                "cifar-10-batches-py",
                {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
                b"labels",
            ),
            _image_tree_layout,
        ),
        folder_names=("cifar10", "cifar-10", "cifar-10-batches-py-target"),
        fix=f"the extracted cifar-10-batches-py/ folder, {_TREE_FIX}",
    ),
    "cifar100": _Spec(
        name="cifar100",
        native_shape=(32, 32, 3),
        default_size=(32, 32),
        class_names=_CIFAR100_CLASSES,
        max_value=255,
        horizontal_flip=True,
        tfds_name="cifar100",
        layouts=(
            _cifar_pickle_layout(
                "cifar-100-python", {"train": ["train"], "test": ["test"]}, b"fine_labels"
            ),
            _image_tree_layout,
        ),
        folder_names=("cifar100", "cifar-100", "cifar-100-python-target"),
        fix=f"the extracted cifar-100-python/ folder, {_TREE_FIX}",
    ),
    "svhn_cropped": _Spec(
        name="svhn_cropped",
        native_shape=(32, 32, 3),
        default_size=(32, 32),
        class_names=_DIGIT_CLASSES,
        max_value=255,
        horizontal_flip=False,
        tfds_name="svhn_cropped",
        layouts=(_svhn_layout, _image_tree_layout),
        folder_names=("svhn_cropped", "svhn"),
        fix=f"train_32x32.mat and test_32x32.mat, {_TREE_FIX}",
    ),
    "digits": _Spec(
        name="digits",
        native_shape=(8, 8, 1),
        default_size=(8, 8),
        class_names=_DIGIT_CLASSES,
        max_value=16,
        horizontal_flip=False,
        tfds_name=None,
        layouts=(),
        folder_names=(),
        bundled=_digits_source,
    ),
}


# ---------------------------------------------------------------------------
# Finding and reading a source.


def _tfds_source(spec, data_dir):
    """`(source, None)` for a prepared TFDS copy, else `(None, why_not)`."""
    where = data_dir or "TFDS' default folder (~/tensorflow_datasets or $TFDS_DATA_DIR)"
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        return None, "TFDS: tensorflow_datasets is not installed"
    # Probing logs absl warnings about folders without a copy; the outcome is
    # reported in the error message instead, if no other source has the data.
    absl_logger = logging.getLogger("absl")
    absl_level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        datasets = {
            split: tfds.load(
                spec.tfds_name, split=split, data_dir=data_dir, download=False,
                as_supervised=True,
            )
            for split in ("train", "test")
        }
    # TFDS reports an absent copy with assorted exception types (AssertionError,
    # DatasetNotFoundError, ...): any of them means "not here, try the next".
    except Exception as error:  # noqa: BLE001
        reason = str(error).split(". ")[0].strip() or type(error).__name__
        return None, f"a TFDS copy in {where} ({reason})"
    finally:
        absl_logger.setLevel(absl_level)

    def read(split):
        try:
            batches = list(tfds.as_numpy(datasets[split].batch(_TFDS_READ_BATCH)))
        except Exception as error:  # noqa: BLE001 (TFDS / tf.data read errors)
            raise _corrupt(
                spec, f"the TFDS copy in {where}", f"{type(error).__name__}: {error}"
            ) from error
        return (
            np.concatenate([images for images, _ in batches]),
            np.concatenate([labels for _, labels in batches]),
        )

    return _Source(f"TFDS '{spec.tfds_name}' in {where}", read), None


def _data_folders(spec, data_dir):
    """Folders that may hold the dataset's files, in the order they are tried."""
    if data_dir is not None:
        roots = [data_dir]
    else:
        keras_home = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
        keras_cache = os.path.join(os.path.expanduser(keras_home), "datasets")
        roots = [keras_cache] if os.path.isdir(keras_cache) else []
    folders = []
    for root in roots:
        folders.append(root)
        folders.extend(
            os.path.join(root, name)
            for name in spec.folder_names
            if os.path.isdir(os.path.join(root, name))
        )
    return folders


def _find_source(spec, data_dir):
    tried = []
    if spec.tfds_name is not None:
        source, why_not = _tfds_source(spec, data_dir)
        if source is not None:
            return source
        tried.append(why_not)
    for folder in _data_folders(spec, data_dir):
        for layout in spec.layouts:
            looked_for, source = layout(folder, spec)
            if source is not None:
                return source
            tried.append(looked_for)
    if spec.bundled is not None:
        return spec.bundled()
    if data_dir is None:
        tried.append("no data_dir was given")
    raise FileNotFoundError(
        f"Dataset '{spec.name}' not found. Looked for: {'; '.join(tried)}. "
        f"Fix: pass data_dir (bayes-zoo --data-dir) a folder that holds {spec.fix} "
        f"(directly or in a subfolder named {' or '.join(spec.folder_names)}), or a "
        f"prepared TFDS copy of '{spec.tfds_name}'. Offline with no files, "
        "name='digits' loads scikit-learn's bundled digits."
    )


def _checked(spec, source, split, images, labels):
    """The split as `(uint8 NHWC images, int32 labels)`, or a corrupt-data error."""
    images = np.asarray(images)
    labels = np.asarray(labels).reshape(-1)
    if images.ndim == 3 and spec.native_shape[-1] == 1:
        images = images[..., np.newaxis]
    problem = None
    if images.shape[1:] != spec.native_shape:
        problem = f"images of shape {images.shape[1:]}, expected {spec.native_shape}"
    elif len(images) != len(labels):
        problem = f"{len(images)} images but {len(labels)} labels"
    elif len(images) == 0:
        problem = "no examples"
    elif images.min() < 0 or images.max() > spec.max_value:
        problem = f"pixel values outside [0, {spec.max_value}]"
    elif labels.min() < 0 or labels.max() >= len(spec.class_names):
        problem = f"labels outside [0, {len(spec.class_names) - 1}]"
    if problem is not None:
        raise _corrupt(spec, f"{source.description} (split '{split}')", problem)
    return images.astype(np.uint8), labels.astype(np.int32)


def _carve_validation(num_examples, validation_fraction, seed):
    """Indices `(train, validation)` into the official train split.

    The validation examples are the last `validation_fraction` of a
    permutation drawn under `seed` (a permutation, because some sources, such
    as class-folder trees, list the examples sorted by class).
    """
    if validation_fraction == 0:
        return np.arange(num_examples), np.arange(0)
    if num_examples < 2:
        raise ValueError(
            f"Cannot carve a validation split from {num_examples} training example(s). "
            f"Received: validation_fraction={validation_fraction}"
        )
    num_validation = min(max(1, int(round(validation_fraction * num_examples))), num_examples - 1)
    order = np.random.default_rng(seed).permutation(num_examples)
    return np.sort(order[:-num_validation]), np.sort(order[-num_validation:])


def _read_splits(spec, splits, data_dir, seed, validation_fraction):
    """`(source, {split: (uint8 images, int32 labels)})`, reading only what `splits` need."""
    source = _find_source(spec, data_dir)
    logger.info("Dataset '%s' from %s", spec.name, source.description)
    arrays = {}
    if "test" in splits:
        arrays["test"] = _checked(spec, source, "test", *source.read("test"))
    if "train" in splits or "validation" in splits:
        images, labels = _checked(spec, source, "train", *source.read("train"))
        train, validation = _carve_validation(len(images), validation_fraction, seed)
        arrays["train"] = images[train], labels[train]
        arrays["validation"] = images[validation], labels[validation]
    return source, {split: arrays[split] for split in splits}


# ---------------------------------------------------------------------------
# Preprocessing.


def _to_model_input(images, spec, image_size):
    """uint8 images -> float32 in [0, 1] of size `image_size`.

    Padded (centred, with zeros) to the dataset's default size when that is
    larger than the native one (MNIST to 32x32, as the paper's LeNet-5 expects);
    resized to any other size.
    """
    images = tf.cast(images, tf.float32) / float(spec.max_value)
    height, width = image_size
    native_height, native_width = spec.native_shape[:2]
    if (height, width) == (native_height, native_width):
        return images
    if (height, width) == spec.default_size:
        top, left = (height - native_height) // 2, (width - native_width) // 2
        return tf.image.pad_to_bounding_box(images, top, left, height, width)
    resized = tf.image.resize(images, (height, width), antialias=True)
    return tf.clip_by_value(resized, 0.0, 1.0)


# "rotate" with its bound in degrees, as in "rotate15".
_ROTATE_BOUND = re.compile(r"rotate(?P<degrees>\d+(?:\.\d+)?)")


@dataclasses.dataclass(frozen=True)
class _Augmentation:
    """What `_augment` does: a parsed `augment` argument (0 degrees: no rotation)."""

    max_rotation_degrees: float = 0.0
    crop: bool = False
    flip: bool = False


def _augmentation(augment, spec):
    """The `_Augmentation` of `load`'s `augment` argument, or None for no augmentation."""
    if augment is None or augment is False:
        return None
    if augment is True:
        # The augmentation from before policies existed: shifts, and flips where allowed.
        return _Augmentation(crop=True, flip=spec.horizontal_flip)
    valid = (f"False, True, or operations of {AUGMENTATIONS} joined by '+', each once "
             "(e.g. 'flip+rotate'; 'rotate15' bounds the rotations at 15 degrees, "
             f"{DEFAULT_MAX_ROTATION_DEGREES:g} by default)")
    if not isinstance(augment, str):
        raise ValueError(f"Argument `augment` must be {valid}. Received: augment={augment!r}")
    operations, max_rotation_degrees = [], 0.0
    for operation in augment.split("+"):
        bound = _ROTATE_BOUND.fullmatch(operation)
        if bound is not None:
            operation, max_rotation_degrees = "rotate", float(bound["degrees"])
            if not 0 < max_rotation_degrees <= 180:
                raise ValueError(
                    "Argument `augment`: the rotation bound must be in (0, 180] degrees. "
                    f"Received: augment={augment!r}")
        elif operation == "rotate":
            max_rotation_degrees = DEFAULT_MAX_ROTATION_DEGREES
        if operation not in AUGMENTATIONS or operation in operations:
            raise ValueError(
                f"Argument `augment` must be {valid}. Received: augment={augment!r}")
        operations.append(operation)
    if "flip" in operations and not spec.horizontal_flip:
        raise ValueError(
            f"Argument `augment={augment!r}` flips the images, but dataset '{spec.name}' "
            "holds digits, and a mirrored digit is another symbol (or none): its label "
            "would be wrong. Fix: drop 'flip', e.g. augment='rotate+crop'.")
    return _Augmentation(
        max_rotation_degrees=max_rotation_degrees,
        crop="crop" in operations,
        flip="flip" in operations,
    )


def _rotate(images, angles):
    """Rotates each image by its angle (radians, counterclockwise as displayed) about its centre.

    Bilinear interpolation; the corners that come from outside the image are
    zeros, as the padding elsewhere.
    """
    height, width = images.shape[1], images.shape[2]
    cos, sin = tf.cos(angles), tf.sin(angles)
    # The transform maps each output pixel (x, y) to the input point it reads:
    # the rotation by `angle` about the centre. With rows growing downwards,
    # that turns the picture counterclockwise.
    center_x, center_y = (width - 1) / 2.0, (height - 1) / 2.0
    offset_x = center_x - cos * center_x + sin * center_y
    offset_y = center_y - sin * center_x - cos * center_y
    zeros = tf.zeros_like(angles)
    transforms = tf.stack([cos, -sin, offset_x, sin, cos, offset_y, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.constant([height, width], tf.int32),
        fill_value=tf.constant(0.0, images.dtype),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _shift(images, seed):
    """Random crops after zero padding: each image shifted by up to 1/8 of its height."""
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    pad = max(1, height // 8)  # 4 pixels at 32x32, the usual CIFAR augmentation
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = tf.random.stateless_uniform(
        [batch, 2], seed=seed, minval=0, maxval=2 * pad + 1, dtype=tf.int32
    )
    rows = offsets[:, :1] + tf.range(height)[tf.newaxis]
    columns = offsets[:, 1:] + tf.range(width)[tf.newaxis]
    images = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(images, columns, axis=2, batch_dims=1)


def _augment(images, seeds, augmentation):
    """A batch augmented as `augmentation` says: rotations, then shifts, then flips.

    `seeds` is a `[4]` int64 tensor: one stateless seed for the shifts, one
    for the flips, so the augmentation is reproducible under the loader's
    seed. The rotations' seed is folded from the shifts' rather than added,
    so that `augment=True` draws the same shifts and flips as before
    rotations existed.
    """
    batch = tf.shape(images)[0]
    if augmentation.max_rotation_degrees:
        max_angle = augmentation.max_rotation_degrees * np.pi / 180.0
        angles = tf.random.stateless_uniform(
            [batch], seed=tf.random.experimental.stateless_fold_in(seeds[:2], 1),
            minval=-max_angle, maxval=max_angle)
        images = _rotate(images, angles)
    if augmentation.crop:
        images = _shift(images, seeds[:2])
    if augmentation.flip:
        flip = tf.random.stateless_uniform([batch], seed=seeds[2:]) < 0.5
        flip = flip[:, tf.newaxis, tf.newaxis, tf.newaxis]
        images = tf.where(flip, tf.reverse(images, [2]), images)
    return images


def _pipeline(images, labels, spec, image_size, batch_size, shuffle, augmentation, seed):
    """The batches of one split; `augmentation` an `_Augmentation` or None."""
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augmentation is not None:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(4)
        dataset = tf.data.Dataset.zip(dataset, seeds).map(
            lambda batch, batch_seeds: (
                _augment(_to_model_input(batch[0], spec, image_size), batch_seeds,
                         augmentation),
                batch[1],
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        dataset = dataset.map(
            lambda batch_images, batch_labels: (
                _to_model_input(batch_images, spec, image_size), batch_labels
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _epochs_pipeline(images, labels, spec, image_size, batch_size, shuffle, augmentation,
                     seed, initial_epoch, epochs, steps_per_epoch):
    """`(dataset, steps)` of `DataSplits.train_epochs`: epoch `e` a function of `(seed, e)`.

    Each epoch draws its order and its batches' augmentation seeds
    statelessly from keys split off `(seed, e)`, so nothing iterated before
    (an earlier epoch, an earlier run) changes it.
    """
    num_batches = -(-len(labels) // batch_size)
    steps = num_batches if steps_per_epoch is None else min(steps_per_epoch, num_batches)
    # Eager tensors, which the map below captures as inputs; NumPy arrays it
    # would embed in its graph as constants.
    images, labels = tf.constant(images), tf.constant(labels)

    def epoch_batches(epoch):
        key = tf.stack([tf.constant(seed, tf.int64), epoch])
        order_key, augment_key = tf.unstack(tf.random.experimental.stateless_split(key, num=2))
        indices = tf.range(tf.shape(labels, out_type=tf.int64)[0])
        if shuffle:
            indices = tf.random.experimental.stateless_shuffle(indices, seed=order_key)
        batch_seeds = tf.random.stateless_uniform(
            [num_batches, 4], seed=augment_key, minval=None, maxval=None, dtype=tf.int64)
        batches = tf.data.Dataset.from_tensor_slices(indices).batch(batch_size)
        return tf.data.Dataset.zip(batches, tf.data.Dataset.from_tensor_slices(batch_seeds)).take(
            steps)

    def gather(indices, batch_seeds):
        batch_images = _to_model_input(tf.gather(images, indices), spec, image_size)
        if augmentation is not None:
            batch_images = _augment(batch_images, batch_seeds, augmentation)
        return batch_images, tf.gather(labels, indices)

    dataset = (
        tf.data.Dataset.range(initial_epoch, epochs)
        .flat_map(epoch_batches)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
        # flat_map hides the length, which Keras' progress bar and checks use.
        .apply(tf.data.experimental.assert_cardinality((epochs - initial_epoch) * steps))
    )
    return dataset.prefetch(tf.data.AUTOTUNE), steps


# ---------------------------------------------------------------------------
# Argument checks.


def _spec(name):
    if name not in _SPECS:
        raise ValueError(f"Unknown dataset: name={name!r}. Expected one of {DATASETS}.")
    return _SPECS[name]


def _image_size(spec, image_size):
    if image_size is None:
        return spec.default_size
    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in image_size)
    ):
        raise ValueError(
            "Argument `image_size` must be None or (height, width) with positive ints. "
            f"Received: image_size={image_size!r}"
        )
    return tuple(image_size)


def _check_common(seed, data_dir, validation_fraction):
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"Argument `seed` must be an int. Received: seed={seed!r}")
    if (
        not isinstance(validation_fraction, (int, float))
        or isinstance(validation_fraction, bool)
        or not 0.0 <= validation_fraction < 1.0
    ):
        raise ValueError(
            "Argument `validation_fraction` must be a number in [0, 1). "
            f"Received: validation_fraction={validation_fraction!r}"
        )
    return _check_data_dir(data_dir)


def _check_data_dir(data_dir):
    if data_dir is None:
        return None
    data_dir = os.path.expanduser(os.fspath(data_dir))
    if not os.path.exists(data_dir):
        raise FileNotFoundError(
            f"Argument `data_dir`: no such folder: {data_dir}. Fix: pass the folder "
            "that holds the dataset's files (e.g. --data-dir /path/with/mnist.npz)."
        )
    if not os.path.isdir(data_dir):
        raise NotADirectoryError(
            f"Argument `data_dir` must be a folder, not a file: {data_dir}. Fix: pass "
            f"the folder that holds it: {os.path.dirname(data_dir) or '.'}"
        )
    return data_dir


def _check_batch_size(batch_size):
    if (
        not isinstance(batch_size, (int, np.integer))
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise ValueError(
            f"Argument `batch_size` must be a positive int. Received: batch_size={batch_size!r}"
        )


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(
            f"Argument `{name}` must be an int >= {minimum}. Received: {name}={value!r}")


def _check_split(split, validation_fraction):
    if split not in SPLITS:
        raise ValueError(f"Unknown split: split={split!r}. Expected one of {SPLITS}.")
    if split == "validation" and validation_fraction == 0:
        raise ValueError(
            "split='validation' needs a validation_fraction in (0, 1). "
            f"Received: validation_fraction={validation_fraction}"
        )


# ---------------------------------------------------------------------------
# Public API.


def dataset_info(name, image_size=None):
    """Shape and classes of a dataset, without reading it.

    Args:
        name: str, one of `DATASETS`.
        image_size: None or `(height, width)`, as passed to `load`; None gives
            the default shape (MNIST and Fashion-MNIST padded to 32x32).

    Returns:
        A `DatasetInfo`.

    Example:

    >>> bz.data.dataset_info("cifar10").class_names[:3]
    ('airplane', 'automobile', 'bird')
    """
    spec = _spec(name)
    height, width = _image_size(spec, image_size)
    return DatasetInfo(
        name=name,
        image_shape=(height, width, spec.native_shape[-1]),
        num_classes=len(spec.class_names),
        class_names=spec.class_names,
    )


def source_description(name, data_dir=None):
    """Where `load` reads a dataset from, in words, without reading it.

    The first source that has the dataset, in the order of the module
    docstring; the same text as `DataSplits.source`.

    Args:
        name: str, one of `DATASETS`.
        data_dir: None or the folder holding the dataset, as passed to `load`.

    Returns:
        A str: a file or folder, a TFDS copy, or the bundled data.

    Raises:
        ValueError: an unknown dataset.
        FileNotFoundError: `data_dir` does not exist, or no source has the
            dataset; the message lists every place looked at.

    Example:

    >>> bz.data.source_description("mnist", data_dir="/data")
    '/data/mnist.npz'
    """
    spec = _spec(name)
    return _find_source(spec, _check_data_dir(data_dir)).description


def load_splits(
    name,
    *,
    batch_size=256,
    seed=0,
    data_dir=None,
    validation_fraction=0.1,
    augment=False,
    image_size=None,
    shuffle=None,
):
    """Train, validation and test pipelines of a dataset, reading its files once.

    Same arguments as `load`; `augment` and `shuffle` apply to the training
    pipeline only (validation and test are never augmented nor shuffled).

    Returns:
        A `DataSplits`; its `validation` is None when `validation_fraction=0`.
        Its `train_epochs(epochs, initial_epoch)` gives the training pipeline
        with each epoch's order and augmentation a function of the seed and
        the epoch alone, for runs that resume.

    Example:

    >>> splits = bz.data.load_splits("mnist", data_dir="/data", augment=True)
    >>> model = bz.architectures.lenet5(
    ...     method="lrt", input_shape=splits.info.image_shape,
    ...     num_classes=splits.info.num_classes,
    ...     num_train_examples=splits.num_train_examples)
    >>> model.fit(splits.train, validation_data=splits.validation, epochs=10)
    """
    spec = _spec(name)
    size = _image_size(spec, image_size)
    data_dir = _check_common(seed, data_dir, validation_fraction)
    _check_batch_size(batch_size)
    augmentation = _augmentation(augment, spec)
    source, arrays = _read_splits(spec, SPLITS, data_dir, seed, validation_fraction)

    def pipeline(split, shuffle_split, augmentation_split):
        images, labels = arrays[split]
        return _pipeline(images, labels, spec, size, batch_size, shuffle_split,
                         augmentation_split, seed)

    shuffle_train = True if shuffle is None else shuffle

    def train_epochs(initial_epoch, epochs, steps_per_epoch):
        return _epochs_pipeline(*arrays["train"], spec, size, batch_size, shuffle_train,
                                augmentation, seed, initial_epoch, epochs, steps_per_epoch)

    num_validation = len(arrays["validation"][1])
    return DataSplits(
        train=pipeline("train", shuffle_train, augmentation),
        validation=pipeline("validation", False, None) if num_validation else None,
        test=pipeline("test", False, None),
        num_train_examples=len(arrays["train"][1]),
        num_validation_examples=num_validation,
        num_test_examples=len(arrays["test"][1]),
        info=dataset_info(name, size),
        source=source.description,
        _train_epochs=train_epochs,
    )


def load(
    name,
    split,
    *,
    batch_size=256,
    seed=0,
    data_dir=None,
    validation_fraction=0.1,
    augment=False,
    image_size=None,
    shuffle=None,
):
    """One split of a dataset as a batched, prefetched `tf.data.Dataset`.

    It yields `(images, labels)`: float32 images in [0, 1] of shape
    `[batch, height, width, channels]` and int32 labels of shape `[batch]`.

    Args:
        name: str, one of `DATASETS`.
        split: `"train"`, `"validation"` or `"test"`. Validation is the last
            `validation_fraction` of the official train split under a
            permutation drawn with `seed`, and train is the rest; test is the
            official test split, untouched.
        batch_size: positive int.
        seed: int. The same seed gives the same validation split, the same
            shuffling order and the same augmentation (given TensorFlow's
            global seed, which tf.data combines with it when it is set).
        data_dir: None or a folder, see the module docstring: searched for a
            TFDS copy, then for the standard files. Nothing is downloaded.
        validation_fraction: float in [0, 1).
        augment: how the training images are augmented, each batch with
            stateless draws from `seed`. False or None: not at all. True:
            random shifts (crops of the zero-padded image, by up to 1/8 of
            its side) and, for datasets whose labels survive mirroring,
            horizontal flips. Or a policy: operations of `AUGMENTATIONS`
            joined by `"+"`, each once, applied in that order whatever the
            order written: `"rotate"`,
            a rotation about the centre by an angle uniform in +-10 degrees
            (`"rotate15"`: +-15; bilinear, zeros in the corners); `"crop"`,
            the shifts of True; `"flip"`, a horizontal flip of half the
            images, an error on the digit datasets (mnist, svhn_cropped,
            digits), whose labels mirroring changes. Applied to `"train"`
            only; validation and test are never augmented.
        image_size: None or `(height, width)`. None keeps the native size,
            except MNIST and Fashion-MNIST, which are zero-padded to 32x32
            (the paper's LeNet-5); `(28, 28)` keeps them as they are. Other
            sizes are reached by resizing.
        shuffle: None or bool; None shuffles `"train"` only. Shuffling draws
            a new order each epoch, the same sequence of orders for a seed.

    Returns:
        A `tf.data.Dataset`.

    Raises:
        ValueError: an unknown name, split or argument value, or a source
            whose files are corrupt.
        FileNotFoundError: the dataset is in none of the sources; the message
            lists every place looked at and how to fix it.

    Example:

    >>> train = bz.data.load("mnist", "train", data_dir="/data", augment=True)
    >>> images, labels = next(iter(train))
    >>> images.shape, labels.dtype
    (TensorShape([256, 32, 32, 1]), tf.int32)
    >>> cifar = bz.data.load("cifar10", "train", data_dir="/data", augment="flip+rotate")
    """
    spec = _spec(name)
    size = _image_size(spec, image_size)
    data_dir = _check_common(seed, data_dir, validation_fraction)
    _check_split(split, validation_fraction)
    _check_batch_size(batch_size)
    augmentation = _augmentation(augment, spec)
    _, arrays = _read_splits(spec, (split,), data_dir, seed, validation_fraction)
    images, labels = arrays[split]
    return _pipeline(
        images,
        labels,
        spec,
        size,
        batch_size,
        shuffle=split == "train" if shuffle is None else shuffle,
        augmentation=augmentation if split == "train" else None,
        seed=seed,
    )


def load_arrays(name, split, *, data_dir=None, seed=0, validation_fraction=0.1, image_size=None):
    """One split as NumPy arrays, for small data and evaluation.

    The same examples as `load` with the same arguments, in the unshuffled
    order, never augmented.

    Args:
        name, split, data_dir, seed, validation_fraction, image_size: as in
            `load`.

    Returns:
        `(images, labels)`: float32 `[n, height, width, channels]` in [0, 1]
        and int32 `[n]`.

    Example:

    >>> x_test, y_test = bz.data.load_arrays("digits", "test")
    >>> x_test.shape
    (359, 8, 8, 1)
    """
    spec = _spec(name)
    size = _image_size(spec, image_size)
    data_dir = _check_common(seed, data_dir, validation_fraction)
    _check_split(split, validation_fraction)
    _, arrays = _read_splits(spec, (split,), data_dir, seed, validation_fraction)
    images, labels = arrays[split]
    return _to_model_input(images, spec, size).numpy(), labels
