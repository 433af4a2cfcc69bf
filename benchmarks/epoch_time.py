"""Seconds and memory of one MNIST epoch of LeNet-5, per method and number of weight samples.

Trains `bz.architectures.lenet5` on MNIST padded to 32x32 (batch 256, Adam
1e-3, as in the paper's appendix) for one epoch, or for `--max-steps` steps,
with each method (frequentist, lrt, flipout, mc_dropout) and each number of
weight samples per step K (1 and 10), and prints a table side by side.

Each configuration runs in a fresh Python process, so that its peak memory is
its own: memory is the peak resident set size (`resource.getrusage`
`ru_maxrss`) of that process, and its growth during training (peak after
training minus peak before the first step). `tracemalloc` would only see
Python's allocations, not TensorFlow's.

Timing: the first step (which traces the graph) is reported apart; the epoch
time is measured when the whole epoch runs, and otherwise extrapolated as
`first step + (steps per epoch - 1) x mean later step`, and marked so.

Usage:

    python benchmarks/epoch_time.py                    # full epoch, all 8 configurations
    python benchmarks/epoch_time.py --max-steps 50     # quick, extrapolated
    python benchmarks/epoch_time.py --data-dir ~/data  # a folder holding mnist.npz
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_DATA_DIR = Path("/work/shared/data")
METHODS = ("frequentist", "lrt", "flipout", "mc_dropout")
SAMPLES = (1, 10)
BATCH_SIZE = 256


def _peak_rss_mib():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_mnist(data_dir):
    """Returns MNIST train images padded to 32x32x1 in [0, 1], and labels."""
    import numpy as np

    path = Path(data_dir) / "mnist.npz"
    if not path.is_file():
        raise SystemExit(
            f"error: {path} not found; pass --data-dir with a folder holding mnist.npz"
        )
    with np.load(path, allow_pickle=False) as data:
        images, labels = data["x_train"], data["y_train"]
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None].astype("float32") / 255.0
    return images, labels.astype("int32")


def run_configuration(method, samples, data_dir, max_steps, seed):
    """Trains one configuration in this process; returns its measurements."""
    import keras
    import tensorflow as tf

    from bayes_zoo import architectures

    images, labels = load_mnist(data_dir)
    steps_per_epoch = -(-len(images) // BATCH_SIZE)
    steps = steps_per_epoch if max_steps is None else min(max_steps, steps_per_epoch)
    dataset = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .batch(BATCH_SIZE)
        .take(steps)
        .prefetch(tf.data.AUTOTUNE)
    )
    keras.utils.set_random_seed(seed)
    model = architectures.lenet5(
        method=method, num_train_examples=len(images), train_samples=samples, seed=seed
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )

    class StepTimes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends = []
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    step_times = StepTimes()
    rss_before = _peak_rss_mib()
    history = model.fit(dataset, epochs=1, callbacks=[step_times], verbose=2)
    rss_after = _peak_rss_mib()

    ends = step_times.ends
    first_step = ends[0] - step_times.start
    later = [b - a for a, b in zip(ends, ends[1:])]
    measured = ends[-1] - step_times.start
    mean_later = sum(later) / len(later) if later else float("nan")
    if steps == steps_per_epoch:
        epoch = measured
    else:
        epoch = first_step + (steps_per_epoch - 1) * mean_later
    return {
        "method": method,
        "samples": samples,
        "steps": steps,
        "steps_per_epoch": steps_per_epoch,
        "first_step_s": first_step,
        "mean_step_s": mean_later,
        "measured_s": measured,
        "epoch_s": epoch,
        "extrapolated": steps != steps_per_epoch,
        "peak_rss_mib": rss_after,
        "training_rss_growth_mib": rss_after - rss_before,
        "loss": history.history["loss"][-1],
        "accuracy": history.history["accuracy"][-1],
    }


def _run_worker(method, samples, args):
    """Runs one configuration in a fresh process and returns its measurements."""
    command = [
        sys.executable,
        __file__,
        "--worker",
        f"{method}:{samples}",
        "--data-dir",
        str(args.data_dir),
        "--seed",
        str(args.seed),
    ]
    if args.max_steps is not None:
        command += ["--max-steps", str(args.max_steps)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run(command, capture_output=True, text=True, env=env)
    if completed.returncode != 0:
        raise SystemExit(
            f"error: {method} K={samples} failed:\n{completed.stderr[-3000:]}"
        )
    result_line = completed.stdout.strip().splitlines()[-1]
    return json.loads(result_line)


def format_table(results):
    """Returns the measurements as a markdown table."""
    baseline = next(
        r["epoch_s"] for r in results if r["method"] == "frequentist" and r["samples"] == 1
    )
    header = (
        "| method | K | steps run | first step (s) | mean later step (s) | epoch (s) "
        "| ratio to frequentist K=1 | peak RSS (MiB) | RSS growth in training (MiB) "
        "| loss | accuracy |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in results:
        epoch = f"{r['epoch_s']:.1f}" + (" (extrapolated)" if r["extrapolated"] else "")
        rows.append(
            f"| {r['method']} | {r['samples']} | {r['steps']}/{r['steps_per_epoch']} "
            f"| {r['first_step_s']:.2f} | {r['mean_step_s']:.4f} | {epoch} "
            f"| {r['epoch_s'] / baseline:.2f} | {r['peak_rss_mib']:.0f} "
            f"| {r['training_rss_growth_mib']:.0f} | {r['loss']:.3f} | {r['accuracy']:.3f} |"
        )
    return header + "\n".join(rows) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"folder holding mnist.npz (default: {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="train this many steps per configuration and extrapolate the epoch",
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--samples", nargs="+", type=int, default=list(SAMPLES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("runs/epoch_time.md"),
        help="markdown file for the table (default: runs/epoch_time.md)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.max_steps is not None and args.max_steps < 2:
        parser.error(
            f"--max-steps must be at least 2 (one traced, one timed); got {args.max_steps}"
        )
    if any(k < 1 for k in args.samples):
        parser.error(f"--samples must be positive integers; got {args.samples}")
    if "frequentist" in args.methods and 1 not in args.samples:
        parser.error("the ratio column needs frequentist with K=1: add 1 to --samples")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        method, samples = args.worker.split(":")
        result = run_configuration(method, int(samples), args.data_dir, args.max_steps, args.seed)
        print(json.dumps(result))
        return
    methods = ["frequentist"] + [m for m in args.methods if m != "frequentist"]
    configurations = [(m, k) for m in methods for k in args.samples]
    print(
        f"LeNet-5 on MNIST 32x32, batch {BATCH_SIZE}, "
        + ("one full epoch" if args.max_steps is None else f"{args.max_steps} steps")
        + f" per configuration; {len(configurations)} configurations, each in its own process",
        flush=True,
    )
    results = []
    for index, (method, samples) in enumerate(configurations, 1):
        print(f"[{index}/{len(configurations)}] {method} K={samples} ...", end=" ", flush=True)
        started = time.perf_counter()
        result = _run_worker(method, samples, args)
        results.append(result)
        print(
            f"epoch {result['epoch_s']:.1f} s"
            + (" (extrapolated)" if result["extrapolated"] else "")
            + f", wall {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    table = format_table(results)
    print()
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    note = (
        f"LeNet-5, MNIST padded to 32x32, batch {BATCH_SIZE}, Adam 1e-3, CPU "
        f"({os.cpu_count()} cores visible). Memory: peak resident set size "
        "(getrusage ru_maxrss) of each configuration's own process, and its growth "
        "from before the first step to the end of training.\n\n"
    )
    args.output.write_text(note + table)
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
