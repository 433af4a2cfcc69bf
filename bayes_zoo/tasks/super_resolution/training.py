"""Training a super-resolution model, from arrays (`train`) or from a zoo card (`train_card`).

```python
photos = bz.super_resolution.read_images("photos/CBSD68")
low_res, high_res = bz.super_resolution.training_pairs(photos, upscale_factor=3)
model = bz.architectures.espcn(
    method="lrt", num_train_examples=bz.super_resolution.elbo_num_train_examples(high_res))
bz.super_resolution.train(model, low_res, high_res, epochs=200)
```
"""

import os

import keras
import numpy as np
import tensorflow as tf

from bayes_zoo import callbacks as callbacks_lib
from bayes_zoo.card_tables import distribution_from_card
from bayes_zoo.layers.base_variational import BaseVariational
from bayes_zoo.layers.stochastic_layer import stochastic_layers
from bayes_zoo.tasks.super_resolution.espcn import espcn
from bayes_zoo.tasks.super_resolution.evaluation import evaluate
from bayes_zoo.tasks.super_resolution.photographs import NOISE_STDDEV
from bayes_zoo.tasks.super_resolution.photographs import elbo_num_train_examples
from bayes_zoo.tasks.super_resolution.photographs import read_images
from bayes_zoo.tasks.super_resolution.photographs import training_pairs

# --- training --------------------------------------------------------------------


def _sampling_variational_layers(model, estimators=None):
    return [
        layer
        for layer in stochastic_layers(model)
        if isinstance(layer, BaseVariational)
        and not layer.use_posterior_mean
        and (estimators is None or layer.estimator in estimators)
    ]


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
