"""Training-step time of bayes-zoo against its peers, side by side in one run.

For LeNet-5 (32x32x1) and AlexNet (32x32x3, the zoo's widths 64-192-384-256-128)
with softplus, batch 256 by default, this times one training step (forward,
backward, Adam update) of:

- bayes-zoo: `frequentist`, `lrt`, `bbb` and `flipout` (`bz.architectures`),
  in the precision asked for (`--precision`; `bfloat16` is Keras'
  `mixed_bfloat16`);
- PyTorch: the same networks, frequentist, and with a local
  reparameterization layer written here from the paper's equations
  (Shridhar et al., section 4.1: `mean = op(x, mu) + b_mu`,
  `var = op(x^2, sigma^2) + b_sigma^2`, `out = mean + sqrt(var) * eps`,
  `sigma = softplus(rho)`, the KL to N(0, 0.1) in closed form, weighted by
  1 / 60,000), in float32;
- tfp.layers on tf-keras (`Convolution2DFlipout` / `DenseFlipout` and the
  `Reparameterization` pair), where tf-keras is installed.

Every variant runs in one process and they take turns, round after round,
so that drift in the machine's load hits them alike; the table gives
medians and ratios to bayes-zoo's float32 frequentist step. torch and
tf-keras come from the `bench` extra (`pip install -e ".[bench]"`); a peer
that is not installed is skipped, and the output says so.

    python benchmarks/peer_speed.py --rounds 7 --steps 5
    python benchmarks/peer_speed.py --arch alexnet --precision bfloat16
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layer_speed  # noqa: E402

import bayes_zoo as bz  # noqa: E402

ARCHITECTURES = ("lenet5", "alexnet")
OURS = ("frequentist", "lrt", "bbb", "flipout")
NUM_CLASSES = 10
NUM_TRAIN_EXAMPLES = 60_000
PRIOR_STDDEV = 0.1


def cpu_model():
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


# --- PyTorch ------------------------------------------------------------------


def torch_networks():
    """{name: builder(arch) -> (model, loss of a batch)} of the PyTorch peers, or None."""
    try:
        import torch
    except ImportError:
        return None
    from torch import nn
    from torch.nn import functional

    class LocalReparameterization(nn.Module):
        """A conv (or dense) layer with a Gaussian posterior and the local reparameterization."""

        def __init__(self, operation, weight_shape, bias_size, **conv_arguments):
            super().__init__()
            self.operation = operation
            self.conv_arguments = conv_arguments
            self.weight_mu = nn.Parameter(torch.randn(weight_shape) * 0.1)
            self.weight_rho = nn.Parameter(torch.randn(weight_shape) * 0.1 - 5.0)
            self.bias_mu = nn.Parameter(torch.randn(bias_size) * 0.1)
            self.bias_rho = nn.Parameter(torch.randn(bias_size) * 0.1 - 5.0)

        def forward(self, inputs):
            weight_sigma = functional.softplus(self.weight_rho)
            bias_sigma = functional.softplus(self.bias_rho)
            mean = self.operation(inputs, self.weight_mu, self.bias_mu, **self.conv_arguments)
            variance = self.operation(inputs * inputs, weight_sigma * weight_sigma,
                                      bias_sigma * bias_sigma, **self.conv_arguments)
            noise = torch.empty_like(mean).normal_()
            return mean + torch.sqrt(variance + 1e-8) * noise

        def kl(self):
            total = 0.0
            for mu, rho in ((self.weight_mu, self.weight_rho), (self.bias_mu, self.bias_rho)):
                sigma = functional.softplus(rho)
                total = total + torch.sum(
                    torch.log(PRIOR_STDDEV / sigma)
                    + (sigma * sigma + mu * mu) / (2 * PRIOR_STDDEV**2) - 0.5
                )
            return total

    def conv(bayesian, in_channels, out_channels, kernel, stride=1, padding=0):
        if not bayesian:
            return nn.Conv2d(in_channels, out_channels, kernel, stride, padding)
        return LocalReparameterization(
            functional.conv2d, (out_channels, in_channels, kernel, kernel), out_channels,
            stride=stride, padding=padding)

    def dense(bayesian, in_features, out_features):
        if not bayesian:
            return nn.Linear(in_features, out_features)
        return LocalReparameterization(functional.linear, (out_features, in_features),
                                       out_features)

    def network(arch, bayesian):
        act = nn.Softplus()
        if arch == "lenet5":
            layers = [conv(bayesian, 1, 6, 5), act, nn.MaxPool2d(2),
                      conv(bayesian, 6, 16, 5), act, nn.MaxPool2d(2), nn.Flatten(),
                      dense(bayesian, 400, 120), act, dense(bayesian, 120, 84), act,
                      dense(bayesian, 84, NUM_CLASSES)]
            shape = (1, 32, 32)
        else:
            layers = [conv(bayesian, 3, 64, 11, 4, 5), act, nn.MaxPool2d(2),
                      conv(bayesian, 64, 192, 5, 1, 2), act, nn.MaxPool2d(2),
                      conv(bayesian, 192, 384, 3, 1, 1), act,
                      conv(bayesian, 384, 256, 3, 1, 1), act,
                      conv(bayesian, 256, 128, 3, 1, 1), act, nn.MaxPool2d(2), nn.Flatten(),
                      dense(bayesian, 128, NUM_CLASSES)]
            shape = (3, 32, 32)
        return nn.Sequential(*layers), shape

    def builder(bayesian):
        def build(arch, batch_size):
            torch.manual_seed(0)
            model, shape = network(arch, bayesian)
            optimizer = torch.optim.Adam(model.parameters(), 1e-3)
            images = torch.rand((batch_size, *shape))
            labels = torch.randint(0, NUM_CLASSES, (batch_size,))

            def step():
                optimizer.zero_grad(set_to_none=True)
                loss = functional.cross_entropy(model(images), labels)
                if bayesian:
                    loss = loss + sum(
                        layer.kl() for layer in model if isinstance(layer, LocalReparameterization)
                    ) / NUM_TRAIN_EXAMPLES
                loss.backward()
                optimizer.step()

            return step

        return build

    return {"torch frequentist": builder(False), "torch lrt": builder(True)}, torch.__version__


# --- tfp.layers on tf-keras ----------------------------------------------------


def tfp_networks():
    """{name: builder(arch)} of tfp.layers peers on tf-keras, or None."""
    try:
        import tf_keras
        import tensorflow as tf
        import tensorflow_probability as tfp
    except ImportError:
        return None

    def network(arch, estimator):
        conv = getattr(tfp.layers, f"Convolution2D{estimator}")
        dense = getattr(tfp.layers, f"Dense{estimator}")
        # The KL per example, as bayes-zoo weighs it.
        divergence = {"kernel_divergence_fn": lambda q, p, _: tfp.distributions.kl_divergence(
            q, p) / NUM_TRAIN_EXAMPLES}
        if arch == "lenet5":
            layers = [conv(6, 5, activation="softplus", **divergence),
                      tf_keras.layers.MaxPooling2D(2),
                      conv(16, 5, activation="softplus", **divergence),
                      tf_keras.layers.MaxPooling2D(2), tf_keras.layers.Flatten(),
                      dense(120, activation="softplus", **divergence),
                      dense(84, activation="softplus", **divergence),
                      dense(NUM_CLASSES, **divergence)]
            shape = (32, 32, 1)
        else:
            layers = [tf_keras.layers.ZeroPadding2D(5),
                      conv(64, 11, strides=4, activation="softplus", **divergence),
                      tf_keras.layers.MaxPooling2D(2), tf_keras.layers.ZeroPadding2D(2),
                      conv(192, 5, activation="softplus", **divergence),
                      tf_keras.layers.MaxPooling2D(2)]
            for width in (384, 256, 128):
                layers += [tf_keras.layers.ZeroPadding2D(1),
                           conv(width, 3, activation="softplus", **divergence)]
            layers += [tf_keras.layers.MaxPooling2D(2), tf_keras.layers.Flatten(),
                       dense(NUM_CLASSES, **divergence)]
            shape = (32, 32, 3)
        return tf_keras.Sequential([tf_keras.Input(shape), *layers]), shape

    def builder(estimator):
        def build(arch, batch_size):
            tf_keras.utils.set_random_seed(0)
            model, shape = network(arch, estimator)
            model.compile(tf_keras.optimizers.Adam(1e-3),
                          tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            rng = np.random.default_rng(0)
            images = tf.constant(rng.random((batch_size, *shape), dtype="float32"))
            labels = tf.constant(rng.integers(0, NUM_CLASSES, batch_size))
            model.train_on_batch(images, labels)

            def step():
                model.train_on_batch(images, labels)

            return step

        return build

    return {"tfp.layers flipout": builder("Flipout"),
            "tfp.layers bbb": builder("Reparameterization")}, tfp.__version__


# --- the run -------------------------------------------------------------------


def variants(arch, batch_size, precision, skipped):
    steps = {f"bayes-zoo {method}": layer_speed.build_step(arch, method, batch_size)
             for method in OURS}
    if precision != "float32":
        for method in OURS:
            steps[f"bayes-zoo {method} {precision}"] = layer_speed.build_step(
                arch, method, batch_size, precision)
    for name, peers in (("PyTorch", torch_networks()), ("tfp.layers on tf-keras",
                                                          tfp_networks())):
        if peers is None:
            skipped.add(f"{name}: not installed (pip install -e \".[bench]\")")
            continue
        builders, version = peers
        for label, build in builders.items():
            steps[f"{label} ({version})"] = build(arch, batch_size)
    return steps


def benchmark(arch, batch_size, rounds, steps_per_round, precision, skipped):
    steps = variants(arch, batch_size, precision, skipped)
    for step in steps.values():
        step()
    times = {name: [] for name in steps}
    for round_index in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(steps_per_round):
                step()
            times[name].append((time.perf_counter() - start) / steps_per_round)
        print(f"  {arch} round {round_index + 1}/{rounds}: " + ", ".join(
            f"{name} {1e3 * values[-1]:.1f} ms" for name, values in times.items()), flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    reference = medians["bayes-zoo frequentist"]
    return [dict(arch=arch, variant=name, step_ms=1e3 * median, ratio=median / reference)
            for name, median in medians.items()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=ARCHITECTURES, action="append")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5, help="steps per timed round")
    parser.add_argument("--precision", default="float32",
                        choices=[name for name in bz.precision.PRECISIONS if name != "auto"],
                        help="also time bayes-zoo in this precision")
    parser.add_argument("--output", help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    flags = sorted(bz.precision.CPU_BF16_FLAGS & bz.precision.cpu_flags()) or ["none"]
    header = (f"{cpu_model()}, {os.cpu_count()} CPUs, bf16 units: {', '.join(flags)}; "
              f"batch {args.batch_size}, median of {args.rounds} interleaved rounds of "
              f"{args.steps} steps; bayes-zoo also in {args.precision}")
    print(header, flush=True)
    skipped, rows = set(), []
    for arch in args.arch or ARCHITECTURES:
        rows += benchmark(arch, args.batch_size, args.rounds, args.steps, args.precision, skipped)
    lines = [header, "", "| architecture | variant | median step (ms) | "
             "ratio to bayes-zoo frequentist float32 |", "|---|---|---|---|"]
    lines += [f"| {row['arch']} | {row['variant']} | {row['step_ms']:.1f} | {row['ratio']:.2f}x |"
              for row in rows]
    lines += [""] + [f"Skipped {entry}" for entry in sorted(skipped)]
    table = "\n".join(lines)
    print(table)
    if args.output:
        with open(args.output, "w") as file:
            file.write(table + "\n")


if __name__ == "__main__":
    main()
