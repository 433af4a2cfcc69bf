"""Bayesian ESPCN and the super-resolution pipeline, on tiny synthetic images."""

import os
import tomllib

import keras
import numpy as np
import pytest
import tensorflow as tf

import bayes_zoo as bz
from bayes_zoo import super_resolution as sr
from bayes_zoo.architectures.espcn import PixelShuffle
from bayes_zoo.architectures.espcn import espcn

METHODS = ("lrt", "bbb", "flipout", "frequentist")
MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")


def _smooth_images(count, size, seed=0):
    """Smooth random [size, size, 1] images in [0, 1] (upsampled noise)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.1, 0.9, (count, size // 4, size // 4, 1)).astype(np.float32)
    return tf.image.resize(coarse, (size, size), "bilinear").numpy()


@pytest.mark.parametrize("method", METHODS)
def test_one_training_step_and_output_shape(method):
    low_res, high_res = sr.training_pairs(list(_smooth_images(2, 24)), 3, 9, 2, seed=0)
    model = espcn(
        method=method, num_train_examples=sr.elbo_num_train_examples(high_res), seed=0
    )
    assert model(low_res[:1]).shape == (1, 9, 9, 1)
    # Any input size: the network is fully convolutional.
    assert model(np.zeros([2, 5, 7, 1], np.float32)).shape == (2, 15, 21, 1)
    history = sr.train(model, low_res, high_res, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert (history.history["kl"][0] > 0) == (method != "frequentist")


def test_channels_and_upscale_factor():
    model = espcn(method="lrt", upscale_factor=2, channels=3, num_train_examples=10)
    assert model(np.zeros([1, 4, 5, 3], np.float32)).shape == (1, 8, 10, 3)
    assert model.get_layer("conv4").filters == 2 * 2 * 3


def test_pixel_shuffle_layout():
    # Channel k of a low-resolution pixel goes to row k // r, column k % r of
    # its r x r block, as PyTorch's PixelShuffle.
    inputs = tf.reshape(tf.range(9, dtype=tf.float32), [1, 1, 1, 9])
    outputs = PixelShuffle(3)(inputs)
    np.testing.assert_array_equal(outputs[0, :, :, 0], np.arange(9).reshape(3, 3))
    assert PixelShuffle(3).compute_output_shape((None, 4, None, 18)) == (None, 12, None, 2)


@pytest.mark.parametrize(
    "arguments, name",
    [
        ({"upscale_factor": 0}, "upscale_factor"),
        ({"upscale_factor": 2.0}, "upscale_factor"),
        ({"method": "mc_dropout"}, "method"),
        ({"method": "bayesian"}, "method"),
        ({"activation": "sigmoid"}, "activation"),
        ({"channels": 0}, "channels"),
        ({"num_train_examples": 0}, "num_train_examples"),
    ],
)
def test_bad_builder_arguments(arguments, name):
    with pytest.raises(ValueError, match=name):
        espcn(**arguments)


def test_keras_round_trip(tmp_path):
    model = espcn(method="lrt", num_train_examples=10, seed=3)
    images = _smooth_images(1, 8) * 0 + 0.5
    path = os.path.join(tmp_path, "espcn.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    for original, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(original.numpy(), restored.numpy())
    with bz.layers.posterior_mean(model), bz.layers.posterior_mean(loaded):
        np.testing.assert_allclose(model(images), loaded(images), atol=1e-6)


# --- metrics ---


def test_psnr_of_known_images():
    target = np.full([2, 16, 16, 1], 0.5, np.float32)
    # A constant error of 0.1 is an MSE of 0.01: 20 dB.
    np.testing.assert_allclose(sr.psnr(target + 0.1, target), [20.0, 20.0], atol=1e-4)
    assert np.isinf(sr.psnr(target, target)).all()
    # Errors only in the border vanish once the border is shaved.
    corrupted = target.copy()
    corrupted[:, :2] = 0.0
    assert np.isfinite(sr.psnr(corrupted, target)).all()
    assert np.isinf(sr.psnr(corrupted, target, shave=2)).all()


def test_ssim_of_known_images():
    image = _smooth_images(1, 32)
    np.testing.assert_allclose(sr.ssim(image, image), [1.0], atol=1e-6)
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 0.2, image.shape), 0, 1)
    assert float(sr.ssim(noisy, image)[0]) < 0.7
    assert float(sr.ssim(1.0 - image, image)[0]) < 0.0


def test_bad_shave():
    with pytest.raises(ValueError, match="shave"):
        sr.psnr(np.zeros([8, 8, 1]), np.zeros([8, 8, 1]), shave=-1)


# --- data ---


def test_luminance():
    red = np.zeros([2, 2, 3], np.float32)
    red[..., 0] = 1.0
    np.testing.assert_allclose(sr.luminance(red), np.full([2, 2, 1], 0.299), atol=1e-6)
    gray = np.full([3, 3, 1], 0.25, np.float32)
    np.testing.assert_array_equal(sr.luminance(gray), gray)
    with pytest.raises(ValueError, match="channels"):
        sr.luminance(np.zeros([2, 2, 2]))


def test_resizing_and_cropping():
    image = np.full([1, 12, 9, 1], 0.3, np.float32)
    low_res = sr.downscale(image, 3)
    assert low_res.shape == (1, 4, 3, 1)
    np.testing.assert_allclose(low_res, 0.3, atol=1e-5)
    assert sr.bicubic_upscale(low_res, 3).shape == (1, 12, 9, 1)
    assert sr.crop_to_multiple(np.zeros([10, 8, 1]), 3).shape == (9, 6, 1)
    with pytest.raises(ValueError, match="divisible"):
        sr.downscale(np.zeros([1, 10, 9, 1], np.float32), 3)
    with pytest.raises(ValueError, match="upscale_factor"):
        sr.bicubic_upscale(low_res, 0)


def test_training_pairs():
    images = list(_smooth_images(3, 20))
    low_res, high_res = sr.training_pairs(images, 3, 12, 4, seed=5)
    assert low_res.shape == (12, 4, 4, 1) and high_res.shape == (12, 12, 12, 1)
    again, _ = sr.training_pairs(images, 3, 12, 4, seed=5)
    np.testing.assert_array_equal(low_res, again)
    with pytest.raises(ValueError, match="crop_size"):
        sr.training_pairs(images, 3, 10, 4)
    with pytest.raises(ValueError, match="smaller than crop_size"):
        sr.training_pairs(images, 3, 24, 4)


def test_elbo_num_train_examples():
    # P / (2 sigma^2) with P = 1000 pixel values and sigma = 0.05.
    assert sr.elbo_num_train_examples(np.zeros([10, 10, 10, 1]), 0.05) == 200_000
    with pytest.raises(ValueError, match="noise_stddev"):
        sr.elbo_num_train_examples(np.zeros([4]), 0.0)


def test_read_images(tmp_path):
    rgb = (np.arange(4 * 5 * 3).reshape(4, 5, 3) % 256).astype(np.uint8)
    tf.io.write_file(os.path.join(tmp_path, "a.png"), tf.io.encode_png(rgb))
    tf.io.write_file(
        os.path.join(tmp_path, "b.png"), tf.io.encode_png(np.full([3, 3, 1], 255, np.uint8))
    )
    (tmp_path / "notes.txt").write_text("not an image")
    images = sr.read_images(tmp_path)
    assert [image.shape for image in images] == [(4, 5, 3), (3, 3, 1)]
    np.testing.assert_allclose(images[0], rgb / 255.0, atol=1e-6)
    np.testing.assert_array_equal(images[1], 1.0)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images"):
        sr.read_images(empty)
    with pytest.raises(FileNotFoundError):
        sr.read_images(tmp_path / "missing")


def test_bundled_photographs():
    pytest.importorskip("skimage")
    photos = sr.bundled_photographs(("camera",))
    assert photos["camera"].shape == (512, 512, 1)
    assert 0.0 <= photos["camera"].min() < photos["camera"].max() <= 1.0
    with pytest.raises(ValueError, match="no image"):
        sr.bundled_photographs(("no_such_photo",))


# --- Monte Carlo prediction ---


@pytest.mark.parametrize("method", METHODS)
def test_monte_carlo_mean_and_uncertainty_map(method):
    model = espcn(method=method, num_train_examples=10, seed=1)
    images = _smooth_images(2, 8)
    mean, stddev = sr.monte_carlo_super_resolution(model, images, num_samples=6)
    assert mean.shape == stddev.shape == (2, 24, 24, 1)
    assert float(tf.reduce_min(stddev)) >= 0.0
    if method == "frequentist":
        np.testing.assert_array_equal(stddev, 0.0)
        np.testing.assert_allclose(mean, model(images), atol=1e-6)
    else:
        # Every copy is its own posterior draw, so the map is not zero.
        assert float(tf.reduce_mean(stddev)) > 1e-4
        assert all(
            layer.weight_samples == 1
            for layer in bz.layers.stochastic_layers(model)
        )
        with bz.layers.posterior_mean(model):
            _, deterministic = sr.monte_carlo_super_resolution(model, images, 6)
        np.testing.assert_array_equal(deterministic, 0.0)


@pytest.mark.parametrize("method", ["lrt", "bbb", "flipout"])
def test_stacked_copies_are_independent_draws(method):
    # The tiled Monte Carlo must match separate model calls, each its own
    # posterior draw.
    model = espcn(method=method, num_train_examples=10, seed=2)
    images = _smooth_images(1, 6)
    mean, stddev = sr.monte_carlo_super_resolution(model, images, num_samples=64)
    draws = np.stack([model(images).numpy() for _ in range(64)])
    # Two independent 64-sample means differ by about stddev * sqrt(2 / 64),
    # under 0.8 stddev at 4.5 standard errors.
    np.testing.assert_allclose(mean, draws.mean(0), atol=float(tf.reduce_max(stddev)) * 0.8)
    np.testing.assert_allclose(
        float(tf.reduce_mean(stddev)), draws.std(0).mean(), rtol=0.25
    )


@pytest.mark.parametrize("method", ["lrt", "bbb"])
def test_monte_carlo_traces_with_a_symbolic_batch(method):
    model = espcn(method=method, num_train_examples=10, seed=0)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32)])
    def serve(images):
        return sr.monte_carlo_super_resolution(model, images, num_samples=4)

    mean, stddev = serve(tf.constant(_smooth_images(3, 8)))
    assert mean.shape == stddev.shape == (3, 24, 24, 1)
    assert float(tf.reduce_mean(stddev)) > 0


def test_super_resolve_in_several_calls():
    model = espcn(method="lrt", num_train_examples=10, seed=0)
    image = _smooth_images(1, 8)[0]
    mean, stddev = sr.super_resolve(model, image, num_samples=5, samples_per_call=2)
    assert mean.shape == stddev.shape == (24, 24, 1)
    assert 0.0 <= mean.min() and mean.max() <= 1.0 and stddev.min() >= 0.0
    with pytest.raises(ValueError, match="num_samples"):
        sr.super_resolve(model, image, num_samples=0)
    with pytest.raises(ValueError, match="samples_per_call"):
        sr.super_resolve(model, image, samples_per_call=0)


def test_evaluate_scores_by_the_literatures_protocol():
    from bayes_zoo import sr_protocol

    images = list(_smooth_images(2, 48))
    model = espcn(method="frequentist", num_train_examples=10)
    scores = sr.evaluate(model, images, upscale_factor=3, num_samples=2, keep_images=True)
    assert len(scores["per_image"]["psnr"]) == 2
    high_res = np.round(np.repeat(images[1], 3, axis=-1) * 255).astype(np.uint8)
    baseline = sr_protocol.bicubic_baseline(sr_protocol.degrade(high_res, 3), 3)
    expected = sr_protocol.score(baseline, high_res, 3)
    assert scores["per_image"]["bicubic_psnr"][1] == pytest.approx(expected["psnr"])
    assert scores["per_image"]["bicubic_ssim"][1] == pytest.approx(expected["ssim"])
    # The model's PSNR is of its own Y, mapped to studio swing.
    figure = scores["images"][1]
    assert scores["per_image"]["psnr"][1] == pytest.approx(
        sr_protocol.score(figure["mean"], high_res, 3)["psnr"])
    assert figure["low_res"].shape == (16, 16) and figure["mean"].shape == (48, 48)
    # An untrained network is far worse than bicubic upscaling.
    assert scores["bicubic_psnr"] > scores["psnr"] + 5.0
    # A deterministic model has no uncertainty to rank errors with.
    assert scores["uncertainty"] == 0.0 and scores["spearman"] is None and scores["ause"] is None


def test_evaluate_scores_the_uncertainty_of_a_bayesian_model():
    model = espcn(method="lrt", num_train_examples=10, seed=0)
    scores = sr.evaluate(model, list(_smooth_images(2, 48)), upscale_factor=3, num_samples=4)
    assert scores["uncertainty"] > 0.0
    assert -1.0 <= scores["spearman"] <= 1.0 and np.isfinite(scores["ause"])
    curve = scores["sparsification"]
    assert len(curve["removed"]) == len(curve["error"]) == len(curve["oracle"]) == 20
    # The oracle removes the largest errors first: never above the model's curve.
    assert np.all(np.array(curve["oracle"]) <= np.array(curve["error"]) + 1e-9)


# --- zoo cards ---


def _write_photos(folder, count, size, seed):
    folder.mkdir()
    for index, image in enumerate(_smooth_images(count, size, seed)):
        pixels = np.round(np.repeat(image, 3, axis=-1) * 255).astype(np.uint8)
        tf.io.write_file(str(folder / f"{index}.png"), tf.io.encode_png(pixels))


def test_train_card(tmp_path):
    _write_photos(tmp_path / "train", 2, 24, seed=0)
    _write_photos(tmp_path / "test", 1, 36, seed=1)
    card = {
        "task": "super_resolution",
        "architecture": "espcn",
        "method": "lrt",
        "model": {"upscale_factor": 3, "activation": "relu"},
        "posterior": {"kind": "multiplicative_normal", "log_alpha_init": -10.0},
        "data": {
            "train_folders": ["train"],
            "test_folders": ["test"],
            "crop_size": 12,
            "crops_per_image": 2,
        },
        "training": {"epochs": 1, "batch_size": 4, "learning_rate": 0.01},
        "evaluation": {"num_samples": 2},
    }
    output = tmp_path / "run"
    metrics = sr.train_card(card, data_dir=str(tmp_path), output_dir=str(output), verbose=0)
    assert {"loss", "nll", "kl", "test_psnr", "test_bicubic_ssim", "test_uncertainty"} <= set(
        metrics
    )
    assert os.path.isfile(output / "model.keras") and os.path.isfile(output / "history.csv")
    layer = keras.models.load_model(output / "model.keras").get_layer("conv1")
    assert "log_alpha" in layer.kernel_posterior_variables
    with pytest.raises(ValueError, match="task"):
        sr.train_card({**card, "task": "gan"}, data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="data_dir"):
        sr.train_card(card)


# Each card's posterior class: the paper row keeps alpha * mu^2, the recipe row softplus(rho).
SR_CARD_POSTERIORS = {"espcn_lrt_bsds": bz.posteriors.MeanFieldNormal,
                      "espcn_lrt_paper_bsds": bz.posteriors.MultiplicativeNormal,
                      "espcn_frequentist_bsds": None}


@pytest.mark.parametrize("name", sorted(SR_CARD_POSTERIORS))
def test_zoo_cards_build(name):
    with open(os.path.join(MODELS, f"{name}.toml"), "rb") as file:
        card = tomllib.load(file)
    assert card["task"] == "super_resolution" and card["architecture"] == "espcn"
    model = espcn(
        method=card["method"],
        prior=sr.distribution_from_card(card, "prior"),
        posterior=sr.distribution_from_card(card, "posterior"),
        **card["model"],
    )
    assert model(np.zeros([1, 5, 5, 1], np.float32)).shape == (1, 15, 15, 1)
    expected = SR_CARD_POSTERIORS[name]
    assert (card["method"] == "lrt") == (expected is not None)
    if expected is not None:
        assert isinstance(model.get_layer("conv1").posterior, expected)


def test_super_resolution_panels_write_a_png(tmp_path):
    from bayes_zoo import plots

    model = espcn(method="lrt", num_train_examples=10, seed=0)
    scores = sr.evaluate(model, list(_smooth_images(1, 48)), num_samples=2, keep_images=True)
    path = plots.super_resolution_panels(scores["images"][0], str(tmp_path / "sr.png"),
                                         title="smooth test image, x3")
    assert os.path.getsize(path) > 10_000
    with pytest.raises(ValueError, match="lacks"):
        plots.super_resolution_panels({"mean": np.zeros((3, 3))}, str(tmp_path / "x.png"))
