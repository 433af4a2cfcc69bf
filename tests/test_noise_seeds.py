"""The seeding contract of Monte Carlo prediction.

Without a seed every call, process and thread draws its own noise; a seed
(explicit, or `keras.utils.set_random_seed`) reproduces a call; the seeds
saved in a model file never freeze the noise.
"""

import json
import os
import subprocess
import sys
import threading
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import bayes_zoo as bz

IMAGE_SHAPE = (16, 16, 1)
METHODS = ("lrt", "bbb", "flipout", "mc_dropout")


def _model(method, seed=3):
    # Explicit layer seeds, as a trained zoo model's file records them.
    return bz.architectures.lenet5(
        method=method, input_shape=IMAGE_SHAPE, num_classes=3, num_train_examples=50,
        seed=seed,
    )


def _images(count=4):
    return np.random.default_rng(0).uniform(size=(count, *IMAGE_SHAPE)).astype(np.float32)


def _draws(model, seed=None, num_samples=6, **kwargs):
    return bz.predict_with_uncertainty(
        model, _images(), num_samples=num_samples, keep_samples=True, seed=seed, **kwargs
    ).sample_probabilities


@pytest.mark.parametrize("method", METHODS)
def test_explicit_seed_reproduces_and_other_seeds_differ(method):
    model = _model(method)
    np.testing.assert_array_equal(_draws(model, seed=0), _draws(model, seed=0))
    assert not np.array_equal(_draws(model, seed=0), _draws(model, seed=1))
    assert not np.array_equal(_draws(model), _draws(model))
    draws = _draws(model, seed=0)
    assert len({draw.tobytes() for draw in draws}) == len(draws)


def test_global_seed_reproduces_a_run_after_a_fresh_load(tmp_path):
    path = str(tmp_path / "model.keras")
    _model("lrt").save(path)

    def run(global_seed):
        keras.utils.set_random_seed(global_seed)
        return _draws(keras.models.load_model(path))

    np.testing.assert_array_equal(run(0), run(0))
    assert not np.array_equal(run(0), run(1))


@pytest.mark.parametrize("method", ("lrt", "bbb"))
def test_chunked_calls_draw_their_own_noise(method):
    # 20 samples of 4 examples in calls of 3 copies: seven calls of one graph loop.
    model = _model(method)
    draws = _draws(model, seed=5, num_samples=20, chunk_size=12)
    assert draws.shape == (20, 4, 3)
    assert len({draw.tobytes() for draw in draws}) == 20
    np.testing.assert_array_equal(draws, _draws(model, seed=5, num_samples=20, chunk_size=12))


def test_concurrent_calls_draw_independent_noise():
    model = _model("lrt")
    _draws(model)  # traced once, before the threads
    draws, errors = [], []

    def worker():
        try:
            for _ in range(25):
                draws.append(_draws(model, num_samples=2)[0, 0].tobytes())
        except Exception as error:  # reported below; a thread cannot raise into pytest
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(draws) == 200 and len(set(draws)) == 200


def test_call_seed_reproduces_a_plain_model_call():
    model = _model("flipout")
    images = tf.constant(_images())
    with bz.layers.noise.call_seed(7):
        first = model(images)
    with bz.layers.noise.call_seed(7):
        second = model(images)
    with bz.layers.noise.call_seed(8):
        third = model(images)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, third)


def test_reseed_restarts_the_layers_own_streams():
    model = _model("mc_dropout")
    images = tf.constant(_images())
    bz.layers.noise.reseed(model, seed=11)
    first = model(images)
    bz.layers.noise.reseed(model, seed=11)
    np.testing.assert_array_equal(first, model(images))
    bz.layers.noise.reseed(model)
    assert not np.array_equal(first, model(images))
    with pytest.raises(ValueError, match="seed"):
        bz.layers.noise.reseed(model, seed=1.5)


_PROCESS_SCRIPT = r"""
import json, sys
import numpy as np, keras, tensorflow as tf
import bayes_zoo as bz
model_file, export_dir = sys.argv[1:3]
images = np.random.default_rng(0).uniform(size=(2, 16, 16, 1)).astype(np.float32)
def draws(model):
    return bz.predict_with_uncertainty(model, images, num_samples=3,
                                       keep_samples=True).sample_probabilities
result = {"unseeded": draws(keras.models.load_model(model_file)).tobytes().hex()}
served = tf.saved_model.load(export_dir)
result["export"] = served.signatures["serving_default"](
    images=tf.constant(images))["probabilities"].numpy().tobytes().hex()
keras.utils.set_random_seed(0)
result["seeded"] = draws(keras.models.load_model(model_file)).tobytes().hex()
print(json.dumps(result))
"""


