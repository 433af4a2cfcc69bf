"""Speed of the candidate generators of the local reparameterization's noise.

The LRT draws one Normal per output activation of every layer, on every
step: 1.2 million for LeNet-5's first layer at batch 256. This times, in
compiled functions, the candidates for those normals and for flipout's
signs, with their first four moments (a generator that is fast but not
N(0, 1) is no candidate):

- `stateless_normal`: `tf.random.stateless_normal` (Philox), float32 and bfloat16;
- `box_muller`: Box-Muller from two float32 uniforms per pair;
- `bits16` (what `bayes_zoo.layers.noise.normal` does): Box-Muller from
  two 16-bit uniforms cut from one 32-bit draw;
- `generator`: a stateful `tf.random.Generator` (it cannot take a per-call
  seed, which the seeding contract needs: listed for its speed only);
- `xla`: `stateless_normal` under `jit_compile=True`;
- the signs: `stateless_uniform` integers in {0, 1} mapped to +-1.

    python benchmarks/noise_speed.py --rounds 9 --output benchmarks/results/noise_speed.md
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bayes_zoo import precision  # noqa: E402
from bayes_zoo.layers import noise  # noqa: E402

SHAPE = (256, 28, 28, 6)  # LeNet-5's first layer at batch 256


def _box_muller(shape, seed):
    size = int(np.prod(shape))
    uniforms = tf.random.stateless_uniform([2, (size + 1) // 2], seed=seed, minval=1e-7)
    radius = tf.sqrt(-2.0 * tf.math.log(uniforms[0]))
    angle = 2.0 * np.pi * uniforms[1]
    pairs = tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], axis=0)
    return tf.reshape(pairs[:size], shape)


def candidates(shape):
    seed = tf.constant([1, 2], tf.int32)
    seed_generator = keras.random.SeedGenerator(0)
    generator = tf.random.Generator.from_seed(1)

    def library_normal():
        with noise.call_seed(seed):
            return noise.normal(shape, "float32", seed_generator)

    return {
        "stateless_normal float32": lambda: tf.random.stateless_normal(shape, seed=seed),
        "stateless_normal bfloat16": lambda: tf.random.stateless_normal(
            shape, seed=seed, dtype=tf.bfloat16),
        "box_muller float32": lambda: _box_muller(shape, seed),
        "bits16 (bayes_zoo.layers.noise.normal)": library_normal,
        "generator (stateful)": lambda: generator.normal(shape),
        "signs (flipout)": lambda: tf.cast(2 * tf.random.stateless_uniform(
            shape, seed=seed, minval=0, maxval=2, dtype=tf.int32) - 1, tf.float32),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=10, help="calls per timed round")
    parser.add_argument("--xla", action="store_true",
                        help="also time stateless_normal under jit_compile (slow on CPU)")
    parser.add_argument("--output", help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    functions = {name: tf.function(f) for name, f in candidates(SHAPE).items()}
    if args.xla:
        seed = tf.constant([1, 2], tf.int32)
        functions["stateless_normal float32, XLA"] = tf.function(
            lambda: tf.random.stateless_normal(SHAPE, seed=seed), jit_compile=True)
    for function in functions.values():
        function()
    flags = sorted(precision.CPU_BF16_FLAGS & precision.cpu_flags()) or ["none"]
    print(f"{os.cpu_count()} CPUs, bf16 units: {', '.join(flags)}; TensorFlow "
          f"{tf.__version__}; {int(np.prod(SHAPE)):,} draws of shape {SHAPE}", flush=True)
    times = {name: [] for name in functions}
    for round_index in range(args.rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            for _ in range(args.calls):
                function()
            times[name].append((time.perf_counter() - start) / args.calls)
        print(f"  round {round_index + 1}/{args.rounds}", flush=True)
    reference = statistics.median(times["stateless_normal float32"])
    lines = ["| generator | median (ms) | vs stateless_normal | mean | variance | "
             "skewness | kurtosis | max abs |", "|---|---|---|---|---|---|---|---|"]
    for name, function in functions.items():
        draws = np.asarray(function(), np.float64).reshape(-1)
        median = statistics.median(times[name])
        centred = draws - draws.mean()
        variance = centred.var()
        lines.append(
            f"| {name} | {1e3 * median:.2f} | {reference / median:.2f}x | {draws.mean():+.4f} | "
            f"{variance:.4f} | {np.mean(centred**3) / variance**1.5:+.4f} | "
            f"{np.mean(centred**4) / variance**2:.3f} | {np.abs(draws).max():.2f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.output:
        with open(args.output, "w") as file:
            file.write(table + "\n")


if __name__ == "__main__":
    main()
