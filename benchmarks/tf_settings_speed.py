"""The TensorFlow settings that might close the convolution gap to PyTorch on a CPU.

Times the training step of the frequentist and LRT AlexNet (batch 256) under
settings a user can change without touching the library: oneDNN on or off
(`TF_ENABLE_ONEDNN_OPTS`), the thread pools (inter-op 1 and intra-op = cores,
as PyTorch runs), and XLA (`jit_compile=True` of the compiled train step).
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
        model = bz.architectures.alexnet(method=method, input_shape=(32, 32, 3),
                                         num_classes=10, num_train_examples=60_000)
        model.compile(keras.optimizers.Adam(1e-3),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=setting.get("jit_compile", False))
        rng = np.random.default_rng(0)
        x = tf.constant(rng.random((batch_size, 32, 32, 3), dtype="float32"))
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--output", help="also write the table to this markdown file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_setting(SETTINGS[args.child], args.rounds, args.steps, args.batch_size)
        return
    lines = ["| setting | AlexNet frequentist step (ms) | AlexNet lrt step (ms) |",
             "|---|---|---|"]
    for name, setting in SETTINGS.items():
        print(f"  {name}...", flush=True)
        completed = subprocess.run(
            [sys.executable, __file__, "--child", name, "--rounds", str(args.rounds),
             "--steps", str(args.steps), "--batch-size", str(args.batch_size)],
            capture_output=True, text=True, env={**os.environ, **setting.get("env", {})},
        )
        if completed.returncode != 0:
            lines.append(f"| {name} | failed: {completed.stderr.strip().splitlines()[-1]} | |")
            continue
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        lines.append(f"| {name} | {result['frequentist']:.1f} | {result['lrt']:.1f} |")
        print("  " + lines[-1], flush=True)
    table = "\n".join(lines)
    print(table)
    if args.output:
        with open(args.output, "w") as file:
            file.write(table + "\n")


if __name__ == "__main__":
    main()
