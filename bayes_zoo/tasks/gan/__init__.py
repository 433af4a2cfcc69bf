"""The GAN task: a DCGAN whose discriminator is Bayesian (Shridhar et al., section 6.2).

Everything about the GAN is in this folder:

- `dcgan`: the generator and discriminator builders, and `BayesianDCGAN`,
  the model whose `train_step` trains both;
- `training`: real images, sample grids, sample quality, `train` and
  `train_card`;
- `serving`: the SavedModel signatures (`bz.export`).

`bz.gan` re-exports the public functions. This module declares the task's
card section to the zoo (`TASK`); it imports no TensorFlow.

Example:

>>> from bayes_zoo.tasks import gan
>>> gan.TASK.datasets
('cifar10',)
"""

from bayes_zoo import task_registry

BUILDER_PARAMETERS = {
    "dcgan": ("method", "image_size", "channels", "latent_dim", "ngf", "ndf",
              "num_train_examples", "prior", "posterior", "batch_norm",
              "uncertainty_samples", "seed"),
}


# `training.train_card`: DCGAN's Adam; the discriminator's KL weight is fixed.
TASK = task_registry.register(task_registry.Task(
    name="gan",
    builder_parameters=BUILDER_PARAMETERS,
    datasets=("cifar10",),
    loss="binary_cross_entropy",
    optimizers=("adam",),
    data_config=None,  # the dataset says it all
    training_keys=("epochs", "batch_size", "learning_rate", "optimizer", "loss", "beta_1"),
    serves=task_registry.lazy("bayes_zoo.tasks.gan.serving", "serves"),
    serving_endpoints=task_registry.lazy("bayes_zoo.tasks.gan.serving", "endpoints"),
    register_keras_objects=task_registry.lazy("bayes_zoo.tasks.gan.dcgan"),
))
