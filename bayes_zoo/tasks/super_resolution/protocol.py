"""The standard super-resolution benchmark protocol (Set5 / Set14 numbers of the literature).

Super-resolution papers (SRCNN, ESPCN, VDSR and the tables that compare them)
score a method the same way, with MATLAB:

1. the high-resolution RGB photograph, cropped so that both sides divide by
   the scale, is degraded with `imresize(hr, 1/scale, 'bicubic')`: Keys'
   cubic kernel (a = -0.5), widened by the scale when shrinking
   (antialiasing), mirror-padded at the borders, rounded to 8 bits;
2. the method (or `imresize(lr, scale, 'bicubic')`, the baseline) upscales
   it, rounded to 8 bits;
3. both are converted to luminance with BT.601's studio-swing Y of
   `rgb2ycbcr` (`16 + 65.481 R + 128.553 G + 24.966 B`, RGB in [0, 1]);
4. `scale` pixels are shaved from every border, and PSNR (peak 255) and
   SSIM (Wang et al.'s 11x11 Gaussian window, sigma 1.5) are computed on Y.

`imresize` here is written from that definition (MATLAB's documented
kernel, antialiasing and border rule); `degrade`, `bicubic_baseline` and
`score` are the protocol's steps. tensorflow's `tf.image.resize` differs
from MATLAB at the borders and in its antialiasing, which moves the
bicubic Set5 PSNR by tenths of a dB.

```python
hr = bz.sr_protocol.read_rgb("Set5/baby.png")
lr = bz.sr_protocol.degrade(hr, 3)
scores = bz.sr_protocol.score(bz.sr_protocol.bicubic_baseline(lr, 3), hr, 3)
```
"""

import numpy as np
import tensorflow as tf


def _cubic(x):
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic')."""
    x = np.abs(x)
    x2, x3 = x * x, x * x * x
    inner = (1.5 * x3 - 2.5 * x2 + 1.0) * (x <= 1)
    outer = (-0.5 * x3 + 2.5 * x2 - 4.0 * x + 2.0) * ((x > 1) & (x <= 2))
    return inner + outer


def _contributions(in_length, out_length, scale):
    """For each output index: the input indices it reads and their weights ([out, taps])."""
    kernel_width = 4.0
    antialias = scale < 1
    if antialias:
        # Shrinking: the kernel is stretched by 1/scale, so that every input
        # pixel contributes (a low-pass filter before subsampling).
        kernel_width /= scale
    # Output pixel centres, in input coordinates (1-based, as MATLAB's).
    out = np.arange(1, out_length + 1, dtype=np.float64)
    centre = out / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(centre - kernel_width / 2.0)
    taps = int(np.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    distance = centre[:, None] - indices
    weights = scale * _cubic(scale * distance) if antialias else _cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    # Mirror the indices that fall outside [1, in_length] ("symmetric" padding:
    # ... 2 1 | 1 2 ... n | n n-1 ...).
    mirrored = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirrored[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    # Drop taps whose weight is zero everywhere (MATLAB does too; it changes nothing).
    used = np.any(weights != 0, axis=0)
    return indices[:, used], weights[:, used]


def _resize_axis(image, axis, out_length, scale):
    indices, weights = _contributions(image.shape[axis], out_length, scale)
    moved = np.moveaxis(image, axis, 0)
    gathered = moved[indices]  # [out, taps, ...]
    weights = weights.reshape(weights.shape + (1,) * (moved.ndim - 1))
    return np.moveaxis((gathered * weights).sum(axis=1), 0, axis)


def imresize(image, scale):
    """MATLAB's `imresize(image, scale, 'bicubic')` of an 8-bit or float image.

    Args:
        image: array `[height, width]` or `[height, width, channels]`, uint8
            (returned rounded and clipped to uint8, as MATLAB does) or float.
        scale: positive float; the output is `ceil(scale * side)` pixels a side.

    Returns:
        The resized array, of the input's dtype.

    Example:

    >>> bz.sr_protocol.imresize(np.zeros((9, 9, 3), np.uint8), 1 / 3).shape
    (3, 3, 3)
    """
    if not scale > 0:
        raise ValueError(f"Argument `scale` must be positive. Received: scale={scale!r}")
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError("Argument `image` must be [height, width] or [height, width, channels]. "
                         f"Received: shape={image.shape}")
    result = image.astype(np.float64)
    # MATLAB resizes the dimension that shrinks most first; with one scale,
    # the rows first.
    for axis in (0, 1):
        out_length = int(np.ceil(scale * image.shape[axis]))
        result = _resize_axis(result, axis, out_length, scale)
    if image.dtype == np.uint8:
        return np.clip(np.round(result), 0, 255).astype(np.uint8)
    return result.astype(image.dtype)


def modcrop(image, scale):
    """Crops the bottom and right so that both sides divide by `scale`."""
    height, width = image.shape[0], image.shape[1]
    return image[: height - height % scale, : width - width % scale]


def read_rgb(path):
    """An image file as uint8 RGB `[height, width, 3]` (grayscale repeated over RGB)."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def degrade(high_res, scale):
    """The protocol's low-resolution input: `imresize(modcrop(hr), 1/scale)`, uint8."""
    return imresize(modcrop(np.asarray(high_res, np.uint8), scale), 1.0 / scale)


def bicubic_baseline(low_res, scale):
    """The protocol's baseline: `imresize(lr, scale)`, uint8."""
    return imresize(np.asarray(low_res, np.uint8), float(scale))


def luminance_y(rgb):
    """BT.601 studio-swing Y of `rgb2ycbcr`, in [16, 235], as float64 `[height, width]`.

    Args:
        rgb: uint8 `[height, width, 3]`, or float in [0, 1].
    """
    rgb = np.asarray(rgb)
    rgb = rgb / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float64)
    return 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]


