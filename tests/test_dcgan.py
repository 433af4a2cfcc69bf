"""DCGAN with a Bayesian discriminator, on tiny images."""

import os
import tomllib

import keras
import numpy as np
import pytest
import tensorflow as tf

import bayes_zoo as bz
from bayes_zoo import gan as gan_lib
from bayes_zoo.architectures.dcgan import BayesianDCGAN
from bayes_zoo.architectures.dcgan import dcgan
from bayes_zoo.architectures.dcgan import dcgan_discriminator
from bayes_zoo.architectures.dcgan import dcgan_generator
from bayes_zoo.architectures.dcgan import discriminator_uncertainty
from bayes_zoo.super_resolution import distribution_from_card
from bayes_zoo.tasks.gan.training import QUALITY_KEYS

METHODS = ("lrt", "bbb", "flipout", "frequentist")
MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")
TINY = {"image_size": 8, "latent_dim": 4, "ngf": 2, "ndf": 2, "num_train_examples": 16}


def _images(count=8, size=8, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (count, size, size, 3)).astype(np.float32)


def _tiny_gan(method="lrt", **overrides):
    return dcgan(method=method, **{**TINY, "uncertainty_samples": 2, "seed": 0, **overrides})


@pytest.mark.parametrize("image_size, widths", [(8, [2]), (16, [4, 2]), (32, [8, 4, 2])])
def test_generator_follows_table_9(image_size, widths):
    generator = dcgan_generator(latent_dim=4, image_size=image_size, channels=3, ngf=2)
    images = generator(np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32))
    assert images.shape == (3, image_size, image_size, 3)
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    hidden = [layer.filters for layer in generator.layers if layer.name.startswith("deconv")]
    assert hidden == widths + [3]
    assert generator.get_layer("deconv1").strides == (1, 1)


@pytest.mark.parametrize("method", METHODS)
def test_discriminator_follows_table_10(method):
    discriminator = dcgan_discriminator(method=method, image_size=16, ndf=2, num_train_examples=8)
    assert discriminator(_images(3, 16)).shape == (3, 1)
    convolutions = [layer for layer in discriminator.layers if layer.name.startswith("conv")]
    assert [layer.filters for layer in convolutions] == [2, 4, 1]
    variational = [
        layer for layer in convolutions if isinstance(layer, bz.layers.BaseVariational)
    ]
    assert len(variational) == (0 if method == "frequentist" else 3)
    assert [layer.name for layer in discriminator.layers if "bn" in layer.name] == ["bn2"]
    unnormalised = dcgan_discriminator(method=method, image_size=16, ndf=2, batch_norm=False)
    assert not [layer for layer in unnormalised.layers if "bn" in layer.name]


@pytest.mark.parametrize("method", METHODS)
def test_one_training_step(method):
    gan = _tiny_gan(method)
    history = gan_lib.train(gan, _images(4), epochs=1, verbose=0)
    logs = {key: values[0] for key, values in history.history.items()}
    assert set(logs) == {
        "d_loss", "g_loss", "d_kl", "d_real", "d_fake", "d_uncertainty_real",
        "d_uncertainty_fake",
    }
    assert all(np.isfinite(value) for value in logs.values())
    assert 0.0 < logs["d_real"] < 1.0 and 0.0 < logs["d_fake"] < 1.0
    if method == "frequentist":
        assert logs["d_kl"] == 0.0 and logs["d_uncertainty_real"] == 0.0
    else:
        assert logs["d_kl"] > 0.0 and logs["d_uncertainty_real"] > 0.0
        assert logs["d_loss"] > logs["d_kl"]
    assert gan.generate(5).shape == (5, 8, 8, 3)


def test_discriminator_loss_is_cross_entropy_plus_kl():
    gan = _tiny_gan("lrt")
    # Deterministic pieces: a discriminator at its posterior means, a
    # generator whose last kernel is zero (every image is tanh(0) = 0), and
    # a zero learning rate, which keeps the weights where the terms are
    # computed below.
    bz.layers.set_posterior_mean(gan.discriminator, True)
    last = gan.generator.get_layer("deconv2")
    last.kernel.assign(np.zeros(last.kernel.shape, np.float32))
    gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))
    real = _images(4)
    kl = sum(
        float(layer.kl_weight * layer.kl_divergence())
        for layer in bz.layers.stochastic_layers(gan.discriminator)
    )
    real_logits = gan.discriminator(real, training=True).numpy()
    fake_logits = gan.discriminator(np.zeros_like(real), training=True).numpy()
    # Binary cross-entropy from logits: softplus(-l) for real, softplus(l) for fake.
    cross_entropy = np.mean(np.logaddexp(0, -real_logits)) + np.mean(np.logaddexp(0, fake_logits))
    logs = gan.fit(real, batch_size=4, epochs=1, verbose=0).history
    assert kl > 0
    np.testing.assert_allclose(logs["d_kl"][0], kl, rtol=1e-5)
    np.testing.assert_allclose(logs["d_loss"][0], cross_entropy + kl, rtol=1e-5)
    np.testing.assert_allclose(
        logs["g_loss"][0], np.mean(np.logaddexp(0, -fake_logits)), rtol=1e-5
    )