def test_two_processes_draw_different_noise_unless_seeded(tmp_path):
    model = _model("lrt")
    model_file = str(tmp_path / "model.keras")
    model.save(model_file)
    export_dir = bz.export.saved_model(model, str(tmp_path / "export" / "1"), num_samples=3)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    processes = [
        subprocess.Popen([sys.executable, "-c", _PROCESS_SCRIPT, model_file, export_dir],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=environment)
        for _ in range(2)
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    first, second = results
    assert first["unseeded"] != second["unseeded"]
    assert first["export"] != second["export"]
    assert first["seeded"] == second["seeded"]


def test_any_number_of_samples_runs_in_bounded_chunks():
    assert bz.uncertainty.default_chunk_size((32, 32, 1)) == 8192
    assert bz.uncertainty.default_chunk_size((32, 32, 3)) == 2730
    assert bz.uncertainty.default_chunk_size((4096, 4096, 3)) == 1
    model = _model("lrt")
    seen = []
    # The last layer sees every tiled copy (the ones before the first draw
    # see the untiled batch).
    last_layer = model.layers[-1]
    original_call = last_layer.call

    def recording_call(inputs, *args, **kwargs):
        seen.append(inputs.shape[0])
        return original_call(inputs, *args, **kwargs)

    last_layer.call = recording_call
    result = bz.predict_with_uncertainty(model, _images(4), num_samples=30_000)
    # Traced calls of at most default_chunk_size((16, 16, 1)) = 32,768 images,
    # not the 120,000 of 30,000 tiled copies of 4 images at once.
    assert seen and max(size for size in seen if size is not None) <= 32_768
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(np.isfinite(result.epistemic))


def test_unscaled_pixels_warn_once():
    model = _model("lrt")
    pixels = (_images() * 255).astype(np.uint8)
    with pytest.warns(UserWarning, match="divide by 255"):
        bz.predict_with_uncertainty(model, pixels, num_samples=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bz.predict_with_uncertainty(model, pixels, num_samples=2)  # once per model
        bz.predict_with_uncertainty(_model("lrt"), _images(), num_samples=2)  # scaled


def test_mc_dropout_takes_numpy_rates():
    layer = bz.layers.MCDropout(np.float32(0.5))
    assert layer.rate == 0.5
    assert bz.layers.MCSpatialDropout2D(np.float64(0.25)).rate == 0.25
    with pytest.raises(ValueError, match="rate"):
        bz.layers.MCDropout(True)
    with pytest.raises(ValueError, match="seed"):
        bz.predict_with_uncertainty(_model("lrt"), _images(), num_samples=2, seed="0")


def test_a_loaded_model_file_does_not_freeze_plain_calls(tmp_path):
    path = str(tmp_path / "model.keras")
    _model("lrt").save(path)
    images = tf.constant(_images())

    def first_call(global_seed=None):
        if global_seed is not None:
            keras.utils.set_random_seed(global_seed)
        return bz.zoo.load_file(path, compile=False)(images).numpy()

    assert not np.array_equal(first_call(), first_call())
    np.testing.assert_array_equal(first_call(0), first_call(0))


def test_numpy_scalars_are_accepted_where_numbers_are(tmp_path):
    model = bz.architectures.lenet5(
        method="mc_dropout", input_shape=IMAGE_SHAPE, num_classes=np.int64(3),
        num_train_examples=np.int32(50), dropout_rate=np.float32(0.25),
    )
    inputs = keras.Input(IMAGE_SHAPE)
    outputs = bz.layers.DenseLocalReparameterization(np.int64(2))(
        keras.layers.Flatten()(bz.layers.Conv2DFlipout(np.int32(3), 3)(inputs))
    )
    for built in (model, keras.Model(inputs, outputs)):
        path = str(tmp_path / f"{built.name}.keras")
        built.save(path)
        keras.models.load_model(path)
    bz.predict_with_uncertainty(model, _images(), num_samples=np.int64(2), seed=np.int64(1))
    bz.export.saved_model(model, str(tmp_path / "export" / "1"), num_samples=np.int64(2))


def test_normal_noise_has_standard_normal_moments_and_follows_its_seed():
    generator = keras.random.SeedGenerator(0)
    with bz.layers.noise.call_seed(1):
        draws = bz.layers.noise.normal((1001, 999), "float32", generator).numpy().astype(float)
    with bz.layers.noise.call_seed(1):
        again = bz.layers.noise.normal((1001, 999), "float32", generator).numpy()
    np.testing.assert_array_equal(draws, again)
    assert draws.shape == (1001, 999)
    count = draws.size  # odd: the last pair is cut
    assert abs(draws.mean()) < 5 / np.sqrt(count)
    assert abs(draws.var() - 1) < 5 * np.sqrt(2 / count)
    assert abs(np.mean(draws**3)) < 5 * np.sqrt(15 / count)
    assert abs(np.mean(draws**4) - 3) < 5 * np.sqrt(96 / count)
    # Normal quantiles, and the cut tails of 16-bit uniforms.
    np.testing.assert_allclose(np.quantile(draws, [0.025, 0.5, 0.975]), [-1.96, 0, 1.96],
                               atol=0.01)
    assert 4.0 < np.abs(draws).max() <= 4.86
    # The cosine and sine halves of each pair (the first and second half of
    # the flat draws) are uncorrelated, their squares too.
    flat, half = draws.reshape(-1), (count + 1) // 2
    cosines, sines = flat[: count - half], flat[half:]
    assert abs(np.corrcoef(cosines, sines)[0, 1]) < 0.01
    assert abs(np.corrcoef(cosines**2, sines**2)[0, 1]) < 0.01
    with bz.layers.noise.call_seed(2):
        other = bz.layers.noise.normal((1001, 999), "bfloat16", generator)
    assert other.dtype == tf.bfloat16 and not np.array_equal(np.asarray(other, float), draws)
