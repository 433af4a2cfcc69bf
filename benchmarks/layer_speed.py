"""Training-step time of the Bayesian estimators against the frequentist model.

For the paper's LeNet-5 (MNIST, 32x32x1) and AlexNet (CIFAR-10, 32x32x3) with
softplus, this measures the median time of one `fit` training step of the
frequentist model and of its LocalReparameterization ("lrt"),
Reparameterization ("bbb") and Flipout versions, side by side in one run:
the variants take turns, round after round, so that drift in the machine's
load hits them alike. Peak memory is the high-water mark of the resident set
(`VmHWM` of /proc/self/status) of a fresh child process that builds one
variant and runs the same steps. (`ru_maxrss` would not do: Linux carries it
across `exec`, so every child reported the parent's peak.)

    python benchmarks/layer_speed.py                # both architectures, float32
    python benchmarks/layer_speed.py --arch lenet5 --rounds 5 --steps 10
    python benchmarks/layer_speed.py --precision bfloat16   # Keras' mixed_bfloat16

The paper reports about 2x the frequentist time per sample; the target here
is LocalReparameterization <= 1.8x on LeNet-5.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import bayes_zoo as bz  # noqa: E402
from bayes_zoo import architectures  # noqa: E402

ARCHITECTURES = {
    "lenet5": dict(builder="lenet5", input_shape=(32, 32, 1), num_classes=10),
    "alexnet": dict(builder="alexnet", input_shape=(32, 32, 3), num_classes=10),
}
METHODS = ("frequentist", "lrt", "bbb", "flipout")


def build_step(arch, method, batch_size, precision="float32", seed=0):
    """Returns a function that runs one compiled training step of `method`."""
    spec = ARCHITECTURES[arch]
    keras.utils.set_random_seed(seed)
    with bz.precision.policy_scope(precision):
        model = architectures.get(spec["builder"])(
            method=method,
            input_shape=spec["input_shape"],
            num_classes=spec["num_classes"],
            num_train_examples=60_000,
            activation="softplus",
        )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.random((batch_size,) + spec["input_shape"], dtype="float32"))
    y = tf.constant(rng.integers(0, spec["num_classes"], batch_size).astype("int32"))
    model.train_on_batch(x, y)  # trace and warm up

    def step():
        model.train_on_batch(x, y)

    return step


def peak_memory_mib(arch, method, batch_size, steps, precision):
    """Peak RSS of a fresh process that builds `method` and runs `steps` steps."""
    command = [
        sys.executable,
        __file__,
        "--child",
        f"{arch}:{method}",
        "--batch-size",
        str(batch_size),
        "--steps",
        str(steps),
        "--precision",
        precision,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])["peak_rss_mib"]


def _rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_child(arch_method, batch_size, steps, precision):
    arch, method = arch_method.split(":")
    step = build_step(arch, method, batch_size, precision)
    for _ in range(steps):
        step()
    print(json.dumps({"peak_rss_mib": _rss_mib()}))


def benchmark(arch, batch_size, rounds, steps, precision):
    steps_of = {method: build_step(arch, method, batch_size, precision) for method in METHODS}
    times = {method: [] for method in METHODS}
    for round_index in range(rounds):
        for method in METHODS:
            start = time.perf_counter()
            for _ in range(steps):
                steps_of[method]()
            times[method].append((time.perf_counter() - start) / steps)
        print(
            f"  {arch} round {round_index + 1}/{rounds}: "
            + ", ".join(f"{m} {1e3 * times[m][-1]:.1f} ms" for m in METHODS),
            flush=True,
        )
    medians = {method: statistics.median(values) for method, values in times.items()}
    rows = []
    for method in METHODS:
        memory = peak_memory_mib(arch, method, batch_size, steps, precision)
        rows.append(
            dict(
                arch=arch,
                method=method,
                step_ms=1e3 * medians[method],
                ratio=medians[method] / medians["frequentist"],
                peak_rss_mib=memory,
            )
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), action="append")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    parser.add_argument("--precision", default="float32",
                        choices=[name for name in bz.precision.PRECISIONS if name != "auto"])
    parser.add_argument("--output", help="also write the table to this markdown file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child, args.batch_size, args.steps, args.precision)
        return
    arches = args.arch or list(ARCHITECTURES)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, bayes_zoo {bz.__version__}; "
        f"batch {args.batch_size}, median of {args.rounds} rounds of {args.steps} steps; "
        f"precision {bz.precision.describe(args.precision)}",
        flush=True,
    )
    rows = []
    for arch in arches:
        rows += benchmark(arch, args.batch_size, args.rounds, args.steps, args.precision)
    lines = [
        "| architecture | method | median step (ms) | ratio to frequentist | peak RSS (MiB) |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['arch']} | {row['method']} | {row['step_ms']:.1f} | "
            f"{row['ratio']:.2f}x | {row['peak_rss_mib']:.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.output:
        with open(args.output, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