def test_discriminator_uncertainty():
    images = _images(5)
    bayesian = dcgan_discriminator("lrt", image_size=8, ndf=2, num_train_examples=8, seed=0)
    mean, stddev = discriminator_uncertainty(bayesian, images, num_samples=4)
    assert mean.shape == stddev.shape == (5,)
    assert float(tf.reduce_min(stddev)) > 0.0
    assert 0.0 < float(tf.reduce_min(mean)) and float(tf.reduce_max(mean)) < 1.0
    frequentist = dcgan_discriminator("frequentist", image_size=8, ndf=2)
    _, stddev = discriminator_uncertainty(frequentist, images, num_samples=4)
    np.testing.assert_array_equal(stddev, 0.0)
    with pytest.raises(ValueError, match="num_samples"):
        discriminator_uncertainty(bayesian, images, num_samples=1)


def test_keras_round_trip(tmp_path):
    gan = _tiny_gan("lrt")
    gan_lib.train(gan, _images(4), epochs=1, verbose=0)
    path = os.path.join(tmp_path, "gan.keras")
    gan.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, BayesianDCGAN)
    latent = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(gan(latent), loaded(latent))
    for original, restored in zip(gan.discriminator.weights, loaded.discriminator.weights):
        np.testing.assert_array_equal(original.numpy(), restored.numpy())
    assert int(loaded.d_optimizer.iterations) == int(gan.d_optimizer.iterations) == 1
    for original, restored in zip(gan.g_optimizer.variables, loaded.g_optimizer.variables):
        np.testing.assert_array_equal(original.numpy(), restored.numpy())
    loaded.fit(_images(4), batch_size=4, epochs=1, verbose=0)
    assert int(loaded.g_optimizer.iterations) == 2


def test_saved_model_export_serves_generator_and_discriminator_uncertainty(tmp_path):
    import tensorflow as tf

    from bayes_zoo import export

    gan = _tiny_gan("lrt")
    gan_lib.train(gan, _images(4), epochs=1, verbose=0)
    path = export.saved_model(gan, os.path.join(tmp_path, "gan", "1"), num_samples=3)
    served = tf.saved_model.load(path)
    assert set(served.signatures) == {
        "serving_default", "serving_default_seeded", "discriminate", "discriminate_seeded",
        "posterior_mean",
    }
    latent = tf.constant(np.random.default_rng(2).normal(size=(5, 4)), tf.float32)
    generated = served.signatures["serving_default"](latent=latent)
    assert generated["images"].shape == (5, 8, 8, 3)
    np.testing.assert_allclose(generated["images"], gan.generator(latent, training=False), atol=1e-5)
    assert generated["probability_real"].shape == generated["uncertainty"].shape == (5,)
    judged = served.signatures["discriminate"](images=tf.constant(_images(6)))
    assert np.all(np.asarray(judged["uncertainty"]) > 0)  # a Bayesian discriminator
    mean = served.signatures["posterior_mean"](images=tf.constant(_images(6)))["probability_real"]
    from bayes_zoo.layers import posterior_mean

    with posterior_mean(gan.discriminator):
        expected = tf.sigmoid(tf.reshape(gan.discriminator(_images(6), training=False), [-1]))
    np.testing.assert_allclose(mean, expected, atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="images"):
        served.signatures["discriminate"](images=tf.zeros((2, 4, 4, 3)))
    # Each request draws its own noise, unless it gives a seed.
    images = tf.constant(_images(6))
    first, second = (served.signatures["discriminate"](images=images)["probability_real"]
                     for _ in range(2))
    assert not np.array_equal(first, second)
    seed = tf.constant(3, tf.int64)
    first, second = (served.signatures["discriminate_seeded"](images=images, seed=seed)
                     ["probability_real"] for _ in range(2))
    np.testing.assert_array_equal(first, second)
    for signature, argument in (("serving_default", "latent"), ("discriminate", "images"),
                                ("posterior_mean", "images")):
        bad = np.array(latent if argument == "latent" else images)
        bad[1, 0] = np.nan
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=f"Input `{argument}` contains NaN or inf values in"):
            served.signatures[signature](**{argument: tf.constant(bad)})


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: _tiny_gan(image_size=12), "image_size"),
        (lambda: _tiny_gan(image_size=4), "image_size"),
        (lambda: _tiny_gan(method="mc_dropout"), "method"),
        (lambda: _tiny_gan(latent_dim=0), "latent_dim"),
        (lambda: _tiny_gan(ndf=0), "ndf"),
        (lambda: _tiny_gan(ngf=-1), "ngf"),
        (lambda: _tiny_gan(uncertainty_samples=1), "uncertainty_samples"),
        (lambda: _tiny_gan(num_train_examples=0), "num_train_examples"),
    ],
)
def test_bad_arguments(build, name):
    with pytest.raises(ValueError, match=name):
        build()


