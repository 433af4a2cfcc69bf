"""Training a DCGAN with a Bayesian discriminator (Shridhar et al., section 6.2).

The model and its training step are `bz.architectures.BayesianDCGAN`; this
module feeds and watches it:

- `real_images`: a dataset of `bz.data` as batches of images in [-1, 1];
- `train`: compiles the two Adam optimizers and runs `fit`;
- `SampleGrid`: a callback writing a PNG grid of samples after every epoch;
- `image_grid`: the grid itself, as a uint8 array;
- `plot_training`: a PNG of both losses and of the discriminator's epistemic
  uncertainty on real against generated images, epoch by epoch;
- `sample_quality`: Frechet and kernel distances between generated and real
  images in a classifier's feature space, and the classes the samples cover;
- `SampleQuality`: a callback logging those distances and the
  discriminator's uncertainty on held-out real and on generated images
  (`heldout_uncertainty`) after every epoch;
- `train_card`: a zoo card, for `bayes-zoo train`;
- `save_for_inference`: the model without its optimizers' state.

```python
images, num_images = bz.gan.real_images("cifar10", data_dir="cifar10-jpeg", image_size=32)
gan = bz.architectures.dcgan(image_size=32, num_train_examples=num_images)
history = bz.gan.train(gan, images, epochs=25, sample_dir="samples")
bz.gan.plot_training(history, "training.png")
```

Learning rate: the paper's text uses 1e-4 ("whereas in [DCGAN] 0.0002 was
used"), its appendix table 1e-3; the table's GAN rows also list an upscale
factor and an MSE loss, copied from the super-resolution table, so the text's
1e-4 is the default here, with Adam's beta_1 = 0.5 as both say.
"""

import os

import keras
import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bayes_zoo import data as data_lib
from bayes_zoo.card_tables import distribution_from_card
from bayes_zoo.tasks.gan.dcgan import dcgan

LEARNING_RATE = 1e-4
BETA_1 = 0.5
SPLITS = ("train", "test")
# What `SampleQuality` adds to each epoch's logs.
QUALITY_KEYS = (
    "frechet_distance",
    "kernel_distance",
    "classes_covered",
    "d_uncertainty_heldout_real",
    "d_uncertainty_generated",
)
_GRID_PADDING = 2


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Argument `{name}` must be a positive integer. Received: {name}={value!r}")


def _image_batch(name, images):
    """`images` as a float32 array, checked to be a non-empty `[n, h, w, c]` batch."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(
            f"Argument `{name}` must be a non-empty [n, height, width, channels] batch. "
            f"Received: shape={images.shape}"
        )
    return images


def _fixed_latent(seed, num_images, latent_dim):
    """Latent vectors drawn once, so that measurements follow the same samples."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((num_images, latent_dim)).astype(np.float32)


def real_images(name, *, data_dir=None, image_size=32, batch_size=64, seed=0, split="train"):
    """The images of a `bz.data` dataset, batched, in [-1, 1].

    Reads the official train split (no validation carved out), or the test
    split, with `bz.data.load_splits`, resized to `image_size` when that
    differs from the native size, and normalises it with 0.5 as the paper:
    `x * 2 - 1`. Labels are dropped.

    Args:
        name: a dataset of `bz.data.DATASETS`, e.g. `"cifar10"`.
        data_dir: folder holding the dataset (see `bz.data.load`).
        image_size: int, the side of the square images.
        batch_size: positive int.
        seed: int, seeds the shuffling.
        split: `"train"` (shuffled: what the GAN learns from) or `"test"`
            (in order: held-out images to measure samples against).

    Returns:
        `(dataset, num_images)`: a `tf.data.Dataset` of float32 batches
        `[b, image_size, image_size, channels]`, and the number of images
        (for the training split, the discriminator's KL weight).

    Example:

    >>> images, num_images = bz.gan.real_images("cifar10", data_dir="/data/cifar10-jpeg")
    """
    _check_positive_int("image_size", image_size)
    if split not in SPLITS:
        raise ValueError(f"Argument `split` must be one of {SPLITS}. Received: split={split!r}")
    splits = data_lib.load_splits(
        name,
        batch_size=batch_size,
        seed=seed,
        data_dir=data_dir,
        validation_fraction=0.0,
        image_size=(image_size, image_size),
    )
    if split == "train":
        dataset, count = splits.train, splits.num_train_examples
    else:
        dataset, count = splits.test, splits.num_test_examples
    return dataset.map(lambda images, labels: images * 2.0 - 1.0), count


