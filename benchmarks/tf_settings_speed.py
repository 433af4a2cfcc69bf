"""The TensorFlow settings that might close the convolution gap to PyTorch on a CPU.

Times the training step of the frequentist and LRT AlexNet (batch 256) under
settings a user can change without touching the library: oneDNN on or off
(`TF_ENABLE_ONEDNN_OPTS`), the thread pools (inter-op 1 and intra-op = cores,
as PyTorch runs), XLA (`jit_compile=True` of the compiled train step), the
channels-first data format (the same AlexNet built by hand with
`data_format="channels_first"`), and ReLU instead of softplus (TensorFlow's
remapper fuses convolution, bias and ReLU into one oneDNN kernel; softplus
it does not fuse). A second table times one convolution layer's forward and
backward pass (AlexNet's conv2 at batch 256) with and without XLA, which is
what XLA on single layers would change.
Each setting runs in a fresh process (thread pools and oneDNN are fixed when
TensorFlow starts), so the numbers of different settings come from different
processes, one after another: compare them with the repetition of the
default that the run makes last.

    python benchmarks/tf_settings_speed.py --rounds 5 --steps 5
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SETTINGS = {
    "default": {},
    "oneDNN off": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}},
    "inter-op 1 thread": {"inter_op": 1},
    "XLA train step (jit_compile)": {"jit_compile": True},
    "channels-first data format": {"channels_first": True},
    "ReLU (bias and activation fused)": {"activation": "relu"},
    "default, again": {},
}
METHODS = ("frequentist", "lrt")


def run_setting(setting, rounds, steps, batch_size):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    if setting.get("inter_op"):
        tf.config.threading.set_inter_op_parallelism_threads(setting["inter_op"])
    import keras
    import numpy as np

    import bayes_zoo as bz

    functions = {}
    for method in METHODS:
        keras.utils.set_random_seed(0)
        if setting.get("channels_first"):
            model = _alexnet_channels_first(method)
            image_shape = (3, 32, 32)
        else:
            model = bz.architectures.alexnet(
                method=method, input_shape=(32, 32, 3), num_classes=10,
                num_train_examples=60_000, activation=setting.get("activation", "softplus"),
            )
            image_shape = (32, 32, 3)
        model.compile(keras.optimizers.Adam(1e-3),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=setting.get("jit_compile", False))
        rng = np.random.default_rng(0)
        x = tf.constant(rng.random((batch_size,) + image_shape, dtype="float32"))
        y = tf.constant(rng.integers(0, 10, batch_size))
        model.train_on_batch(x, y)
        functions[method] = (model, x, y)
    times = {method: [] for method in METHODS}
    for _ in range(rounds):
        for method, (model, x, y) in functions.items():
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(x, y)
            times[method].append((time.perf_counter() - start) / steps)
    print(json.dumps({method: 1e3 * statistics.median(values) for method, values in times.items()}))


def _alexnet_channels_first(method):
    """The zoo's AlexNet (softplus, 10 classes) with every layer channels-first."""
    import keras

    import bayes_zoo as bz

    def conv(filters, size, strides=1):
        if method == "frequentist":
            return keras.layers.Conv2D(filters, size, strides, activation="softplus",
                                       data_format="channels_first")
        return bz.layers.Conv2DLocalReparameterization(
            filters, size, strides, activation="softplus", data_format="channels_first")

    def pad(size):
        return keras.layers.ZeroPadding2D(size, data_format="channels_first")

    def pool():
        return keras.layers.MaxPooling2D(2, data_format="channels_first")

    dense = (keras.layers.Dense(10) if method == "frequentist"
             else bz.layers.DenseLocalReparameterization(10))
    layers = [pad(5), conv(64, 11, 4), pool(), pad(2), conv(192, 5), pool(),
              pad(1), conv(384, 3), pad(1), conv(256, 3), pad(1), conv(128, 3), pool(),
              keras.layers.Flatten(), dense]
    inputs = keras.Input((3, 32, 32))
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def run_layer_xla(rounds, steps, batch_size):
    """One AlexNet conv2 layer's forward + backward pass, with and without XLA."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    import bayes_zoo as bz

    keras.utils.set_random_seed(0)
    x = tf.constant(np.random.default_rng(0).random((batch_size, 8, 8, 64), dtype="float32"))
    layers = {
        "frequentist": keras.layers.Conv2D(192, 5, activation="softplus"),
        "lrt": bz.layers.Conv2DLocalReparameterization(192, 5, activation="softplus"),
    }
    results = {}
    for jit in (False, True):
        for method, layer in layers.items():

            def step(inputs, layer=layer):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(layer(inputs))
                return tape.gradient(loss, layer.trainable_variables)

            function = tf.function(step, jit_compile=jit)
            function(x)
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                for _ in range(steps):
                    [gradient.numpy() for gradient in function(x)]
                times.append((time.perf_counter() - start) / steps)
            results[f"{method} {'XLA' if jit else 'no XLA'}"] = 1e3 * statistics.median(times)
    print(json.dumps(results))


def _child(name, args, env=None):
    completed = subprocess.run(
        [sys.executable, __file__, "--child", name, "--rounds", str(args.rounds),
         "--steps", str(args.steps), "--batch-size", str(args.batch_size)],
        capture_output=True, text=True, env={**os.environ, **(env or {})},
    )
    if completed.returncode != 0:
        return None, completed.stderr.strip().splitlines()[-1]
    return json.loads(completed.stdout.strip().splitlines()[-1]), None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--output", help="also write the table to this markdown file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "layer XLA":
        run_layer_xla(args.rounds, args.steps, args.batch_size)
        return
    if args.child:
        run_setting(SETTINGS[args.child], args.rounds, args.steps, args.batch_size)
        return
    lines = ["| setting | AlexNet frequentist step (ms) | AlexNet lrt step (ms) |",
             "|---|---|---|"]
    for name, setting in SETTINGS.items():
        print(f"  {name}...", flush=True)
        result, error = _child(name, args, setting.get("env"))
        if error:
            lines.append(f"| {name} | failed: {error} | |")
            continue
        lines.append(f"| {name} | {result['frequentist']:.1f} | {result['lrt']:.1f} |")
        print("  " + lines[-1], flush=True)
    print("  one convolution layer with and without XLA...", flush=True)
    result, error = _child("layer XLA", args)
    lines += ["", f"AlexNet's conv2 alone (5x5, 64 -> 192 channels, 8x8 inputs, batch "
              f"{args.batch_size}), forward + backward:", "",
              "| layer | no XLA (ms) | XLA (ms) |", "|---|---|---|"]
    if error:
        lines.append(f"| conv2 | failed: {error} | |")
    else:
        for method in METHODS:
            lines.append(f"| {method} | {result[method + ' no XLA']:.1f} | "
                         f"{result[method + ' XLA']:.1f} |")
    table = "\n".join(lines)
    print(table)
    if args.output:
        with open(args.output, "w") as file:
            file.write(table + "\n")


if __name__ == "__main__":
    main()