def test_image_grid():
    images = np.stack([np.full([2, 3, 1], -1.0), np.full([2, 3, 1], 1.0), np.zeros([2, 3, 1])])
    grid = gan_lib.image_grid(images, columns=2)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 4 + 2, 2 * 5 + 2, 1)
    assert grid[2:4, 2:5].max() == 0 and grid[2:4, 7:10].min() == 255
    assert (grid[6:8, 2:5] == 128).all()
    with pytest.raises(ValueError, match="images"):
        gan_lib.image_grid(np.zeros([0, 2, 2, 3]))


def test_sample_grids_and_training_plot(tmp_path):
    gan = _tiny_gan("lrt")
    history = gan_lib.train(
        gan, _images(4), epochs=2, sample_dir=str(tmp_path / "samples"), verbose=0
    )
    assert sorted(os.listdir(tmp_path / "samples")) == [
        "samples_epoch_001.png", "samples_epoch_002.png",
    ]
    grid = tf.io.decode_png(tf.io.read_file(str(tmp_path / "samples" / "samples_epoch_002.png")))
    assert grid.shape == (8 * 10 + 2, 8 * 10 + 2, 3)
    path = gan_lib.plot_training(history, str(tmp_path / "plots" / "training.png"))
    assert tf.io.read_file(path).numpy()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="d_loss"):
        gan_lib.plot_training({"loss": [1.0]}, str(tmp_path / "bad.png"))
    with pytest.raises(ValueError, match="png"):
        gan_lib.plot_training(history, str(tmp_path / "training.jpg"))


def test_training_plot_shows_heldout_uncertainty_without_per_step_monitoring(tmp_path):
    # A card with uncertainty_samples = 0 logs D's uncertainty only through SampleQuality.
    history = {"d_loss": [1.4, 1.2], "g_loss": [0.9, 1.1], "frechet_distance": [9.0, 7.0],
               "kernel_distance": [0.3, 0.2]}
    widths = {}
    for name, extra in (("without", {}), ("with", {"d_uncertainty_heldout_real": [0.01, 0.02],
                                                    "d_uncertainty_generated": [0.03, 0.05]})):
        path = gan_lib.plot_training(history | extra, str(tmp_path / f"{name}.png"))
        widths[name] = tf.io.decode_png(tf.io.read_file(path)).shape[1]
    # 5.5 inches at 120 dots per panel: losses and distances, then an uncertainty panel more.
    assert widths == {"without": 2 * 660, "with": 3 * 660}


def _write_cifar_tree(root, per_class):
    rng = np.random.default_rng(0)
    classes = ("airplane automobile bird cat deer dog frog horse ship truck").split()
    for split in ("train", "test"):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(per_class):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                tf.io.write_file(str(folder / f"{index:04d}.png"), tf.io.encode_png(pixels))


