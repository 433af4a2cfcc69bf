"""A small load test of one loaded export: threads, batches of 1 to 32, fresh draws.

What a TensorFlow Serving replica does under load, in seconds: 8 threads
call one `tf.saved_model.load`ed export 25 times each, with batches of 1 to
32 images. Every answer must be finite, its probabilities must sum to one,
and no two requests may share their Monte Carlo noise.
"""

import threading

import numpy as np
import pytest
import tensorflow as tf

import bayes_zoo as bz

IMAGE_SHAPE = (16, 16, 1)
NUM_CLASSES = 4
THREADS, CALLS_PER_THREAD = 8, 25


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    model = bz.architectures.lenet5(
        method="lrt", input_shape=IMAGE_SHAPE, num_classes=NUM_CLASSES,
        num_train_examples=100, seed=0,
    )
    path = bz.export.saved_model(
        model, str(tmp_path_factory.mktemp("load") / "1"), num_samples=3
    )
    return tf.saved_model.load(path)


def test_concurrent_requests_of_any_batch_size_are_finite_and_independent(served):
    signature = served.signatures["predict_with_uncertainty"]
    images = np.random.default_rng(0).uniform(size=(32, *IMAGE_SHAPE)).astype(np.float32)
    signature(images=tf.constant(images[:1]), num_samples=tf.constant(2))  # warm up
    # The first image leads every batch: its draws identify a request's noise.
    first_draws, failures = [], []
    lock = threading.Lock()

    def client(index):
        rng = np.random.default_rng(index)
        for _ in range(CALLS_PER_THREAD):
            batch = int(rng.integers(1, 33))
            try:
                result = signature(images=tf.constant(images[:batch]),
                                   num_samples=tf.constant(2))
                samples = result["sample_probabilities"].numpy()
                probabilities = result["probabilities"].numpy()
                problems = []
                if samples.shape != (2, batch, NUM_CLASSES):
                    problems.append(f"shape {samples.shape} for batch {batch}")
                if not all(np.all(np.isfinite(value.numpy())) for value in result.values()
                           if value.dtype.is_floating):
                    problems.append("non-finite output")
                if not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5):
                    problems.append("probabilities do not sum to one")
            except Exception as error:  # a thread cannot raise into pytest
                problems = [f"{type(error).__name__}: {error}"]
            with lock:
                failures.extend(problems)
                if not problems:
                    first_draws.append(samples[:, 0].tobytes())

    threads = [threading.Thread(target=client, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(first_draws) == THREADS * CALLS_PER_THREAD
    assert len(set(first_draws)) == len(first_draws)
