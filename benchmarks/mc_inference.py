"""Speed of Monte Carlo prediction: vectorised against a loop of model calls.

For LeNet-5 and AlexNet (built by `bayes_zoo.architectures`), and each number of
samples T, it times on the same N images:

- `vectorised`: `uncertainty.predict_with_uncertainty` (the batch tiled T times, one
  graph call per batch);
- `loop`: a Python loop of T calls of the model per batch, then the same
  decomposition; `eager loop` calls `model(x)` as it is, `compiled loop`
  calls it through one `tf.function` (the strongest loop: no per-op
  dispatch);
- `frequentist`: one pass of the frequentist twin of the network;
- `1 pass`: one pass of the Bayesian network (the cost of one sample).

The vectorised call and the compiled loop are timed in alternating rounds
(medians). It prints images per second (N / time, every image with its T samples and
uncertainty), the cost of one sample relative to one Bayesian pass, the
speed-ups over both loops, and the peak memory TensorFlow allocates for each
run (beyond what it held before: weights and inputs are not counted).
The weights are untrained: speed does not depend on them.

    python benchmarks/mc_inference.py --num-images 128 --samples 1 10 25 100
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bayes_zoo import architectures  # noqa: E402
from bayes_zoo import uncertainty  # noqa: E402

ARCHITECTURES = {
    "lenet5": (32, 32, 1),
    "alexnet": (32, 32, 3),
}


class PeakMemory:
    """Peak memory TensorFlow allocates on the device inside it, in MiB."""

    def __init__(self):
        self.device = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"
        self.peak_mib = 0.0

    def __enter__(self):
        tf.config.experimental.reset_memory_stats(self.device)
        self._start = tf.config.experimental.get_memory_info(self.device)["current"]
        return self

    def __exit__(self, *exc):
        peak = tf.config.experimental.get_memory_info(self.device)["peak"]
        self.peak_mib = (peak - self._start) / 2**20
        return False


def _best_time(run, repeats):
    """Best wall time of `repeats` runs, after one warm-up run (tracing)."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def _interleaved_medians(first, second, repeats):
    """Median wall times of `first` and `second`, run in alternation.

    Alternating rounds share the machine's slow and fast moments, so the
    ratio of the medians is steadier than that of two separate runs.
    """
    first()
    second()
    times = ([], [])
    for _ in range(repeats):
        for run, runs in zip((first, second), times):
            start = time.perf_counter()
            run()
            runs.append(time.perf_counter() - start)
    return float(np.median(times[0])), float(np.median(times[1]))


def _peak_mib(run):
    with PeakMemory() as memory:
        run()
    return memory.peak_mib


def _measure(run, repeats):
    return _best_time(run, repeats), _peak_mib(run)


def _batches(images, batch_size):
    return [tf.constant(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]


def benchmark(name, method, num_images, batch_size, samples, chunk_size, repeats):
    input_shape = ARCHITECTURES[name]
    build = architectures.get(name)
    model = build(method=method, input_shape=input_shape, num_train_examples=50000, seed=0)
    frequentist = build(method="frequentist", input_shape=input_shape, seed=0)
    images = np.random.default_rng(0).uniform(size=(num_images,) + input_shape).astype("float32")
    batches = _batches(images, batch_size)
    forward = tf.function(lambda x: tf.nn.softmax(model(x, training=False)))
    frequentist_forward = tf.function(lambda x: tf.nn.softmax(frequentist(x, training=False)))

    def single_pass(function):
        return lambda: [function(batch).numpy() for batch in batches]

    frequentist_s, frequentist_mib = _measure(single_pass(frequentist_forward), repeats)
    one_pass_s, one_pass_mib = _measure(single_pass(forward), repeats)
    print(
        f"\n{name} ({method}), {num_images} images {input_shape}, batch {batch_size}, "
        f"chunk {chunk_size}"
    )
    print(
        f"  frequentist single pass: {num_images / frequentist_s:10.0f} img/s, "
        f"peak {frequentist_mib:7.1f} MiB"
    )
    print(
        f"  Bayesian single pass:    {num_images / one_pass_s:10.0f} img/s, "
        f"peak {one_pass_mib:7.1f} MiB"
    )
    header = (
        f"  {'T':>4} | {'vectorised img/s':>16} {'peak MiB':>9} {'sample/pass':>11} | "
        f"{'eager loop img/s':>16} {'speed-up':>8} | "
        f"{'compiled loop img/s':>19} {'peak MiB':>9} {'speed-up':>8}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    rows = []
    for num_samples in samples:

        def vectorised():
            uncertainty.predict_with_uncertainty(
                model, images, num_samples=num_samples, batch_size=batch_size,
                chunk_size=chunk_size,
            )

        def loop(call):
            def run():
                for batch in batches:
                    draws = tf.stack([call(batch) for _ in range(num_samples)])
                    {key: value.numpy() for key, value in uncertainty.decompose(draws).items()}

            return run

        vectorised_s, loop_s = _interleaved_medians(vectorised, loop(forward), repeats)
        vectorised_mib, loop_mib = _peak_mib(vectorised), _peak_mib(loop(forward))
        eager_s = _best_time(loop(lambda x: tf.nn.softmax(model(x, training=False))), repeats)
        # The cost of one sample, in Bayesian single passes.
        per_sample = vectorised_s / num_samples / one_pass_s
        print(
            f"  {num_samples:>4} | {num_images / vectorised_s:>16.1f} {vectorised_mib:>9.1f} "
            f"{per_sample:>11.2f} | "
            f"{num_images / eager_s:>16.1f} {eager_s / vectorised_s:>7.2f}x | "
            f"{num_images / loop_s:>19.1f} {loop_mib:>9.1f} {loop_s / vectorised_s:>7.2f}x",
            flush=True,
        )
        rows.append((num_samples, vectorised_s, eager_s, loop_s, per_sample))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES),
                        choices=list(ARCHITECTURES))
    parser.add_argument("--method", default="lrt", choices=architectures.VARIATIONAL_METHODS
                        + ("mc_dropout",))
    parser.add_argument("--num-images", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--samples", type=int, nargs="+", default=[1, 10, 25, 100])
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="most images (examples x samples) per model call")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = "GPU" if tf.config.list_physical_devices("GPU") else f"CPU ({os.cpu_count()} cores)"
    print(f"TensorFlow {tf.__version__} on {device}")
    for name in args.architectures:
        rows = benchmark(
            name, args.method, args.num_images, args.batch_size, args.samples,
            args.chunk_size, args.repeats,
        )
        for num_samples, vectorised_s, eager_s, loop_s, per_sample in rows:
            if num_samples == 25:
                print(
                    f"  target at T=25: {eager_s / vectorised_s:.2f}x the eager loop, "
                    f"{loop_s / vectorised_s:.2f}x the compiled loop (>= 1.5: "
                    f"{'met' if loop_s >= 1.5 * vectorised_s else 'NOT met'}), "
                    f"{per_sample:.2f} passes per sample"
                )


if __name__ == "__main__":
    main()