def test_train_card_on_an_image_tree(tmp_path):
    _write_cifar_tree(tmp_path / "cifar10", per_class=1)
    images, count = gan_lib.real_images(
        "cifar10", data_dir=str(tmp_path), image_size=8, batch_size=4
    )
    batch = next(iter(images))
    assert count == 10 and batch.shape == (4, 8, 8, 3)
    assert -1.0 <= float(tf.reduce_min(batch)) < float(tf.reduce_max(batch)) <= 1.0
    test_images, test_count = gan_lib.real_images(
        "cifar10", data_dir=str(tmp_path), image_size=8, batch_size=4, split="test")
    assert test_count == 10 and sum(len(batch) for batch in test_images) == 10
    with pytest.raises(ValueError, match="split"):
        gan_lib.real_images("cifar10", data_dir=str(tmp_path), split="validation")
    card = {
        "task": "gan",
        "architecture": "dcgan",
        "method": "lrt",
        "dataset": "cifar10",
        "model": {"image_size": 8, "latent_dim": 4, "ngf": 2, "ndf": 2,
                  "uncertainty_samples": 2},
        "posterior": {"kind": "mean_field_normal", "rho_mean": -4.0},
        "training": {"epochs": 1, "batch_size": 4, "learning_rate": 1e-4, "beta_1": 0.5},
    }
    output = tmp_path / "run"
    metrics = gan_lib.train_card(
        card, data_dir=str(tmp_path), output_dir=str(output), max_steps_per_epoch=2, verbose=0
    )
    assert metrics["d_kl"] > 0 and np.isfinite(metrics["g_loss"])
    for name in ("model.keras", "history.csv", "training.png", "samples/samples_epoch_001.png"):
        assert os.path.isfile(output / name), name
    with pytest.raises(ValueError, match="task"):
        gan_lib.train_card({**card, "task": "super_resolution"})


@pytest.mark.parametrize("name, posterior", [
    ("dcgan_bayesian_cifar10", bz.posteriors.MultiplicativeNormal),
    ("dcgan_bayesian_softplus_cifar10", bz.posteriors.MeanFieldNormal),
])
def test_zoo_card_builds(name, posterior):
    with open(os.path.join(MODELS, f"{name}.toml"), "rb") as file:
        card = tomllib.load(file)
    assert card["task"] == "gan" and card["architecture"] == "dcgan"
    assert isinstance(distribution_from_card(card, "posterior"), posterior)
    gan = dcgan(
        method=card["method"],
        prior=distribution_from_card(card, "prior"),
        posterior=distribution_from_card(card, "posterior"),
        **card["model"],
    )
    # CIFAR-10's own 32x32 (the card says why not the paper's 64x64): one stage fewer.
    assert gan.generator.output.shape == (None, 32, 32, 3)
    assert gan.discriminator.input.shape == (None, 32, 32, 3)
    assert [layer.filters for layer in gan.discriminator.layers if layer.name.startswith("conv")] == [
        64, 128, 256, 1,
    ]
    assert gan.uncertainty_samples == 0


def test_sample_quality_measures_distance_and_class_coverage():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Flatten()(inputs)
    x = bz.layers.DenseLocalReparameterization(16, activation="relu", seed=0)(x)
    classifier = keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))
    rng = np.random.default_rng(0)
    real = np.tanh(rng.normal(size=(64, 8, 8, 3))).astype(np.float32)
    close = np.tanh(rng.normal(size=(64, 8, 8, 3))).astype(np.float32)
    collapsed = np.repeat(close[:1], 64, axis=0)  # one image: mode collapse
    near = gan_lib.sample_quality(classifier, real, close, kernel_subsets=2,
                                  kernel_subset_size=32)
    far = gan_lib.sample_quality(classifier, real, collapsed, kernel_subsets=2,
                                 kernel_subset_size=32)
    assert far["frechet_distance"] > near["frechet_distance"]
    assert far["kernel_distance"] > near["kernel_distance"]
    assert far["classes_covered"] == 1 and sum(far["class_histogram"]) == 64
    assert len(near["class_histogram"]) == 4
    # The features are the posterior means': measuring twice gives one answer.
    again = gan_lib.sample_quality(classifier, real, close, kernel_subsets=2,
                                   kernel_subset_size=32)
    assert again["frechet_distance"] == pytest.approx(near["frechet_distance"])


def _tiny_classifier(size=8):
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Flatten()(inputs)
    x = bz.layers.DenseLocalReparameterization(16, activation="relu", seed=0)(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))