def image_grid(images, columns=8):
    """Tiles images in [-1, 1] into one uint8 picture.

    Args:
        images: float array or tensor `[n, height, width, channels]` in
            [-1, 1] (values outside are clipped).
        columns: positive int, images per row.

    Returns:
        A uint8 array `[rows * (height + 2) + 2, columns * (width + 2) + 2,
        channels]` with 2-pixel black gaps.

    Example:

    >>> grid = bz.gan.image_grid(gan.generate(64), columns=8)
    """
    _check_positive_int("columns", columns)
    images = _image_batch("images", images)
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    pixels = np.round((np.clip(images, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    step_y, step_x = height + _GRID_PADDING, width + _GRID_PADDING
    grid = np.zeros(
        (rows * step_y + _GRID_PADDING, columns * step_x + _GRID_PADDING, channels), np.uint8
    )
    for index, image in enumerate(pixels):
        top = _GRID_PADDING + (index // columns) * step_y
        left = _GRID_PADDING + (index % columns) * step_x
        grid[top : top + height, left : left + width] = image
    return grid


def _write_png(array, path):
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    tf.io.write_file(path, tf.io.encode_png(array))


class SampleGrid(keras.callbacks.Callback):
    """Writes a PNG grid of generated images after every epoch.

    The latent vectors are drawn once, so the grids show how the same
    samples evolve. The generator runs in inference mode (batch
    normalisation with its moving statistics).

    Args:
        folder: where `samples_epoch_001.png`, `samples_epoch_002.png`, ...
            go.
        num_images: positive int, the images per grid.
        columns: positive int, images per row.
        seed: int, seeds the latent vectors.

    Example:

    >>> gan.fit(images, epochs=10, callbacks=[bz.gan.SampleGrid("samples")])
    """

    def __init__(self, folder, num_images=64, columns=8, seed=0):
        super().__init__()
        _check_positive_int("num_images", num_images)
        _check_positive_int("columns", columns)
        self.folder = os.fspath(folder)
        self.num_images = num_images
        self.columns = columns
        self.seed = seed
        self.paths = []
        self._latent = None

    def on_train_begin(self, logs=None):
        if self._latent is None:
            self._latent = _fixed_latent(self.seed, self.num_images, self.model.latent_dim)

    def on_epoch_end(self, epoch, logs=None):
        images = self.model.generator(self._latent, training=False)
        path = os.path.join(self.folder, f"samples_epoch_{epoch + 1:03d}.png")
        _write_png(image_grid(images, self.columns), path)
        self.paths.append(path)


def heldout_uncertainty(discriminator, images, num_samples, batch_size=256):
    """Mean Monte Carlo std of D's probability over images, a batch at a time.

    `bz.architectures.discriminator_uncertainty` per batch (inference mode),
    averaged over all images: the discriminator's epistemic uncertainty on
    a set; exactly 0 for a discriminator without stochastic layers (no
    draws are made).

    Args:
        discriminator: a model giving one logit per image.
        images: float array `[n, height, width, channels]` in [-1, 1].
        num_samples: int >= 2, the draws T.
        batch_size: positive int, images per call.

    Returns:
        A float.

    Example:

    >>> bz.gan.heldout_uncertainty(gan.discriminator, test_images, num_samples=8)
    """
    from bayes_zoo.layers.stochastic_layer import stochastic_layers
    from bayes_zoo.tasks.gan.dcgan import discriminator_uncertainty

    _check_positive_int("batch_size", batch_size)
    images = _image_batch("images", images)
    if not stochastic_layers(discriminator):
        # Repeated passes of a deterministic network differ only by rounding.
        return 0.0
    total = 0.0
    for start in range(0, len(images), batch_size):
        _, stddev = discriminator_uncertainty(
            discriminator, images[start : start + batch_size], num_samples
        )
        total += float(keras.ops.sum(stddev))
    return total / len(images)


class SampleQuality(keras.callbacks.Callback):
    """Measures the generator's samples and the discriminator's uncertainty every epoch.

    After each epoch the generator (inference mode) draws `num_images`
    images from latent vectors fixed when training begins. Added to the
    epoch's logs (so `History` and a `CSVLogger` placed after this callback
    record them):

    - `frechet_distance`, `kernel_distance`, `classes_covered`: the samples
      against the held-out `real` images in `classifier`'s feature space
      (`sample_quality`; not the Inception FID);
    - `d_uncertainty_heldout_real`, `d_uncertainty_generated`: the
      discriminator's Monte Carlo std of D(x) on the held-out real images
      and on these samples (`heldout_uncertainty`). Unlike the training
      step's `d_uncertainty_real` / `d_uncertainty_fake`, running means over
      an epoch of a changing network, these measure the end-of-epoch
      network on images it never trained on.

    `class_histograms` keeps each epoch's predicted-class counts.

    Args:
        classifier: a Keras classifier of images in [0, 1] (logits out).
        real: float array `[n, height, width, channels]` in [-1, 1], held-out
            real images (e.g. `real_images(..., split="test")`).
        num_images: positive int, samples per measurement.
        uncertainty_samples: int >= 2, the discriminator's draws T.
        batch_size: positive int, images per network call.
        kernel_subsets, kernel_subset_size: as for `sample_quality`.
        seed: int, seeds the latent vectors.

    Example:

    >>> quality = bz.gan.SampleQuality(bz.zoo.load("alexnet_lrt_cifar10"), test_images)
    >>> history = bz.gan.train(gan, images, epochs=25, callbacks=[quality])
    >>> history.history["frechet_distance"]
    """

    def __init__(self, classifier, real, num_images=2000, uncertainty_samples=8,
                 batch_size=256, kernel_subsets=10, kernel_subset_size=1000, seed=0):
        super().__init__()
        for name, value in (("num_images", num_images), ("batch_size", batch_size)):
            _check_positive_int(name, value)
        if (isinstance(uncertainty_samples, bool) or not isinstance(uncertainty_samples, int)
                or uncertainty_samples < 2):
            raise ValueError("Argument `uncertainty_samples` must be an integer >= 2. "
                             f"Received: uncertainty_samples={uncertainty_samples!r}")
        self.classifier = classifier
        self.real = _image_batch("real", real)
        self.num_images = num_images
        self.uncertainty_samples = uncertainty_samples
        self.batch_size = batch_size
        self.kernel_subsets = kernel_subsets
        self.kernel_subset_size = kernel_subset_size
        self.seed = seed
        self.class_histograms = []
        self._latent = None

    def on_train_begin(self, logs=None):
        if self._latent is None:
            self._latent = _fixed_latent(self.seed, self.num_images, self.model.latent_dim)

    def generated_images(self):
        """The current generator's images for the fixed latent vectors, a numpy array."""
        return np.concatenate([
            np.asarray(self.model.generator(self._latent[start : start + self.batch_size],
                                            training=False))
            for start in range(0, self.num_images, self.batch_size)
        ])

    def on_epoch_end(self, epoch, logs=None):
        generated = self.generated_images()
        quality = sample_quality(
            self.classifier, self.real, generated, batch_size=self.batch_size,
            kernel_subsets=self.kernel_subsets, kernel_subset_size=self.kernel_subset_size,
        )
        self.class_histograms.append(quality["class_histogram"])
        discriminator = self.model.discriminator
        values = {
            "frechet_distance": quality["frechet_distance"],
            "kernel_distance": quality["kernel_distance"],
            "classes_covered": float(quality["classes_covered"]),
            "d_uncertainty_heldout_real": heldout_uncertainty(
                discriminator, self.real, self.uncertainty_samples, self.batch_size),
            "d_uncertainty_generated": heldout_uncertainty(
                discriminator, generated, self.uncertainty_samples, self.batch_size),
        }
        if logs is not None:
            logs.update(values)


def plot_training(history, path, title=None):
    """A PNG of the GAN's losses and of its discriminator's epistemic uncertainty.

    Left: the discriminator's cross-entropy (`d_loss` less its KL term
    `d_kl`, whose mean the legend gives: it is nearly constant and would
    squash the curves) and `g_loss` per epoch. Middle: the Monte
    Carlo standard deviation of D's probability on real and on generated
    images per epoch (`d_uncertainty_real`, `d_uncertainty_fake`, and
    `SampleQuality`'s held-out measurements), when the model logged them.
    Right, when `SampleQuality` ran: the Frechet and kernel distances of the
    samples to held-out real images.

    Args:
        history: a `keras.callbacks.History` from `fit`, or its `history`
            dict.
        path: the `.png` file to write (its folder is created).
        title: optional figure title.

    Returns:
        The path written.

    Example:

    >>> bz.gan.plot_training(history, "runs/dcgan/training.png")
    """
    logs = history.history if isinstance(history, keras.callbacks.History) else history
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"Argument `path` must name a .png file. Received: path={path!r}")
    for key in ("d_loss", "g_loss"):
        if not logs.get(key):
            raise ValueError(
                f"Argument `history` has no {key!r} values; it must come from "
                f"BayesianDCGAN.fit. Received keys: {sorted(logs)}"
            )
    epochs = np.arange(1, len(logs["d_loss"]) + 1)
    has_step_uncertainty = bool(logs.get("d_uncertainty_real"))
    has_heldout_uncertainty = bool(logs.get("d_uncertainty_heldout_real"))
    has_uncertainty = has_step_uncertainty or has_heldout_uncertainty
    has_quality = bool(logs.get("frechet_distance"))
    panels = 1 + has_uncertainty + has_quality
    figure = Figure(figsize=(5.5 * panels, 4), dpi=120)
    losses = figure.add_subplot(1, panels, 1)
    kl = np.asarray(logs.get("d_kl") or np.zeros(len(epochs)))
    losses.plot(
        epochs,
        np.asarray(logs["d_loss"]) - kl,
        marker="o",
        label=f"discriminator cross-entropy (+ KL {kl.mean():.3g})",
    )
    losses.plot(epochs, logs["g_loss"], marker="o", label="generator")
    losses.set_xlabel("epoch")
    losses.set_ylabel("loss")
    losses.set_title("Losses")
    losses.legend()
    if has_uncertainty:
        uncertainty = figure.add_subplot(1, panels, 2)
        if has_step_uncertainty:
            uncertainty.plot(epochs, logs["d_uncertainty_real"], marker="o",
                             label="real training batches")
            uncertainty.plot(epochs, logs["d_uncertainty_fake"], marker="o",
                             label="generated batches")
        if has_heldout_uncertainty:
            uncertainty.plot(epochs, logs["d_uncertainty_heldout_real"], "s--",
                             label="held-out real images (epoch end)")
            uncertainty.plot(epochs, logs["d_uncertainty_generated"], "s--",
                             label="generated images (epoch end)")
        uncertainty.set_xlabel("epoch")
        uncertainty.set_ylabel("MC std of D(x)")
        uncertainty.set_title("Discriminator's epistemic uncertainty")
        uncertainty.legend()
    if has_quality:
        quality = figure.add_subplot(1, panels, panels)
        quality.plot(epochs, logs["frechet_distance"], marker="o", color="C0")
        quality.set_xlabel("epoch")
        quality.set_ylabel("Frechet distance (classifier features)", color="C0")
        quality.set_title("Samples against held-out real images")
        kernel = quality.twinx()
        kernel.plot(epochs, logs["kernel_distance"], "s--", color="C1")
        kernel.set_ylabel("kernel distance (MMD^2)", color="C1")
    for axes in figure.axes:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    FigureCanvasAgg(figure).print_png(path)
    return path


def _features_and_classes(features_model, images, batch_size):
    """Penultimate features (posterior means) and predicted classes, a batch at a time."""
    from bayes_zoo.layers.stochastic_layer import posterior_mean

    images = np.asarray(images, np.float32)
    input_shape = tuple(features_model.inputs[0].shape[1:])
    if images.ndim != 4 or len(images) == 0 or images.shape[-1] != input_shape[-1]:
        raise ValueError(
            f"The images must be a non-empty [n, height, width, {input_shape[-1]}] batch, "
            f"the classifier's channels. Received: shape={images.shape}"
        )
    features, classes = [], []
    with posterior_mean(features_model):
        for start in range(0, len(images), batch_size):
            batch = (images[start : start + batch_size] + 1.0) / 2.0
            if batch.shape[1:3] != input_shape[:2]:
                batch = tf.image.resize(batch, input_shape[:2], antialias=True)
            batch_features, logits = features_model(batch, training=False)
            features.append(np.reshape(batch_features, (len(batch), -1)))
            classes.append(np.argmax(logits, axis=-1))
    return np.concatenate(features), np.concatenate(classes)


def sample_quality(classifier, real, generated, batch_size=256, kernel_subsets=10,
                   kernel_subset_size=1000):
    """How close generated images are to real ones, in a classifier's feature space.

    The features are the classifier's penultimate activations (the input of
    its last layer), with the posterior means of a Bayesian classifier so
    that they are deterministic. Not the Inception FID: no Inception weights
    are shipped, and distances on another network's features are comparable
    only with each other.

    Args:
        classifier: a Keras classifier of images in [0, 1] (logits out), e.g.
            the zoo's best CIFAR-10 model.
        real, generated: image arrays `[n, h, w, c]` in [-1, 1] (the
            generator's range; rescaled to [0, 1] for the classifier, and
            resized to its input size with antialiasing where they differ,
            e.g. a 64x64 DCGAN's samples for a 32x32 CIFAR-10 classifier).
        batch_size: positive int, images per classifier call.
        kernel_subsets, kernel_subset_size: as for
            `bz.metrics.kernel_distance`.

    Returns:
        A dict: `frechet_distance`, `kernel_distance` (the mean MMD^2) and
        `kernel_distance_std`, floats; `class_histogram`, the generated
        images' predicted-class counts (a list); `classes_covered`, how many
        classes at least one generated image is predicted as.

    Example:

    >>> quality = bz.gan.sample_quality(bz.zoo.load("alexnet_lrt_cifar10"),
    ...                                 real_test_images, generated_images)
    """
    from bayes_zoo import metrics

    _check_positive_int("batch_size", batch_size)
    if len(classifier.inputs) != 1:
        raise ValueError(f"The classifier must take one input, the images; "
                         f"{classifier.name} takes {len(classifier.inputs)}.")
    # Its one input tensor, not the list of one: batches are passed as a tensor, and a list
    # input would make Keras warn of a structure mismatch on every call.
    features_model = keras.Model(classifier.inputs[0],
                                 [classifier.layers[-1].input, classifier.outputs[0]])
    real_features, _ = _features_and_classes(features_model, real, batch_size)
    generated_features, classes = _features_and_classes(features_model, generated, batch_size)
    kernel = metrics.kernel_distance(real_features, generated_features,
                                     num_subsets=kernel_subsets, subset_size=kernel_subset_size)
    num_classes = int(classifier.outputs[0].shape[-1])
    histogram = np.bincount(classes, minlength=num_classes)
    return {
        "frechet_distance": metrics.frechet_distance(real_features, generated_features),
        "kernel_distance": kernel["mean"],
        "kernel_distance_std": kernel["std"],
        "class_histogram": histogram.tolist(),
        "classes_covered": int(np.count_nonzero(histogram)),
    }


def train(
    gan,
    images,
    *,
    epochs,
    learning_rate=LEARNING_RATE,
    beta_1=BETA_1,
    steps_per_epoch=None,
    sample_dir=None,
    callbacks=(),
    verbose=1,
):
    """Compiles a `BayesianDCGAN` with two Adam optimizers and trains it.

    Args:
        gan: a `bz.architectures.BayesianDCGAN`, e.g. from
            `bz.architectures.dcgan`.
        images: a `tf.data.Dataset` of image batches in [-1, 1] (see
            `real_images`), or such an array.
        epochs: positive int.
        learning_rate: positive float, both optimizers' (the paper's 1e-4).
        beta_1: float in [0, 1), Adam's first-moment decay (0.5).
        steps_per_epoch: positive int or None; with a dataset, the epochs
            then take this many batches (the dataset is repeated).
        sample_dir: None, or a folder for a `SampleGrid` PNG after every
            epoch.
        callbacks: further Keras callbacks.
        verbose: 0, 1 (progress bar) or 2 (one line per epoch).

    Returns:
        The `keras.callbacks.History` of `fit`.

    Example:

    >>> history = bz.gan.train(gan, images, epochs=5, sample_dir="samples")
    """
    _check_positive_int("epochs", epochs)
    if steps_per_epoch is not None:
        _check_positive_int("steps_per_epoch", steps_per_epoch)
        if isinstance(images, tf.data.Dataset):
            images = images.repeat()
    if not learning_rate > 0:
        raise ValueError(
            f"Argument `learning_rate` must be positive. Received: learning_rate={learning_rate!r}"
        )
    if not 0 <= beta_1 < 1:
        raise ValueError(f"Argument `beta_1` must be in [0, 1). Received: beta_1={beta_1!r}")
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
        g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
    )
    callbacks = list(callbacks)
    if sample_dir is not None:
        callbacks.append(SampleGrid(sample_dir))
    return gan.fit(
        images,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
        # A dataset shuffles itself.
        shuffle=not isinstance(images, tf.data.Dataset),
    )


def save_for_inference(gan, path):
    """Saves a `BayesianDCGAN` as a `.keras` file without its optimizers' state.

    Adam's moments are twice the weights and serve only to resume training;
    a zoo artefact is for sampling and for the discriminator's uncertainty.
    The file holds an uncompiled model over the same generator and
    discriminator: `keras.models.load_model(path)` generates and
    discriminates as `gan` does, and trains again after `compile`.

    Args:
        gan: a `BayesianDCGAN`; it is left as it was.
        path: the `.keras` file to write.

    Returns:
        `path`.

    Example:

    >>> bz.gan.save_for_inference(gan, "saved_models/dcgan_bayesian_cifar10/model.keras")
    """
    from bayes_zoo.tasks.gan.dcgan import BayesianDCGAN

    BayesianDCGAN(
        gan.generator,
        gan.discriminator,
        latent_dim=gan.latent_dim,
        uncertainty_samples=gan.uncertainty_samples,
        seed=gan.seed,
        name=gan.name,
    ).save(path)
    return path


def train_card(
    card,
    *,
    epochs=None,
    batch_size=None,
    data_dir=None,
    output_dir=None,
    seed=0,
    max_steps_per_epoch=None,
    callbacks=(),
    verbose=1,
):
    """Trains the DCGAN a zoo card describes (`task = "gan"`).

    The card names the dataset (`dataset`, read by `real_images` from
    `data_dir`), the discriminator's method and the builder's arguments in
    `[model]` (`image_size`, `latent_dim`, `ngf`, `ndf`, `batch_norm`,
    `uncertainty_samples`), the discriminator's `[prior]` and `[posterior]`,
    and `[training]` (`epochs`, `batch_size`, `learning_rate`, `beta_1`).

    Args:
        card: dict, the parsed TOML card.
        epochs, batch_size: positive ints overriding the card's.
        data_dir: folder holding the dataset (see `bz.data.load`).
        output_dir: None, or a folder that receives `model.keras`,
            `history.csv`, `training.png` and `samples/samples_epoch_*.png`.
        seed: int, seeds Keras (initial weights), the data order, the latent
            vectors and the discriminator's noise.
        max_steps_per_epoch: positive int or None, caps the batches per epoch.
        callbacks: further Keras callbacks, run before the `history.csv`
            logger so that what they add to the logs (e.g. `SampleQuality`'s
            distances) is written there too.
        verbose: 0, 1 or 2, as Keras' `fit`.

    Returns:
        A dict of the last epoch's metrics: `d_loss`, `g_loss`, `d_kl`,
        `d_real`, `d_fake`, `d_uncertainty_real`, `d_uncertainty_fake`, and
        whatever `callbacks` logged.

    Raises:
        ValueError: a card of another task, or a bad argument.
        FileNotFoundError: the dataset is not in `data_dir`.

    Example:

    >>> card = tomllib.load(open("models/dcgan_bayesian_cifar10.toml", "rb"))
    >>> bz.gan.train_card(card, data_dir="/data/cifar10-jpeg", epochs=1)["g_loss"]
    """
    if not isinstance(card, dict) or card.get("task") != "gan":
        received = card.get("task") if isinstance(card, dict) else card
        raise ValueError(f"This trains cards whose task is 'gan'. Received: task={received!r}")
    if card.get("architecture") != "dcgan":
        raise ValueError(
            "A GAN card needs architecture='dcgan'. Received: "
            f"architecture={card.get('architecture')!r}"
        )
    model_config = dict(card.get("model", {}))
    training = card.get("training", {})
    for key, supported in (("optimizer", "adam"), ("loss", "binary_cross_entropy")):
        if training.get(key, supported) != supported:
            raise ValueError(
                f"Card [training] {key} must be {supported!r} for a GAN. "
                f"Received: {key}={training[key]!r}"
            )
    keras.utils.set_random_seed(seed)
    images, num_images = real_images(
        card.get("dataset", "cifar10"),
        data_dir=data_dir,
        image_size=model_config.get("image_size", 64),
        batch_size=batch_size or training.get("batch_size", 64),
        seed=seed,
    )
    gan = dcgan(
        method=card.get("method", "lrt"),
        num_train_examples=num_images,
        prior=distribution_from_card(card, "prior"),
        posterior=distribution_from_card(card, "posterior"),
        seed=seed,
        **model_config,
    )
    callbacks = list(callbacks)
    if output_dir is not None:
        os.makedirs(output_dir, exist_ok=True)
        callbacks.append(keras.callbacks.CSVLogger(os.path.join(output_dir, "history.csv")))
    history = train(
        gan,
        images,
        epochs=epochs or training.get("epochs", 100),
        learning_rate=training.get("learning_rate", LEARNING_RATE),
        beta_1=training.get("beta_1", BETA_1),
        steps_per_epoch=max_steps_per_epoch,
        sample_dir=None if output_dir is None else os.path.join(output_dir, "samples"),
        callbacks=callbacks,
        verbose=verbose,
    )
    if output_dir is not None:
        save_for_inference(gan, os.path.join(output_dir, "model.keras"))
        plot_training(
            history,
            os.path.join(output_dir, "training.png"),
            title=f"DCGAN ({card.get('method', 'lrt')} discriminator) on "
            f"{card.get('dataset', 'cifar10')}, training split",
        )
    return {key: float(values[-1]) for key, values in history.history.items()}
