"""The SavedModel signatures of a super-resolution model, which `bz.export.saved_model` writes.

Signatures of a super-resolution model (such as `bz.architectures.espcn`,
output `f` times larger, any input size):

| signature | inputs | outputs |
|---|---|---|
| `serving_default` | `images` float32 [N, h, w, C] | `mean_image` (clipped to [0, 1]) and `uncertainty` (per-pixel standard deviation), float32 [N, f*h, f*w, C] |
| `posterior_mean` | `images` float32 [N, h, w, C] | `mean_image` float32 [N, f*h, f*w, C] |

(`bz.super_resolution.monte_carlo_super_resolution` takes a static number of
samples, so a super-resolution export has no `predict_with_uncertainty`.)

Example:

>>> bz.export.saved_model(espcn_model, "saved_models/espcn_lrt_bsds/1", num_samples=20)
"""

import tensorflow as tf

from bayes_zoo import export
from bayes_zoo.layers import noise
from bayes_zoo.layers.stochastic_layer import posterior_mean
from bayes_zoo.tasks.super_resolution.evaluation import monte_carlo_super_resolution

SIGNATURES = (export.SERVING_DEFAULT, export.SERVING_DEFAULT + export.SEEDED_SUFFIX,
              export.POSTERIOR_MEAN)
OUTPUTS = ("mean_image", "uncertainty")


def serves(model):
    """Whether `model` maps images to images (one image input, a rank-4 output)."""
    try:
        _, output_rank = export.image_model_shapes(model)
    except ValueError:
        return False
    return output_rank == 4


def endpoints(model, num_samples, samples_per_call=None, mode=None):
    """{signature name: (function, input signature, draws noise)}; `samples_per_call`, `mode`: unused."""
    image_shape, _ = export.image_model_shapes(model)
    return _endpoints(model, image_shape, num_samples)


def _endpoints(model, image_shape, num_samples):
    """{signature name: (function, input signature, draws noise)} of a super-resolution model."""
    images_spec = tf.TensorSpec([None, *image_shape], tf.float32, name="images")

    def serving_default(images, seed):
        images = export.check_images(images, image_shape)
        with noise.call_seed(seed):
            mean, stddev = monte_carlo_super_resolution(model, images, num_samples)
        # Clipped as ``evaluation.super_resolve`` clips it.
        return {"mean_image": tf.clip_by_value(mean, 0.0, 1.0), "uncertainty": stddev}

    def posterior_mean_image(images):
        images = export.check_images(images, image_shape)
        with posterior_mean(model):
            mean, _ = monte_carlo_super_resolution(model, images, 1)
        return {"mean_image": tf.clip_by_value(mean, 0.0, 1.0)}

    return {
        export.SERVING_DEFAULT: (serving_default, [images_spec], True),
        export.POSTERIOR_MEAN: (posterior_mean_image, [images_spec], False),
    }
