"""The super-resolution task: a Bayesian ESPCN (Shridhar et al., section 6.1).

Everything about super-resolution is in this folder:

- `espcn`: the network builder and its `PixelShuffle` layer;
- `protocol`: the literature's x3 evaluation protocol (MATLAB-style bicubic
  degradation, BT.601 Y, border shave, PSNR and SSIM);
- `photographs`: reading photographs, degrading them, training crops;
- `evaluation`: Monte Carlo super-resolution, PSNR / SSIM, `evaluate`;
- `training`: `train` and `train_card`;
- `serving`: the SavedModel signatures (`bz.export`).

`bz.super_resolution` and `bz.sr_protocol` re-export the public functions. This
module declares the task's card section to the zoo (`TASK`); it imports no
TensorFlow.

Example:

>>> from bayes_zoo.tasks import super_resolution
>>> super_resolution.TASK.loss
'mse'
"""

import dataclasses

from bayes_zoo import task_registry

BUILDER_PARAMETERS = {
    "espcn": ("method", "upscale_factor", "channels", "num_train_examples", "prior",
              "posterior", "activation", "train_samples", "seed"),
}


@dataclasses.dataclass(frozen=True)
class PhotographDataConfig:
    """The `[data]` table of a super-resolution card: folders of photographs.

    Attributes:
        train_folders: tuple of str, the folders of `--data-dir` holding
            the training photographs.
        test_folders: tuple of str, folders of `--data-dir` holding the test
            photographs, each scored separately.
        crop_size: positive int, the side of the high-resolution training
            crops (divisible by the upscale factor).
        crops_per_image: positive int, random crops of each photograph.
        augment: bool, a random flip and quarter turn of each crop.
    """

    train_folders: tuple[str, ...] = ("CBSD68",)
    test_folders: tuple[str, ...] = ("Set5", "Set14")
    crop_size: int = 51
    crops_per_image: int = 64
    augment: bool = False


def _data_problem(dataset, data):
    for name in ("crop_size", "crops_per_image"):
        if getattr(data, name) < 1:
            return f"[data] {name} must be positive. Received: {getattr(data, name)}"
    return None


# `training.train_card`: Adam on the MSE plus the KL.
TASK = task_registry.register(task_registry.Task(
    name="super_resolution",
    builder_parameters=BUILDER_PARAMETERS,
    datasets=("bsds",),
    loss="mse",
    optimizers=("adam",),
    data_config=PhotographDataConfig,
    training_keys=("epochs", "batch_size", "learning_rate", "optimizer", "loss", "kl_schedule", "noise_stddev"),
    check_data=_data_problem,
    serves=task_registry.lazy("bayes_zoo.tasks.super_resolution.serving", "serves"),
    serving_endpoints=task_registry.lazy("bayes_zoo.tasks.super_resolution.serving", "endpoints"),
    register_keras_objects=task_registry.lazy("bayes_zoo.tasks.super_resolution.espcn"),
))