def test_sample_quality_resizes_to_the_classifier_and_checks_channels():
    rng = np.random.default_rng(0)
    real = np.tanh(rng.normal(size=(32, 8, 8, 3))).astype(np.float32)
    generated = np.tanh(rng.normal(size=(32, 8, 8, 3))).astype(np.float32)
    # 8x8 images for a 4x4 classifier: resized with antialiasing, as a 64x64 DCGAN's
    # samples are for a 32x32 CIFAR-10 classifier.
    classifier = _tiny_classifier(4)
    quality = gan_lib.sample_quality(classifier, real, generated, batch_size=5,
                                     kernel_subsets=2, kernel_subset_size=16)
    assert np.isfinite(quality["frechet_distance"]) and sum(quality["class_histogram"]) == 32
    # Batching changes nothing.
    again = gan_lib.sample_quality(classifier, real, generated, batch_size=32,
                                   kernel_subsets=2, kernel_subset_size=16)
    assert again["kernel_distance"] == pytest.approx(quality["kernel_distance"], rel=1e-4)
    assert again["class_histogram"] == quality["class_histogram"]
    with pytest.raises(ValueError, match="channels"):
        gan_lib.sample_quality(_tiny_classifier(8), real[..., :1], generated)


def test_sample_quality_calls_the_classifier_without_warnings(recwarn):
    rng = np.random.default_rng(0)
    images = np.tanh(rng.normal(size=(16, 4, 4, 3))).astype(np.float32)
    gan_lib.sample_quality(_tiny_classifier(4), images, images, kernel_subsets=2,
                           kernel_subset_size=8)
    assert not [str(warning.message) for warning in recwarn
                if "structure" in str(warning.message)]
    first, second = keras.Input((4, 4, 3)), keras.Input((4, 4, 3))
    two_inputs = keras.Model([first, second], keras.layers.Add()([first, second]))
    with pytest.raises(ValueError, match="one input"):
        gan_lib.sample_quality(two_inputs, images, images)


@pytest.mark.parametrize("method", ["lrt", "frequentist"])
def test_sample_quality_callback_logs_distances_and_heldout_uncertainty(method, tmp_path):
    gan = _tiny_gan(method)
    heldout = _images(6, seed=1)
    quality = gan_lib.SampleQuality(_tiny_classifier(), heldout, num_images=6,
                                    uncertainty_samples=3, batch_size=4, kernel_subsets=2,
                                    kernel_subset_size=6)
    csv_logger = keras.callbacks.CSVLogger(str(tmp_path / "history.csv"))
    history = gan_lib.train(gan, _images(4), epochs=2, callbacks=[quality, csv_logger],
                            verbose=0)
    logs = history.history
    for key in QUALITY_KEYS:
        assert len(logs[key]) == 2, key
    assert all(np.isfinite(logs["frechet_distance"])) and len(logs["kernel_distance"]) == 2
    assert len(quality.class_histograms) == 2 and sum(quality.class_histograms[0]) == 6
    if method == "frequentist":
        assert logs["d_uncertainty_heldout_real"] == [0.0, 0.0]
    else:
        assert min(logs["d_uncertainty_heldout_real"] + logs["d_uncertainty_generated"]) > 0
    # The CSV logger placed after the callback writes what it logged.
    header = (tmp_path / "history.csv").read_text().splitlines()[0].split(",")
    assert {"frechet_distance", "d_uncertainty_generated"} <= set(header)
    path = gan_lib.plot_training(history, str(tmp_path / "training.png"))
    assert tf.io.read_file(path).numpy()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="uncertainty_samples"):
        gan_lib.SampleQuality(_tiny_classifier(), heldout, uncertainty_samples=1)
    with pytest.raises(ValueError, match="real"):
        gan_lib.SampleQuality(_tiny_classifier(), heldout[0])


def test_heldout_uncertainty_batches_and_saving_leaves_out_the_optimizers(tmp_path):
    gan = _tiny_gan("lrt")
    gan_lib.train(gan, _images(4), epochs=1, verbose=0)
    images = _images(7, seed=2)
    whole = gan_lib.heldout_uncertainty(gan.discriminator, images, 4, batch_size=7)
    assert whole > 0
    with pytest.raises(ValueError, match="images"):
        gan_lib.heldout_uncertainty(gan.discriminator, images[0], 4)
    full, light = tmp_path / "full.keras", tmp_path / "light.keras"
    gan.save(str(full))
    gan_lib.save_for_inference(gan, str(light))
    assert os.path.getsize(light) < os.path.getsize(full)
    loaded = keras.models.load_model(str(light))
    latent = np.random.default_rng(0).normal(size=(3, TINY["latent_dim"])).astype(np.float32)
    np.testing.assert_allclose(loaded.generator(latent, training=False),
                               gan.generator(latent, training=False), atol=1e-6)
    assert gan.compiled  # the trained model keeps its optimizers
