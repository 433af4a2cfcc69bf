"""The SavedModel signatures of a classifier, which `bz.export.saved_model` writes.

Signatures of a classifier (`N` images of the model's input size
`H x W x C`, `K` classes; `T` is the `num_samples` fixed at export):

| signature | inputs | outputs |
|---|---|---|
| `serving_default` | `images` float32 [N, H, W, C] | `OUTPUTS`, with `T` samples |
| `predict_with_uncertainty` | `images` float32 [N, H, W, C], `num_samples` int32 [] | `OUTPUTS` and `sample_probabilities` float32 [num_samples, N, K] |
| `posterior_mean` | `images` float32 [N, H, W, C] | `probabilities` float32 [N, K] of the posterior-mean network |

`OUTPUTS` are those of `bayes_zoo.uncertainty.decompose`: `probabilities`
[N, K], `predicted_class` int64 [N], `predictive_entropy`,
`expected_entropy` and `mutual_information` (Depeweg et al.), `aleatoric`
and `epistemic` (Kwon et al.), each float32 [N], and `aleatoric_per_class`
and `epistemic_per_class` float32 [N, K].

Example:

>>> bz.export.saved_model(model, "saved_models/lenet5_lrt_mnist/1", num_samples=20)
>>> sorted(tf.saved_model.load("saved_models/lenet5_lrt_mnist/1").signatures) == sorted(SIGNATURES)
True
"""

import tensorflow as tf

from bayes_zoo import export
from bayes_zoo.layers.stochastic_layer import posterior_mean
from bayes_zoo.uncertainty import decompose
from bayes_zoo.uncertainty import monte_carlo_probabilities

SIGNATURES = (
    export.SERVING_DEFAULT,
    export.SERVING_DEFAULT + export.SEEDED_SUFFIX,
    export.PREDICT_WITH_UNCERTAINTY,
    export.PREDICT_WITH_UNCERTAINTY + export.SEEDED_SUFFIX,
    export.POSTERIOR_MEAN,
)
# The outputs of serving_default and predict_with_uncertainty (the latter
# adds `sample_probabilities`), in `decompose`'s order.
OUTPUTS = (
    "probabilities",
    "predicted_class",
    "predictive_entropy",
    "expected_entropy",
    "mutual_information",
    "aleatoric",
    "epistemic",
    "aleatoric_per_class",
    "epistemic_per_class",
)


def serves(model):
    """Whether `model` is a classifier: one image input, logits [batch, classes] out."""
    try:
        _, output_rank = export.image_model_shapes(model)
    except ValueError:
        return False
    return output_rank == 2


def endpoints(model, num_samples, samples_per_call, mode):
    """{signature name: (function, input signature, draws noise)} of a classifier."""
    image_shape, _ = export.image_model_shapes(model)
    return _endpoints(model, image_shape, num_samples, samples_per_call, mode)


def _endpoints(model, image_shape, num_samples, samples_per_call, mode):
    """{signature name: (function, input signature, draws noise)} of a classifier.

    A function that draws noise takes its seed tensor as a last argument.
    """
    images_spec = tf.TensorSpec([None, *image_shape], tf.float32, name="images")
    num_samples_spec = tf.TensorSpec([], tf.int32, name="num_samples")
    # A requested `num_samples` is a tensor, and Reparameterization and
    # flipout layers draw one kernel per stacked copy, which needs a static
    # number of copies per model call: every method draws in calls of a fixed
    # size, which also bounds a request's memory, whatever it asks for.
    copies_per_call = samples_per_call or num_samples

    def serving_default(images, seed):
        images = export.check_images(images, image_shape)
        samples = monte_carlo_probabilities(
            model, images, num_samples, mode, samples_per_call, seed
        )
        return decompose(samples)

    def predict_with_uncertainty(images, num_samples, seed):
        images = export.check_images(images, image_shape)
        num_samples = export.check_num_samples(num_samples)
        samples = monte_carlo_probabilities(
            model, images, num_samples, mode, copies_per_call, seed
        )
        return {**decompose(samples), "sample_probabilities": samples}

    def posterior_mean_probabilities(images):
        images = export.check_images(images, image_shape)
        # The switch is read while tracing: this graph has no noise.
        with posterior_mean(model):
            samples = monte_carlo_probabilities(model, images, 1, mode, seed=0)
        return {"probabilities": samples[0]}

    return {
        export.SERVING_DEFAULT: (serving_default, [images_spec], True),
        export.PREDICT_WITH_UNCERTAINTY: (
            predict_with_uncertainty, [images_spec, num_samples_spec], True
        ),
        export.POSTERIOR_MEAN: (posterior_mean_probabilities, [images_spec], False),
    }
