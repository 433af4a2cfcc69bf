"""Super-resolution prediction and scoring: Monte Carlo images, PSNR, SSIM, `evaluate`.

- `monte_carlo_super_resolution`, the in-graph core giving the Monte Carlo
  mean image and the per-pixel epistemic standard deviation, and
  `super_resolve`, its NumPy front end for images of any size;
- `psnr` and `ssim` (`tf.image`, on [0, 1] images) and `evaluate`, which
  compares a model with bicubic upscaling on held-out photographs by the
  literature's protocol (`protocol`).

```python
scores = bz.super_resolution.evaluate(model, bz.super_resolution.read_images("photos/Set5"))
scores["psnr"], scores["bicubic_psnr"]
```
"""

import numpy as np
import tensorflow as tf

from bayes_zoo import metrics
from bayes_zoo.layers.stochastic_layer import stacked_weight_samples
from bayes_zoo.layers.stochastic_layer import stochastic_layers
from bayes_zoo.layers.stochastic_layer import tile_copies
from bayes_zoo.tasks.super_resolution import protocol
from bayes_zoo.tasks.super_resolution.photographs import as_uint8_rgb
from bayes_zoo.tasks.super_resolution.photographs import check_upscale_factor

# Low-resolution pixels (examples x Monte Carlo copies) one model call sees in
# `super_resolve`: about 256 MB per 64-channel float32 feature map.
_PIXELS_PER_CALL = 2**20


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
    check_upscale_factor(upscale_factor)
    keys = ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim", "uncertainty", "spearman", "ause")
    per_image = {key: [] for key in keys}
    pooled_error, pooled_stddev, kept = [], [], []
    for image in images:
        high_res = as_uint8_rgb(image)
        low_res = protocol.degrade(high_res, upscale_factor)
        low_res_y = protocol.luminance_y(low_res)
        mean, stddev = super_resolve(model, protocol.to_unit_y(low_res_y)[..., np.newaxis],
                                     num_samples)
        mean_y = protocol.to_studio_y(mean[..., 0])
        bicubic = protocol.bicubic_baseline(low_res, upscale_factor)
        for prefix, prediction in (("", mean_y), ("bicubic_", bicubic)):
            scores = protocol.score(prediction, high_res, upscale_factor)
            per_image[prefix + "psnr"].append(scores["psnr"])
            per_image[prefix + "ssim"].append(scores["ssim"])
        target = protocol.luminance_y(protocol.modcrop(high_res, upscale_factor))
        error = np.abs(mean_y - target)
        shaved_error = protocol.shaved(error, upscale_factor).ravel()
        shaved_stddev = protocol.shaved(stddev[..., 0], upscale_factor).ravel()
        per_image["uncertainty"].append(float(stddev.mean()))
        per_image["spearman"].append(metrics.spearman_correlation(shaved_stddev, shaved_error))
        per_image["ause"].append(
            metrics.sparsification_curve(shaved_error, shaved_stddev)["ause"]
            if np.ptp(shaved_stddev) > 0 else float("nan"))
        pooled_error.append(shaved_error)
        pooled_stddev.append(shaved_stddev)
        if keep_images:
            kept.append({"low_res": low_res_y, "mean": mean_y,
                         "bicubic": protocol.luminance_y(bicubic), "target": target,
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