def score(prediction, high_res, scale):
    """PSNR (dB, peak 255) and SSIM of `prediction` against the photograph, on Y.

    Args:
        prediction: uint8 RGB `[h, w, 3]` (or float RGB in [0, 1]), or the
            Y channel itself `[h, w]` in studio swing (what a Y-only network
            such as ESPCN predicts), of the cropped photograph's size
            (`modcrop(high_res, scale)`).
        high_res: the original uint8 RGB photograph.
        scale: the upscaling factor, also the border shaved from each side.

    Returns:
        A dict with `psnr` and `ssim`, floats.
    """
    target = shaved(luminance_y(modcrop(np.asarray(high_res), scale)), scale)
    prediction = np.asarray(prediction)
    predicted = prediction.astype(np.float64) if prediction.ndim == 2 else luminance_y(prediction)
    predicted = shaved(predicted, scale)
    if predicted.shape != target.shape:
        raise ValueError(
            "Argument `prediction` must be the cropped photograph's size "
            f"{modcrop(np.asarray(high_res), scale).shape[:2]}. Received: {prediction.shape}"
        )
    mse = np.mean((predicted - target) ** 2)
    psnr = float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))
    ssim = float(tf.image.ssim(tf.constant(predicted[..., None], tf.float64),
                               tf.constant(target[..., None], tf.float64), max_val=255.0))
    return {"psnr": psnr, "ssim": ssim}


def shaved(image, scale):
    """`image` without `scale` pixels on each border (its first two axes)."""
    return image[scale:-scale, scale:-scale] if scale else image


# Studio-swing Y = 16 + 219 * (full-range Y), with one set of coefficients
# (65.481 / 219 = 0.299 ...): a network trained on full-range Y in [0, 1]
# maps exactly to the protocol's Y and back.
def to_unit_y(studio_y):
    """Studio-swing Y in [16, 235] to the full-range Y in [0, 1] a network takes."""
    return (np.asarray(studio_y, np.float64) - 16.0) / 219.0


def to_studio_y(unit_y):
    """The inverse of `to_unit_y`."""
    return 16.0 + 219.0 * np.asarray(unit_y, np.float64)
