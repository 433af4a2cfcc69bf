"""Single-image super-resolution with a Bayesian ESPCN (Shridhar et al., section 6.1).

The pieces, in the order a run uses them:

- photographs: `read_images` (a folder of PNG / JPEG / BMP files, or a list
  of files) and `bundled_photographs` (scikit-image's sample photographs,
  offline);
- data: `luminance` (the Y channel the paper trains on), `downscale` /
  `bicubic_upscale` (antialiased bicubic resizing, also the baseline) and
  `training_pairs` (random low-/high-resolution crops);
- training: `train` (Adam on the mean squared error plus the layers' KL) and
  `train_card` (a zoo card, for `bayes-zoo train`);
- prediction: `monte_carlo_super_resolution`, the in-graph core giving the
  Monte Carlo mean image and the per-pixel epistemic standard deviation, and
  `super_resolve`, its NumPy front end for images of any size;
- metrics: `psnr` and `ssim` (`tf.image`, on [0, 1] images) and `evaluate`,
  which compares a model with bicubic upscaling on held-out photographs.

```python
photos = bz.super_resolution.read_images("photos/CBSD68")
low_res, high_res = bz.super_resolution.training_pairs(photos, upscale_factor=3)
model = bz.architectures.espcn(
    method="lrt", num_train_examples=bz.super_resolution.elbo_num_train_examples(high_res))
bz.super_resolution.train(model, low_res, high_res, epochs=200)
scores = bz.super_resolution.evaluate(model, bz.super_resolution.read_images("photos/Set5"))
scores["psnr"], scores["bicubic_psnr"]
```
"""

import os

import keras
import numpy as np
import tensorflow as tf

from bayes_zoo import callbacks as callbacks_lib
from bayes_zoo import zoo
from bayes_zoo.architectures.espcn import espcn
from bayes_zoo.layers.base_variational import BaseVariational
from bayes_zoo.layers.stochastic_layer import stacked_weight_samples
from bayes_zoo.layers.stochastic_layer import stochastic_layers
from bayes_zoo.layers.stochastic_layer import tile_copies

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")

# scikit-image's bundled photographs (files inside the installed package, no
# download): natural images to train on, and three held out to test on.
BUNDLED_TRAIN_PHOTOGRAPHS = (
    "astronaut",
    "camera",
    "coins",
    "moon",
    "hubble_deep_field",
    "immunohistochemistry",
    "clock",
    "page",
    "retina",
    "brick",
    "grass",
    "gravel",
)
BUNDLED_TEST_PHOTOGRAPHS = ("chelsea", "coffee", "rocket")

# The likelihood's noise level on [0, 1] luminance: about the root mean
# squared error of bicubic and ESPCN upscaling by 3 (29 to 32 dB PSNR).
NOISE_STDDEV = 0.05

# Low-resolution pixels (examples x Monte Carlo copies) one model call sees in
# `super_resolve`: about 256 MB per 64-channel float32 feature map.
_PIXELS_PER_CALL = 2**20


# --- photographs ------------------------------------------------------------


def _as_float_image(array, source):
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., np.newaxis]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"{source} is not a grayscale, RGB or RGBA image. Received: shape={array.shape}"
        )
    if array.shape[-1] == 4:
        array = array[..., :3]
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.float32) / np.iinfo(array.dtype).max
    return np.clip(array.astype(np.float32), 0.0, 1.0)


def read_images(source):
    """Reads photographs as float32 arrays in [0, 1].

    Args:
        source: a folder (its PNG, JPEG and BMP files, sorted by name; not
            its subfolders) or a list of image files.

    Returns:
        A list of `[height, width, channels]` float32 arrays (1 channel for
        grayscale images, 3 for colour ones; an alpha channel is dropped).

    Raises:
        FileNotFoundError: no such folder or file.
        ValueError: a folder without images, or a file that is no image.

    Example:

    >>> photos = bz.super_resolution.read_images("photos/Set5")
    >>> photos[0].shape
    (512, 512, 3)
    """
    if isinstance(source, (str, os.PathLike)):
        folder = os.fspath(source)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"No folder of images {folder!r}")
        paths = sorted(
            os.path.join(folder, name)
            for name in os.listdir(folder)
            if name.lower().endswith(IMAGE_EXTENSIONS)
        )
        if not paths:
            raise ValueError(
                f"Folder {folder!r} holds no images (files ending in {IMAGE_EXTENSIONS})"
            )
    else:
        paths = [os.fspath(path) for path in source]
        if not paths:
            raise ValueError("Argument `source` is an empty list of image files.")
    images = []
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No image file {path!r}")
        try:
            decoded = tf.io.decode_image(
                tf.io.read_file(path), expand_animations=False
            ).numpy()
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(f"Cannot decode image {path!r}: {error.message}") from None
        images.append(_as_float_image(decoded, path))
    return images


