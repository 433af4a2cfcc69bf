"""Photographs and their degradation for super-resolution (Shridhar et al., section 6.1).

- `read_images` (a folder of PNG / JPEG / BMP files, or a list of files) and
  `bundled_photographs` (scikit-image's sample photographs, offline);
- `luminance` (the Y channel the paper trains on), `downscale` /
  `bicubic_upscale` (antialiased bicubic resizing) and `training_pairs`
  (random low-/high-resolution crops, degraded as `protocol` degrades a test
  photograph).

```python
photos = bz.super_resolution.read_images("photos/CBSD68")
low_res, high_res = bz.super_resolution.training_pairs(photos, upscale_factor=3)
```
"""

import os

import numpy as np
import tensorflow as tf

from bayes_zoo.tasks.super_resolution import protocol

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


def check_upscale_factor(upscale_factor):
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
    check_upscale_factor(upscale_factor)
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
    check_upscale_factor(upscale_factor)
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
    check_upscale_factor(upscale_factor)
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
    (`bz.protocol.degrade`: MATLAB-style antialiased bicubic, 8-bit), and
    both are converted to full-range Y in [0, 1] (`bz.protocol.to_unit_y`
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
    check_upscale_factor(upscale_factor)
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
        rgb = as_uint8_rgb(image)
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
            low_res.append(protocol.luminance_y(protocol.degrade(crop, upscale_factor)))
            high_res.append(protocol.luminance_y(crop))
    as_unit = lambda arrays: protocol.to_unit_y(np.stack(arrays))[..., np.newaxis]
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


def as_uint8_rgb(image):
    """A photograph of `read_images` (float in [0, 1], 1 or 3 channels) as uint8 RGB."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., np.newaxis]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
