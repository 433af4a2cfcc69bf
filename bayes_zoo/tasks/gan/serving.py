"""The SavedModel signatures of a `BayesianDCGAN`, which `bz.export.saved_model` writes.

| signature | inputs | outputs |
|---|---|---|
| `serving_default` | `latent` float32 [N, latent_dim] | generated `images`, the discriminator's Monte Carlo `probability_real` and its `uncertainty` |
| `discriminate` | `images` float32 [N, H, W, C] | `probability_real`, `uncertainty` |
| `posterior_mean` | `images` float32 [N, H, W, C] | `probability_real` of the posterior-mean discriminator |

Example:

>>> bz.export.saved_model(gan, "saved_models/dcgan_bayesian_cifar10/1", num_samples=10)
"""

import tensorflow as tf

from bayes_zoo import export
from bayes_zoo.layers import noise
from bayes_zoo.layers.stochastic_layer import posterior_mean
from bayes_zoo.tasks.gan.dcgan import BayesianDCGAN
from bayes_zoo.tasks.gan.dcgan import discriminator_uncertainty


def serves(model):
    """Whether `model` is a `BayesianDCGAN`."""
    return isinstance(model, BayesianDCGAN)


def endpoints(model, num_samples, samples_per_call=None, mode=None):
    """{signature name: (function, input signature, draws noise)}; `samples_per_call`, `mode`: unused."""
    return _endpoints(model, num_samples)


def _endpoints(gan, num_samples):
    """{signature name: (function, input signature, draws noise)} of a `BayesianDCGAN`."""
    image_shape = tuple(gan.discriminator.inputs[0].shape[1:])
    latent_spec = tf.TensorSpec([None, gan.latent_dim], tf.float32, name="latent")
    images_spec = tf.TensorSpec([None, *image_shape], tf.float32, name="images")
    # The discriminator's draws are unrolled in the graph: at least two.
    draws = max(2, num_samples)

    def serving_default(latent, seed):
        tf.debugging.assert_rank(latent, 2, message="Input `latent` must be [batch, latent_dim]")
        latent = export.check_finite(latent, "latent")
        images = gan.generator(latent, training=False)
        with noise.call_seed(seed):
            probability, uncertainty = discriminator_uncertainty(gan.discriminator, images, draws)
        return {"images": images, "probability_real": probability, "uncertainty": uncertainty}

    def discriminate(images, seed):
        images = export.check_images(images, image_shape)
        with noise.call_seed(seed):
            probability, uncertainty = discriminator_uncertainty(gan.discriminator, images, draws)
        return {"probability_real": probability, "uncertainty": uncertainty}

    def posterior_mean_discriminate(images):
        images = export.check_images(images, image_shape)
        with posterior_mean(gan.discriminator):
            logits = gan.discriminator(images, training=False)
        return {"probability_real": tf.sigmoid(tf.reshape(logits, [-1]))}

    return {
        export.SERVING_DEFAULT: (serving_default, [latent_spec], True),
        "discriminate": (discriminate, [images_spec], True),
        export.POSTERIOR_MEAN: (posterior_mean_discriminate, [images_spec], False),
    }