def bundled_photographs(names=BUNDLED_TRAIN_PHOTOGRAPHS):
    """scikit-image's bundled sample photographs, offline.

    Needs `pip install scikit-image` (the `examples` extra of bayes-zoo).

    Args:
        names: names of `skimage.data` images that ship inside the package,
            such as `BUNDLED_TRAIN_PHOTOGRAPHS` and `BUNDLED_TEST_PHOTOGRAPHS`.

    Returns:
        A dict name -> float32 `[height, width, channels]` array in [0, 1].

    Raises:
        ImportError: scikit-image is not installed.
        ValueError: a name that `skimage.data` does not have.

    Example:

    >>> test = bz.super_resolution.bundled_photographs(
    ...     bz.super_resolution.BUNDLED_TEST_PHOTOGRAPHS)
    >>> sorted(test)
    ['chelsea', 'coffee', 'rocket']
    """
    try:
        import skimage.data
    except ImportError:
        raise ImportError(
            "bundled_photographs needs scikit-image. Fix: pip install scikit-image "
            "(or bayes-zoo[examples])"
        ) from None
    photographs = {}
    for name in names:
        loader = getattr(skimage.data, name, None)
        if not callable(loader):
            raise ValueError(
                f"skimage.data has no image {name!r}. Received: names={tuple(names)!r}"
            )
        photographs[name] = _as_float_image(loader(), f"skimage.data.{name}")
    return photographs


# --- data ---------------------------------------------------------------------


def luminance(images):
    """The luminance (Y) channel, `0.299 R + 0.587 G + 0.114 B`.

    The full-range Y of PIL's `YCbCr` (what the PyTorch reference converts
    to) and of `tf.image.rgb_to_yuv`. Grayscale images are their own Y.

    Args:
        images: float array or tensor `[..., height, width, 1 or 3]` in
            [0, 1].

    Returns:
        A float32 tensor `[..., height, width, 1]`.

    Example:

    >>> y = bz.super_resolution.luminance(photo)  # [h, w, 1]
    """
    images = tf.convert_to_tensor(images, tf.float32)
    channels = images.shape[-1]
    if channels == 1:
        return images
    if channels != 3:
        raise ValueError(
            "Argument `images` must have 1 or 3 channels (last axis). "
            f"Received: shape={images.shape}"
        )
    return tf.image.rgb_to_yuv(images)[..., :1]


def _check_factor(upscale_factor):
    if isinstance(upscale_factor, bool) or not isinstance(upscale_factor, int) or upscale_factor < 1:
        raise ValueError(
            "Argument `upscale_factor` must be an integer >= 1. "
            f"Received: upscale_factor={upscale_factor!r}"
        )


def crop_to_multiple(image, upscale_factor):
    """Crops the bottom and right edges so both sides divide by the factor.

    Args:
        image: array or tensor `[..., height, width, channels]`.
        upscale_factor: int >= 1.

    Returns:
        The cropped image, of the same type.

    Example:

    >>> bz.super_resolution.crop_to_multiple(np.zeros([100, 80, 1]), 3).shape
    (99, 78, 1)
    """
    _check_factor(upscale_factor)
    height, width = image.shape[-3], image.shape[-2]
    return image[
        ...,
        : height - height % upscale_factor,
        : width - width % upscale_factor,
        :,
    ]


def _resize(images, size, antialias):
    images = tf.convert_to_tensor(images, tf.float32)
    resized = tf.image.resize(images, size, method="bicubic", antialias=antialias)
    # Bicubic interpolation overshoots at edges.
    return tf.clip_by_value(resized, 0.0, 1.0)


def downscale(images, upscale_factor):
    """Antialiased bicubic downscaling, how the low-resolution inputs are made.

    Args:
        images: `[batch, height, width, channels]` in [0, 1], height and
            width divisible by `upscale_factor` (see `crop_to_multiple`).
        upscale_factor: int >= 1.

    Returns:
        A float32 tensor `[batch, height / f, width / f, channels]`.

    Example:

    >>> low_res = bz.super_resolution.downscale(high_res, 3)
    """
    _check_factor(upscale_factor)
    height, width = images.shape[-3], images.shape[-2]
    if height % upscale_factor or width % upscale_factor:
        raise ValueError(
            f"Argument `images` must have a height and width divisible by "
            f"upscale_factor={upscale_factor}. Received: shape={tuple(images.shape)}"
        )
    return _resize(images, (height // upscale_factor, width // upscale_factor), True)


def bicubic_upscale(images, upscale_factor):
    """Bicubic upscaling, the baseline the network is compared with.

    Args:
        images: `[batch, height, width, channels]` in [0, 1].
        upscale_factor: int >= 1.

    Returns:
        A float32 tensor `[batch, f * height, f * width, channels]`, clipped
        to [0, 1].

    Example:

    >>> baseline = bz.super_resolution.bicubic_upscale(low_res, 3)
    """
    _check_factor(upscale_factor)
    height, width = images.shape[-3], images.shape[-2]
    return _resize(images, (height * upscale_factor, width * upscale_factor), False)


def training_pairs(
    images, upscale_factor=3, crop_size=51, crops_per_image=64, seed=0, augment=False
):
    """Random crops of the photographs and their degraded inputs, as the protocol makes them.

    Each photograph gives `crops_per_image` crops of `crop_size` x
    `crop_size` high-resolution pixels at random places (Shi et al. train on
    17x17 low-resolution sub-images, i.e. 51x51 for a factor of 3). Each RGB
    crop is degraded as the evaluation degrades a test photograph
    (`bz.sr_protocol.degrade`: MATLAB-style antialiased bicubic, 8-bit), and
    both are converted to full-range Y in [0, 1] (`bz.sr_protocol.to_unit_y`
    of the studio-swing Y), so that training and evaluation see one
    degradation.

    Args:
        images: a list of `[height, width, channels]` arrays in [0, 1] (such
            as `read_images` gives), each at least `crop_size` on both sides.
        upscale_factor: int >= 1.
        crop_size: int, divisible by `upscale_factor`.
        crops_per_image: int >= 1.
        seed: int, seeds the crop positions and the augmentation.
        augment: bool, give each crop one of the 8 flips and quarter turns of
            the square, at random.

    Returns:
        `(low_res, high_res)`: float32 arrays `[n, crop_size / f, crop_size
        / f, 1]` and `[n, crop_size, crop_size, 1]`, with `n = len(images) *
        crops_per_image`.

    Example:

    >>> low_res, high_res = bz.super_resolution.training_pairs(photos, 3, 51, 64)
    """
    from bayes_zoo import sr_protocol

    _check_factor(upscale_factor)
    for name, value in (("crop_size", crop_size), ("crops_per_image", crops_per_image)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"Argument `{name}` must be a positive integer. Received: {name}={value!r}"
            )
    if crop_size % upscale_factor:
        raise ValueError(
            f"Argument `crop_size` must be divisible by upscale_factor={upscale_factor}. "
            f"Received: crop_size={crop_size}"
        )
    if len(images) == 0:
        raise ValueError("Argument `images` holds no images.")
    rng = np.random.default_rng(seed)
    low_res, high_res = [], []
    for index, image in enumerate(images):
        rgb = _as_uint8_rgb(image)
        height, width = rgb.shape[:2]
        if min(height, width) < crop_size:
            raise ValueError(
                f"Image {index} of `images` is {height}x{width}, smaller than "
                f"crop_size={crop_size}"
            )
        tops = rng.integers(0, height - crop_size + 1, crops_per_image)
        lefts = rng.integers(0, width - crop_size + 1, crops_per_image)
        for top, left in zip(tops, lefts):
            crop = rgb[top : top + crop_size, left : left + crop_size]
            if augment:
                crop = np.rot90(crop, k=rng.integers(4))
                if rng.integers(2):
                    crop = crop[:, ::-1]
            low_res.append(sr_protocol.luminance_y(sr_protocol.degrade(crop, upscale_factor)))
            high_res.append(sr_protocol.luminance_y(crop))
    as_unit = lambda arrays: sr_protocol.to_unit_y(np.stack(arrays))[..., np.newaxis]
    return as_unit(low_res).astype(np.float32), as_unit(high_res).astype(np.float32)


def elbo_num_train_examples(high_res, noise_stddev=NOISE_STDDEV):
    """The `num_train_examples` that makes "MSE + KL" the negative ELBO.

    The paper trains on the mean squared error plus the KL. With a Gaussian
    likelihood of standard deviation `sigma` on each of the `P` pixel values
    of the training targets, the negative ELBO is

        sum (y - f)^2 / (2 sigma^2) + KL + const
            = P / (2 sigma^2) * (MSE + KL * 2 sigma^2 / P) + const,

    so minimising the MSE plus `KL / num_train_examples` with
    `num_train_examples = P / (2 sigma^2)` minimises the negative ELBO.
    Dividing the KL by the number of crops instead weighs it about `P /
    crops / (2 sigma^2)` (a million) times more: the posterior then falls
    back to the prior and the network predicts a flat image (measured on
    CBSD68 crops: 16 dB PSNR on Set5, against 29 dB for bicubic).

    Args:
        high_res: the training targets (any array; only its size counts).
        noise_stddev: positive float, `sigma`, on the [0, 1] pixel scale.

    Returns:
        An int, for `bz.architectures.espcn(num_train_examples=...)`.

    Example:

    >>> low_res, high_res = bz.super_resolution.training_pairs(photos)
    >>> model = bz.architectures.espcn(
    ...     num_train_examples=bz.super_resolution.elbo_num_train_examples(high_res))
    """
    if not (isinstance(noise_stddev, (int, float)) and noise_stddev > 0):
        raise ValueError(
            f"Argument `noise_stddev` must be a positive number. Received: noise_stddev={noise_stddev!r}"
        )
    size = int(np.size(high_res))
    if size == 0:
        raise ValueError("Argument `high_res` holds no pixels.")
    return max(1, round(size / (2.0 * noise_stddev**2)))


# --- metrics --------------------------------------------------------------------


def _shaved(images, shave):
    if isinstance(shave, bool) or not isinstance(shave, int) or shave < 0:
        raise ValueError(f"Argument `shave` must be an integer >= 0. Received: shave={shave!r}")
    images = tf.convert_to_tensor(images, tf.float32)
    if shave == 0:
        return images
    return images[..., shave:-shave, shave:-shave, :]


def psnr(prediction, target, shave=0):
    """Peak signal-to-noise ratio in dB of images in [0, 1] (`tf.image.psnr`).

    Args:
        prediction, target: float `[..., height, width, channels]` in [0, 1].
        shave: int >= 0, border pixels left out on every side (super-
            resolution papers leave out `upscale_factor` pixels).

    Returns:
        A float32 tensor `[...]`, one PSNR per image (inf for equal images).

    Example:

    >>> float(bz.super_resolution.psnr(np.full([8, 8, 1], 0.6), np.full([8, 8, 1], 0.5)))
    20.0
    """
    return tf.image.psnr(_shaved(prediction, shave), _shaved(target, shave), max_val=1.0)


def ssim(prediction, target, shave=0):
    """Structural similarity of images in [0, 1] (`tf.image.ssim`, 11x11 Gaussian window).

    Args:
        prediction, target: float `[..., height, width, channels]` in [0, 1],
            at least 11x11 after shaving.
        shave: int >= 0, border pixels left out on every side.

    Returns:
        A float32 tensor `[...]`, one SSIM per image (1 for equal images).

    Example:

    >>> bz.super_resolution.ssim(sr_image, hr_image, shave=3)
    """
    return tf.image.ssim(_shaved(prediction, shave), _shaved(target, shave), max_val=1.0)


# --- Monte Carlo prediction ------------------------------------------------------


def _sampling_variational_layers(model, estimators=None):
    return [
        layer
        for layer in stochastic_layers(model)
        if isinstance(layer, BaseVariational)
        and not layer.use_posterior_mean
        and (estimators is None or layer.estimator in estimators)
    ]


def _is_stochastic(model):
    return any(not layer.use_posterior_mean for layer in stochastic_layers(model))


def _draws(model, images, num_copies):
    """One model call on `num_copies` stacked copies -> [num_copies, N, ...]."""
    # Reparameterization ("bbb") and flipout layers draw one kernel
    # (perturbation) per copy when told that the batch stacks copies; local
    # reparameterization draws per example and needs no telling.
    with stacked_weight_samples(model, num_copies):
        outputs = model(tile_copies(images, num_copies), training=False)
    shape = tf.concat([[num_copies, tf.shape(images)[0]], tf.shape(outputs)[1:]], axis=0)
    return tf.reshape(outputs, shape)


def _check_num_samples(num_samples):
    if (
        isinstance(num_samples, bool)
        or not isinstance(num_samples, (int, np.integer))
        or num_samples < 1
    ):
        raise ValueError(
            "Argument `num_samples` must be a positive integer. "
            f"Received: num_samples={num_samples!r}"
        )
    return int(num_samples)


def monte_carlo_super_resolution(model, images, num_samples):
    """The Monte Carlo mean image and per-pixel epistemic standard deviation.

    Draws `num_samples` super-resolved images from the weight posterior and
    returns their mean (the prediction) and standard deviation (the
    epistemic uncertainty map). The draws are one model call on the batch
    tiled `num_samples` times (Reparameterization and flipout layers draw
    one kernel per copy, through `bz.layers.stacked_weight_samples`). A model
    without sampling layers (frequentist, or inside
    `bz.layers.posterior_mean`) runs once and has a zero map.

    Pure tensor code: traceable inside a `tf.function` (a SavedModel
    signature, say) with an unknown batch size and image size.

    Args:
        model: a super-resolution model such as `bz.architectures.espcn`.
        images: float tensor `[N, h, w, C]`, low-resolution images in [0, 1].
        num_samples: positive Python int, the number of draws T.

    Returns:
        `(mean, stddev)`: float32 tensors `[N, f*h, f*w, C]`. The mean is not
        clipped to [0, 1].

    Example:

    >>> mean, stddev = bz.super_resolution.monte_carlo_super_resolution(
    ...     model, low_res, num_samples=20)
    """
    num_samples = _check_num_samples(num_samples)
    images = tf.convert_to_tensor(images, tf.float32)
    if not _is_stochastic(model):
        outputs = tf.cast(model(images, training=False), tf.float32)
        return outputs, tf.zeros_like(outputs)
    draws = tf.cast(_draws(model, images, num_samples), tf.float32)
    return tf.reduce_mean(draws, axis=0), tf.math.reduce_std(draws, axis=0)


def super_resolve(model, low_res, num_samples=20, samples_per_call=None):
    """Super-resolves images of any size: the mean image and the uncertainty map.

    The NumPy front end of `monte_carlo_super_resolution`. Large inputs
    draw their samples over several model calls, each holding at most
    `samples_per_call` copies of the batch.

    Args:
        model: a super-resolution model such as `bz.architectures.espcn`.
        low_res: `[h, w, C]` or `[N, h, w, C]` low-resolution image(s) in [0,
            1].
        num_samples: positive int, the Monte Carlo draws T.
        samples_per_call: positive int or None: copies per model call. None
            fits about a million low-resolution pixels in each call.

    Returns:
        `(mean, stddev)`: float32 NumPy arrays of the input's rank, `f` times
        larger; the mean is clipped to [0, 1].

    Example:

    >>> mean, stddev = bz.super_resolution.super_resolve(model, low_res_y, 20)
    """
    num_samples = _check_num_samples(num_samples)
    images = np.asarray(low_res, dtype=np.float32)
    single = images.ndim == 3
    if single:
        images = images[np.newaxis]
    if images.ndim != 4:
        raise ValueError(
            "Argument `low_res` must be [h, w, C] or [N, h, w, C]. "
            f"Received: shape={images.shape}"
        )
    if samples_per_call is None:
        samples_per_call = max(1, _PIXELS_PER_CALL // int(np.prod(images.shape[:3])))
    elif isinstance(samples_per_call, bool) or not isinstance(samples_per_call, int) or samples_per_call < 1:
        raise ValueError(
            "Argument `samples_per_call` must be a positive integer or None. "
            f"Received: samples_per_call={samples_per_call!r}"
        )
    images = tf.constant(images)
    if not _is_stochastic(model):
        mean, stddev = (t.numpy() for t in monte_carlo_super_resolution(model, images, 1))
    else:
        blocks, remaining = [], num_samples
        while remaining:
            count = min(samples_per_call, remaining)
            blocks.append(_draws(model, images, count).numpy())
            remaining -= count
        draws = np.concatenate(blocks)
        mean, stddev = draws.mean(axis=0), draws.std(axis=0)
    mean = np.clip(mean, 0.0, 1.0)
    if single:
        return mean[0], stddev[0]
    return mean, stddev


def _as_uint8_rgb(image):
    """A photograph of `read_images` (float in [0, 1], 1 or 3 channels) as uint8 RGB."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., np.newaxis]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def evaluate(model, images, upscale_factor=3, num_samples=20, keep_images=False):
    """PSNR and SSIM of a model and of bicubic upscaling, by the literature's protocol.

    Each photograph is degraded and scored as `bz.sr_protocol` describes
    (MATLAB-style antialiased bicubic downscaling of the RGB photograph,
    8-bit rounding, BT.601 studio-swing Y, `upscale_factor` pixels shaved
    from each border). The model super-resolves the low-resolution Y
    (Monte Carlo mean of `num_samples` draws); the baseline is bicubic
    upscaling of the low-resolution RGB. The model's per-pixel predictive
    standard deviation is scored as an error predictor: its Spearman
    correlation with the absolute error, and the area between its
    sparsification curve and the oracle's (AUSE, `bz.metrics.
    sparsification_curve`), over the scored pixels.

    Args:
        model: a super-resolution model with this `upscale_factor`, mapping
            full-range Y in [0, 1] to Y.
        images: a list of `[height, width, channels]` arrays in [0, 1] (see
            `read_images`).
        upscale_factor: int >= 1.
        num_samples: positive int, the Monte Carlo draws T.
        keep_images: bool, also return, per image, the arrays a figure
            needs (`images`: `low_res`, `bicubic`, `mean`, `stddev`,
            `error`, `target`, Y in studio swing, unshaved).

    Returns:
        A dict: `psnr`, `ssim`, `bicubic_psnr`, `bicubic_ssim`, `uncertainty`
        (the mean per-pixel standard deviation, in full-range Y), `spearman`
        and `ause` (None for a deterministic model), each the mean over the
        images; `per_image`, a dict of the same keys holding one value per
        image; `sparsification`, the curves of the pixels of all images
        pooled; with `keep_images`, `images`.

    Example:

    >>> scores = bz.super_resolution.evaluate(model, set5, upscale_factor=3)
    >>> scores["psnr"] - scores["bicubic_psnr"]  # dB gained over bicubic
    """
    from bayes_zoo import metrics
    from bayes_zoo import sr_protocol

    _check_factor(upscale_factor)
    keys = ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim", "uncertainty", "spearman", "ause")
    per_image = {key: [] for key in keys}
    pooled_error, pooled_stddev, kept = [], [], []
    for image in images:
        high_res = _as_uint8_rgb(image)
        low_res = sr_protocol.degrade(high_res, upscale_factor)
        low_res_y = sr_protocol.luminance_y(low_res)
        mean, stddev = super_resolve(model, sr_protocol.to_unit_y(low_res_y)[..., np.newaxis],
                                     num_samples)
        mean_y = sr_protocol.to_studio_y(mean[..., 0])
        bicubic = sr_protocol.bicubic_baseline(low_res, upscale_factor)
        for prefix, prediction in (("", mean_y), ("bicubic_", bicubic)):
            scores = sr_protocol.score(prediction, high_res, upscale_factor)
            per_image[prefix + "psnr"].append(scores["psnr"])
            per_image[prefix + "ssim"].append(scores["ssim"])
        target = sr_protocol.luminance_y(sr_protocol.modcrop(high_res, upscale_factor))
        error = np.abs(mean_y - target)
        shaved_error = sr_protocol.shaved(error, upscale_factor).ravel()
        shaved_stddev = sr_protocol.shaved(stddev[..., 0], upscale_factor).ravel()
        per_image["uncertainty"].append(float(stddev.mean()))
        per_image["spearman"].append(metrics.spearman_correlation(shaved_stddev, shaved_error))
        per_image["ause"].append(
            metrics.sparsification_curve(shaved_error, shaved_stddev)["ause"]
            if np.ptp(shaved_stddev) > 0 else float("nan"))
        pooled_error.append(shaved_error)
        pooled_stddev.append(shaved_stddev)
        if keep_images:
            kept.append({"low_res": low_res_y, "mean": mean_y,
                         "bicubic": sr_protocol.luminance_y(bicubic), "target": target,
                         "stddev": 219.0 * stddev[..., 0], "error": error})
    if not per_image["psnr"]:
        raise ValueError("Argument `images` holds no images.")
    # No ranking for a deterministic model: None, not NaN (JSON has no NaN).
    per_image = {key: [None if np.isnan(value) else value for value in values]
                 for key, values in per_image.items()}
    results = {key: None if None in values else float(np.mean(values))
               for key, values in per_image.items()}
    results["per_image"] = per_image
    results["sparsification"] = {
        key: value.tolist() if isinstance(value, np.ndarray) else value
        for key, value in metrics.sparsification_curve(
            np.concatenate(pooled_error), np.concatenate(pooled_stddev)).items()}
    if keep_images:
        results["images"] = kept
    return results


# --- training --------------------------------------------------------------------


def train(
    model,
    low_res,
    high_res,
    *,
    epochs,
    batch_size=64,
    learning_rate=0.01,
    kl_schedule="constant",
    seed=0,
    max_steps_per_epoch=None,
    callbacks=(),
    verbose=1,
):
    """Trains a super-resolution model on low-/high-resolution pairs.

    Compiles the model with Adam and the mean squared error (the paper's
    appendix 9.2: learning rate 0.01, batch 64) and fits it. The variational
    layers add `kl_weight * KL(q || p)` through `add_loss`, so the loss is
    the MSE plus the KL per training crop; the logs hold `loss`, `nll` (the
    MSE) and `kl`.

    Args:
        model: e.g. `bz.architectures.espcn(num_train_examples=
            elbo_num_train_examples(high_res))`.
        low_res, high_res: float arrays `[n, h, w, C]` and `[n, f*h, f*w, C]`
            (see `training_pairs`).
        epochs: positive int.
        batch_size: positive int.
        learning_rate: positive float, Adam's.
        kl_schedule: a `bz.callbacks.KLWeightSchedule` schedule for the
            variational layers: `"constant"` (the KL weight stays
            `1 / num_train_examples`), `"blundell"` (the paper's
            `2^(M-i) / (2^M - 1)`), `"standard"` or `"soenderby"`.
        seed: int, seeds the shuffling.
        max_steps_per_epoch: positive int or None, caps the batches per epoch
            (a quick run).
        callbacks: further Keras callbacks.
        verbose: 0 (silent), 1 (progress bar) or 2 (one line per epoch).

    Returns:
        The `keras.callbacks.History` of `fit`.

    Example:

    >>> history = bz.super_resolution.train(model, low_res, high_res, epochs=5)
    >>> history.history["nll"][-1]  # training MSE
    """
    low_res = np.asarray(low_res, np.float32)
    high_res = np.asarray(high_res, np.float32)
    if len(low_res) != len(high_res) or len(low_res) == 0:
        raise ValueError(
            "Arguments `low_res` and `high_res` must hold the same positive number of "
            f"images. Received: {len(low_res)} and {len(high_res)}"
        )
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Argument `{name}` must be a positive integer. Received: {name}={value!r}")
    if max_steps_per_epoch is not None and (
        isinstance(max_steps_per_epoch, bool)
        or not isinstance(max_steps_per_epoch, int)
        or max_steps_per_epoch < 1
    ):
        raise ValueError(
            "Argument `max_steps_per_epoch` must be a positive integer or None. "
            f"Received: max_steps_per_epoch={max_steps_per_epoch!r}"
        )
    if not learning_rate > 0:
        raise ValueError(
            f"Argument `learning_rate` must be positive. Received: learning_rate={learning_rate!r}"
        )
    callbacks = list(callbacks)
    if _sampling_variational_layers(model):
        callbacks.insert(0, callbacks_lib.KLWeightSchedule(kl_schedule))
    dataset = (
        tf.data.Dataset.from_tensor_slices((low_res, high_res))
        .shuffle(len(low_res), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
    )
    steps_per_epoch = None
    if max_steps_per_epoch is not None:
        steps_per_epoch = min(max_steps_per_epoch, int(dataset.cardinality()))
        dataset = dataset.repeat()
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.MeanSquaredError(),
    )
    return model.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
        # The dataset shuffles itself.
        shuffle=False,
    )


# --- zoo cards ---------------------------------------------------------------------

def distribution_from_card(card, section):
    """The prior (`section="prior"`) or posterior of a card's `[prior]` / `[posterior]` table.

    The tables read as in every zoo card (`bz.zoo.prior_from_table`,
    `bz.zoo.posterior_from_table`): `kind` (`"normal"` or
    `"scale_mixture_normal"`; `"mean_field_normal"` or
    `"multiplicative_normal"`) and its parameters.

    Args:
        card: dict, a parsed zoo card.
        section: `"prior"` or `"posterior"`.

    Returns:
        A `bz.priors.Prior` / `bz.posteriors.Posterior`, or None when the card
        has no such table (the library defaults).

    Example:

    >>> card = tomllib.load(open("models/espcn_lrt_bsds.toml", "rb"))
    >>> bz.super_resolution.distribution_from_card(card, "posterior")
    MultiplicativeNormal(...)
    """
    from_table = {"prior": zoo.prior_from_table, "posterior": zoo.posterior_from_table}.get(
        section
    )
    if from_table is None:
        raise ValueError(
            f"Argument `section` must be 'prior' or 'posterior'. Received: section={section!r}"
        )
    return from_table(card.get(section))


def _card_section(card, name):
    section = card.get(name, {})
    if not isinstance(section, dict):
        raise ValueError(f"Card [{name}] must be a table. Received: {section!r}")
    return section


def _check_card_task(card, task):
    if not isinstance(card, dict):
        raise ValueError(f"Argument `card` must be a dict (a parsed TOML card). Received: {card!r}")
    if card.get("task") != task:
        raise ValueError(
            f"This trains cards whose task is {task!r}. Received: task={card.get('task')!r}"
        )


def train_card(
    card,
    *,
    epochs=None,
    batch_size=None,
    data_dir=None,
    output_dir=None,
    seed=0,
    max_steps_per_epoch=None,
    verbose=1,
):
    """Trains and evaluates the super-resolution model a zoo card describes.

    The card (`task = "super_resolution"`, `architecture = "espcn"`) names
    the photographs in `[data]`: `train_folders` and `test_folders`, folders
    of `data_dir` (the training crops are `crop_size` x `crop_size`,
    `crops_per_image` per photograph), and the optimisation in `[training]`
    (`epochs`, `batch_size`, `learning_rate`, `kl_schedule`). The model is
    scored with `evaluate` on every test folder.

    Args:
        card: dict, the parsed TOML card.
        epochs, batch_size: positive ints overriding the card's.
        data_dir: the folder that holds the card's photograph folders.
        output_dir: None, or a folder that receives `model.keras` and
            `history.csv`.
        seed: int, seeds Keras (initial weights), the crops, the shuffling
            and the layers' noise.
        max_steps_per_epoch: positive int or None, caps the batches per epoch.
        verbose: 0, 1 or 2, as Keras' `fit`.

    Returns:
        A dict of final metrics: `loss`, `nll` and `kl` of the last epoch,
        and for each test folder `<folder>_psnr`, `<folder>_ssim`,
        `<folder>_bicubic_psnr`, `<folder>_bicubic_ssim` and
        `<folder>_uncertainty`.

    Raises:
        ValueError: a card of another task or with bad values, a bad
            argument.
        FileNotFoundError: no `data_dir`, or a photograph folder missing.

    Example:

    >>> card = tomllib.load(open("models/espcn_lrt_bsds.toml", "rb"))
    >>> bz.super_resolution.train_card(card, data_dir="photos", epochs=2)["Set5_psnr"]
    """
    _check_card_task(card, "super_resolution")
    architecture = card.get("architecture")
    if architecture != "espcn":
        raise ValueError(
            f"A super-resolution card needs architecture='espcn'. Received: "
            f"architecture={architecture!r}"
        )
    if data_dir is None:
        raise FileNotFoundError(
            "A super-resolution card trains on photographs in folders of `data_dir`. "
            "Fix: pass data_dir (bayes-zoo --data-dir), e.g. a folder holding CBSD68/, "
            "Set5/ and Set14/."
        )
    model_config = _card_section(card, "model")
    data_config = _card_section(card, "data")
    training = _card_section(card, "training")
    evaluation = _card_section(card, "evaluation")
    for key, supported in (("optimizer", "adam"), ("loss", "mse")):
        if training.get(key, supported) != supported:
            raise ValueError(
                f"Card [training] {key} must be {supported!r} for super-resolution. "
                f"Received: {key}={training[key]!r}"
            )
    upscale_factor = model_config.get("upscale_factor", 3)
    keras.utils.set_random_seed(seed)
    photographs = [photograph
                   for folder in data_config.get("train_folders", ("CBSD68",))
                   for photograph in read_images(os.path.join(data_dir, folder))]
    low_res, high_res = training_pairs(
        photographs,
        upscale_factor=upscale_factor,
        crop_size=data_config.get("crop_size", 51),
        crops_per_image=data_config.get("crops_per_image", 64),
        seed=seed,
        augment=data_config.get("augment", False),
    )
    model = espcn(
        method=card.get("method", "lrt"),
        num_train_examples=elbo_num_train_examples(
            high_res, training.get("noise_stddev", NOISE_STDDEV)
        ),
        prior=distribution_from_card(card, "prior"),
        posterior=distribution_from_card(card, "posterior"),
        seed=seed,
        **model_config,
    )
    callbacks = []
    if output_dir is not None:
        os.makedirs(output_dir, exist_ok=True)
        callbacks.append(keras.callbacks.CSVLogger(os.path.join(output_dir, "history.csv")))
    history = train(
        model,
        low_res,
        high_res,
        epochs=epochs or training.get("epochs", 200),
        batch_size=batch_size or training.get("batch_size", 64),
        learning_rate=training.get("learning_rate", 0.01),
        kl_schedule=training.get("kl_schedule", "constant"),
        seed=seed,
        max_steps_per_epoch=max_steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
    )
    metrics = {key: float(values[-1]) for key, values in history.history.items()}
    for folder in data_config.get("test_folders", ("Set5", "Set14")):
        scores = evaluate(
            model,
            read_images(os.path.join(data_dir, folder)),
            upscale_factor=upscale_factor,
            num_samples=evaluation.get("num_samples", 20),
        )
        for key, value in scores.items():
            if key not in ("per_image", "sparsification"):
                metrics[f"{folder}_{key}"] = value
    if output_dir is not None:
        model.save(os.path.join(output_dir, "model.keras"))
    return metrics
