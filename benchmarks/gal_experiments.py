"""Gal & Ghahramani's further MNIST experiments, run by `benchmarks/reproduce.py --rows NAME`.

- `gal_mc_samples`: test error against the number T of averaged stochastic
  forward passes (MC dropout), T = 1 .. 100, for the trained zoo models
  `gal_lenet_all_mcdropout_mnist` and `gal_lenet_ip_mcdropout_mnist` on the
  full MNIST test set, repeated with fresh dropout masks (mean and standard
  deviation over the repetitions), against standard dropout (weight
  averaging: one deterministic pass with dropout off,
  `bz.layers.posterior_mean`). Gal & Ghahramani's convergence figure is
  Augmented-DSN on CIFAR-10, which the zoo does not hold: this is its MNIST
  LeNet analogue.
- `gal_training_set_size`: test error against training iterations of LeNet
  trained on random subsets (1/4 and 1/32) of the 60,000 MNIST training
  images with the Gal cards' Caffe solver: lenet-all evaluated with MC
  dropout (10 samples) against lenet-ip evaluated with standard dropout,
  the test error measured every 1,000 iterations (Gal & Ghahramani's
  "model over-fitting" figure).

Each experiment is an entry of `EXPERIMENTS`: name -> `(title, run,
markdown)`. `run(args)` takes reproduce.py's argparse namespace and returns a
JSON-serialisable record; `markdown(record)` gives the lines of its
RESULTS.md section. TensorFlow and bayes_zoo are imported inside `run`, so
that importing this module (reproduce.py does, to list the experiments) is
cheap.
"""

import datetime
import os
import time

import numpy as np

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_FOLDER = os.path.join(REPOSITORY, "benchmarks", "results")
DPI = 100

MC_SAMPLES_CARDS = ("gal_lenet_all_mcdropout_mnist", "gal_lenet_ip_mcdropout_mnist")
MC_SAMPLES_LABELS = {"gal_lenet_all_mcdropout_mnist": "lenet-all",
                     "gal_lenet_ip_mcdropout_mnist": "lenet-ip"}
DEFAULT_MAX_SAMPLES = 100
DEFAULT_REPETITIONS = 5

TRAINING_SET_SIZE_CURVES = (
    # (key, card, evaluation): lenet-all with MC dropout, lenet-ip with standard dropout.
    ("lenet-all, MC dropout", "gal_lenet_all_mcdropout_mnist", "mc_dropout"),
    ("lenet-ip, standard dropout", "gal_lenet_ip_mcdropout_mnist", "standard_dropout"),
)
TRAINING_SET_FRACTIONS = (4, 32)  # random subsets of 1/4 and 1/32 of the training images
DEFAULT_ITERATIONS = 10_000
DEFAULT_EVAL_EVERY = 1_000
TRAINING_SET_SIZE_MC_SAMPLES = 10  # "MC dropout was used with 10 samples"
TRAINING_SET_SIZE_SEED = 0

_EXAMPLES_PER_CALL = 500  # test images per Monte Carlo graph call
_SAMPLES_PER_CALL = 20    # copies of them per model call (memory bound)


# ---------------------------------------------------------------------------
# Shared pieces.


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _mnist_test(data_dir):
    """The 10,000 MNIST test images at Caffe's LeNet size (28x28) and their labels."""
    import bayes_zoo as bz

    return bz.data.load_arrays("mnist", "test", data_dir=data_dir, image_size=(28, 28))


def _percent(value):
    return f"{100 * value:.2f}%"


def _data_dir_option(args):
    return f" --data-dir {args.data_dir}" if args.data_dir else ""


def _option(args, name, default):
    """`args.<name>`, or `default` where the namespace lacks it or holds None."""
    value = getattr(args, name, None)
    return default if value is None else value


def _plot_path(name, filename):
    return os.path.join(RESULTS_FOLDER, name, filename)


def _figure(num_panels):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.0 * num_panels, 3.8))
    FigureCanvasAgg(figure)
    return figure, figure.subplots(1, num_panels, squeeze=False)[0]


def _save(figure, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=DPI)
    return os.path.relpath(path, REPOSITORY)


def _link(path):
    """A Markdown link from benchmarks/RESULTS.md to a plot (path relative to the repository)."""
    return f"[{os.path.basename(path)}]({os.path.relpath(path, 'benchmarks')})"


# ---------------------------------------------------------------------------
# Test error against the number of MC samples.


def split_at_first_stochastic_layer(model):
    """`(prefix, head)`: the deterministic layers before the first stochastic one, and the rest.

    For a chain-shaped functional model (every layer reads the previous
    layer's output), the layers before the first MC dropout or variational
    layer give the same output on every pass: `prefix` computes it once and
    `head`, the remaining layers (the same layer objects, so the same
    weights), is what Monte Carlo sampling has to repeat. `prefix` is None
    when there is nothing to share (the model starts with a stochastic layer
    or is not a chain); `head` is then the model itself.

    Example:

    >>> prefix, head = split_at_first_stochastic_layer(model)
    >>> features = prefix.predict(images)
    >>> samples = bz.uncertainty.monte_carlo_probabilities(head, features, 100)
    """
    import keras

    import bayes_zoo as bz

    layers = model.layers
    stochastic = {id(layer) for layer in bz.layers.stochastic_layers(model)}
    first = next((i for i, layer in enumerate(layers) if id(layer) in stochastic), None)
    if first is None or first < 2:
        return None, model
    try:
        is_chain = all(layers[i].input is layers[i - 1].output for i in range(1, len(layers)))
    except (AttributeError, ValueError):  # layers with several inbound nodes
        is_chain = False
    if not is_chain:
        return None, model
    boundary = layers[first - 1].output
    prefix = keras.Model(model.inputs, boundary, name=f"{model.name}_prefix")
    head = keras.Sequential([keras.Input(boundary.shape[1:]), *layers[first:]],
                            name=f"{model.name}_head")
    return prefix, head


def mc_errors_by_samples(model, images, labels, max_samples, features=None, head=None):
    """Test error of the MC average of the first T passes, for every T = 1 .. max_samples.

    One repetition: `max_samples` stochastic passes per image are drawn
    once (`bz.uncertainty.monte_carlo_probabilities`, vectorised), and the
    error of the running average of their probabilities is read off for
    every prefix T.

    Args:
        model: a classifier giving logits (used when `head` is None).
        images: float32 [N, ...] test images.
        labels: int [N].
        max_samples: positive int, the largest T.
        features, head: optional, from `split_at_first_stochastic_layer`:
            the prefix's outputs for `images`, and the head to sample.

    Returns:
        A float64 NumPy array [max_samples]: the error at T = 1, 2, ...
    """
    import bayes_zoo as bz

    inputs, sampled = (images, model) if head is None else (features, head)
    wrong = np.zeros(max_samples, dtype=np.int64)
    for start in range(0, len(labels), _EXAMPLES_PER_CALL):
        block = slice(start, start + _EXAMPLES_PER_CALL)
        samples = bz.uncertainty.monte_carlo_probabilities(
            sampled, inputs[block], max_samples,
            samples_per_call=min(_SAMPLES_PER_CALL, max_samples)).numpy()
        # The argmax of a running sum is the argmax of the running mean.
        predicted = np.cumsum(samples, axis=0).argmax(axis=-1)  # [T, block]
        wrong += (predicted != labels[block][np.newaxis]).sum(axis=1)
    return wrong / len(labels)


def standard_dropout_error(model, images, labels):
    """Test error of standard dropout: one pass with dropout off (weight averaging)."""
    import bayes_zoo as bz

    probabilities = bz.uncertainty.posterior_mean_predict(model, images, batch_size=1000)
    return float(np.mean(probabilities.argmax(axis=-1) != labels))


def _trained_epochs(card):
    import json

    import bayes_zoo as bz

    path = os.path.join(os.path.dirname(bz.zoo.model_path(card)), "metrics.json")
    with open(path) as file:
        return json.load(file)["epochs"]


def run_mc_samples(args):
    """The `gal_mc_samples` experiment (see the module docstring); returns its record."""
    import bayes_zoo as bz
    from reproduce import machine_description

    name = "gal_mc_samples"
    max_samples = _option(args, "max_samples", DEFAULT_MAX_SAMPLES)
    repetitions = _option(args, "repetitions", DEFAULT_REPETITIONS)
    if repetitions < 2:
        raise ValueError(f"{name} needs at least 2 repetitions for a standard deviation. "
                         f"Received: --repetitions {repetitions}")
    start = time.perf_counter()
    images, labels = _mnist_test(args.data_dir)
    models = {}
    for card_name in MC_SAMPLES_CARDS:
        card = bz.zoo.card(card_name)
        if not os.path.isfile(bz.zoo.model_path(card)):
            raise FileNotFoundError(
                f"{name} needs the trained {card_name} ({bz.zoo.model_path(card)}). Fix: "
                f"python benchmarks/reproduce.py --rows {card_name} first.")
        model = bz.zoo.load(card, compile=False)
        model_start = time.perf_counter()
        prefix, head = split_at_first_stochastic_layer(model)
        features = None
        if prefix is not None:
            features = prefix.predict(images, batch_size=1000, verbose=0)
        errors = []
        for repetition in range(repetitions):
            repetition_start = time.perf_counter()
            errors.append(mc_errors_by_samples(model, images, labels, max_samples,
                                               features=features,
                                               head=None if prefix is None else head))
            print(f"{name}: {card_name} repetition {repetition + 1}/{repetitions}: error "
                  f"{_percent(errors[-1][0])} at T=1, {_percent(errors[-1][-1])} at "
                  f"T={max_samples} ({time.perf_counter() - repetition_start:.0f} s)",
                  flush=True)
        errors = np.stack(errors)
        standard = standard_dropout_error(model, images, labels)
        print(f"{name}: {card_name} standard dropout error {_percent(standard)}", flush=True)
        models[card_name] = {
            "label": MC_SAMPLES_LABELS[card_name],
            "epochs": _trained_epochs(card),
            "mc_error_mean": [float(value) for value in errors.mean(axis=0)],
            "mc_error_std": [float(value) for value in errors.std(axis=0, ddof=1)],
            "standard_dropout_error": standard,
            "sampled_from_layer": None if prefix is None else head.layers[0].name,
            "seconds": round(time.perf_counter() - model_start, 1),
        }
    record = {
        "experiment": name,
        "dataset": "MNIST",
        "num_test_examples": int(len(labels)),
        "max_samples": max_samples,
        "repetitions": repetitions,
        "models": models,
        "plots": [plot_mc_samples(models, _plot_path(name, "error_vs_mc_samples.png"))],
        "command": (f"python benchmarks/reproduce.py --rows {name}" + _data_dir_option(args)
                    + (f" --repetitions {repetitions}"
                       if repetitions != DEFAULT_REPETITIONS else "")
                    + (f" --max-samples {max_samples}"
                       if max_samples != DEFAULT_MAX_SAMPLES else "")),
        "machine": machine_description(),
        "measured": _now(),
        "seconds": round(time.perf_counter() - start, 1),
    }
    return record


def plot_mc_samples(models, path):
    """Error (%) against T (log axis), one panel per model, with the standard-dropout line."""
    from matplotlib.ticker import NullFormatter
    from matplotlib.ticker import ScalarFormatter

    figure, axes = _figure(len(models))
    for axis, entry in zip(axes, models.values()):
        mean = 100 * np.asarray(entry["mc_error_mean"])
        std = 100 * np.asarray(entry["mc_error_std"])
        samples = np.arange(1, len(mean) + 1)
        axis.plot(samples, mean, color="tab:blue", label="MC dropout (mean ± 1 std)")
        axis.fill_between(samples, mean - std, mean + std, color="tab:blue", alpha=0.25,
                          linewidth=0)
        axis.axhline(100 * entry["standard_dropout_error"], color="tab:green",
                     label="standard dropout")
        axis.set_xscale("log")
        axis.set_xlim(1, len(mean))
        axis.set_xticks([t for t in (1, 2, 5, 10, 20, 50, 100) if t <= len(mean)])
        axis.xaxis.set_major_formatter(ScalarFormatter())
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("MC samples T (averaged forward passes)")
        axis.set_ylabel("test error (%)")
        axis.set_title(f"{entry['label']}, MNIST ({entry['epochs']} epochs)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    return _save(figure, path)


def _mc_against_standard(entry, max_samples):
    """A sentence comparing a model's MC dropout curve with its standard-dropout error."""
    mean, std = entry["mc_error_mean"], entry["mc_error_std"]
    standard = entry["standard_dropout_error"]
    below = next((t for t in range(1, max_samples + 1) if mean[t - 1] < standard), None)
    last = (f"{100 * mean[-1]:.2f} ± {100 * std[-1]:.2f}% at T = {max_samples} against "
            f"{_percent(standard)}")
    if below is None:
        return (f"{entry['label']}: the mean MC dropout error stays at or above standard "
                f"dropout's up to T = {max_samples} ({last}).")
    if all(value < standard for value in mean):
        return (f"{entry['label']}: the mean MC dropout error is below standard dropout's "
                f"for every T from 1 to {max_samples} ({last}).")
    return (f"{entry['label']}: the mean MC dropout error first falls below standard "
            f"dropout's at T = {below} ({last}).")


def markdown_mc_samples(record):
    """The lines of the `gal_mc_samples` section of RESULTS.md."""
    max_samples = record["max_samples"]
    shown = sorted({t for t in (1, 2, 5, 10, 20, 50, 100) if t <= max_samples} | {max_samples})
    lines = [
        f"Test error on the {record['num_test_examples']:,} MNIST test images of the Monte "
        f"Carlo average of the first T stochastic forward passes (MC dropout), T = 1 .. "
        f"{max_samples}, mean ± standard deviation over {record['repetitions']} repetitions "
        f"(each draws {max_samples} passes per image once and reads the error of the running "
        "average at every T), against standard dropout (one deterministic pass with dropout "
        "off, the weights scaled: `bz.layers.posterior_mean`). Gal & Ghahramani's convergence "
        "figure is Augmented-DSN on CIFAR-10, which is not in the zoo: this is its MNIST "
        "analogue with their LeNet, the zoo's trained lenet-all and lenet-ip.",
        "",
        "| model | epochs | " + " | ".join(f"T = {t}" for t in shown)
        + " | standard dropout |",
        "|---|---|" + "---|" * len(shown) + "---|",
    ]
    for card_name, entry in record["models"].items():
        cells = [f"{100 * entry['mc_error_mean'][t - 1]:.2f} ± "
                 f"{100 * entry['mc_error_std'][t - 1]:.2f}%" for t in shown]
        lines.append(f"| {entry['label']} (`{card_name}`) | {entry['epochs']} | "
                     + " | ".join(cells)
                     + f" | {_percent(entry['standard_dropout_error'])} |")
    lines += ["", " ".join(_mc_against_standard(entry, max_samples)
                           for entry in record["models"].values())]
    lines += [
        "",
        "Standard deviation: across repetitions (ddof 1). The layers before the first dropout "
        "layer are deterministic, so their output is computed once per image and only the "
        "layers from the first dropout layer on are run for every sample ("
        + "; ".join(f"{entry['label']}: from `{entry['sampled_from_layer']}` on"
                    for entry in record["models"].values() if entry["sampled_from_layer"])
        + f"); the draws are the same in distribution as full passes. Measured {record['measured']} on {record['machine']} in "
        f"{record['seconds']:.0f} s: `{record['command']}`.",
        "",
        "Plot: " + ", ".join(_link(path) for path in record["plots"]),
    ]
    return lines


# ---------------------------------------------------------------------------
# Test error against the training-set size.


def _test_error_callback(evaluate, every, curve, label):
    """A Keras callback recording `evaluate(model)` every `every` iterations (epochs of that size)."""
    import keras

    class TestError(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            iteration = (epoch + 1) * every
            error = evaluate(self.model)
            curve["iterations"].append(iteration)
            curve["test_error"].append(error)
            curve["train_loss"].append(float(logs["loss"]) if logs and "loss" in logs else None)
            print(f"gal_training_set_size: {label}: iteration {iteration}, test error "
                  f"{_percent(error)} ({time.perf_counter() - self.start:.0f} s)", flush=True)

    return TestError()


def train_on_subset(card, images, labels, test_images, test_labels, *, iterations, eval_every,
                    evaluation, seed, label):
    """Trains a card's model on `(images, labels)` for `iterations` steps; its test-error curve.

    The card's model and solver (`Card.build_model`,
    `bz.trainer.compile_model`: SGD with momentum, Caffe's "inv" learning
    rate, weight decay, batch size), batches drawn from the shuffled,
    repeated subset. Every `eval_every` iterations the test error is measured
    on a second model holding a copy of the weights (so that switching
    dropout off never touches the model being trained): with MC dropout
    (`TRAINING_SET_SIZE_MC_SAMPLES` averaged passes,
    `bz.predict_with_uncertainty`) or standard dropout (one pass, dropout
    off, `bz.uncertainty.posterior_mean_predict`).

    Returns:
        A dict: `iterations`, `test_error`, `train_loss` (lists, one entry
        per measurement), `seconds`, `seconds_per_1000_iterations` (training
        and measuring).
    """
    import keras
    import tensorflow as tf

    import bayes_zoo as bz

    keras.utils.set_random_seed(seed)
    build = dict(num_train_examples=len(labels), input_shape=images.shape[1:],
                 num_classes=10, seed=seed)
    model = card.build_model(**build)
    bz.trainer.compile_model(model, card.training)
    evaluator = card.build_model(**build)

    def evaluate(trained):
        evaluator.set_weights(trained.get_weights())
        if evaluation == "mc_dropout":
            probabilities = bz.predict_with_uncertainty(
                evaluator, test_images, num_samples=TRAINING_SET_SIZE_MC_SAMPLES,
                batch_size=_EXAMPLES_PER_CALL).probabilities
        else:
            probabilities = bz.uncertainty.posterior_mean_predict(evaluator, test_images,
                                                                  batch_size=1000)
        return float(np.mean(probabilities.argmax(axis=-1) != test_labels))

    dataset = (tf.data.Dataset.from_tensor_slices((images, labels))
               .shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
               .repeat()
               .batch(card.training.batch_size)
               .prefetch(tf.data.AUTOTUNE))
    curve = {"iterations": [], "test_error": [], "train_loss": []}
    start = time.perf_counter()
    model.fit(dataset, epochs=iterations // eval_every, steps_per_epoch=eval_every,
              callbacks=[_test_error_callback(evaluate, eval_every, curve, label)],
              shuffle=False, verbose=0)
    seconds = time.perf_counter() - start
    curve["seconds"] = round(seconds, 1)
    curve["seconds_per_1000_iterations"] = round(1000 * seconds / iterations, 1)
    return curve


def run_training_set_size(args):
    """The `gal_training_set_size` experiment (see the module docstring); returns its record."""
    import bayes_zoo as bz
    from reproduce import machine_description

    name = "gal_training_set_size"
    iterations = _option(args, "iterations", DEFAULT_ITERATIONS)
    eval_every = min(_option(args, "eval_every", DEFAULT_EVAL_EVERY), iterations)
    if iterations % eval_every:
        raise ValueError(f"{name}: --iterations ({iterations}) must be a multiple of "
                         f"--eval-every ({eval_every})")
    start = time.perf_counter()
    # All 60,000 training images (Caffe trains on all; no validation split is needed here).
    images, labels = bz.data.load_arrays("mnist", "train", data_dir=args.data_dir,
                                         validation_fraction=0.0, image_size=(28, 28))
    test_images, test_labels = _mnist_test(args.data_dir)
    order = np.random.default_rng(TRAINING_SET_SIZE_SEED).permutation(len(labels))
    subsets = []
    for fraction in TRAINING_SET_FRACTIONS:
        chosen = np.sort(order[:len(labels) // fraction])
        subset = {"fraction": f"1/{fraction}", "num_train_examples": int(len(chosen)),
                  "curves": {}}
        for label, card_name, evaluation in TRAINING_SET_SIZE_CURVES:
            curve = train_on_subset(
                bz.zoo.card(card_name), images[chosen], labels[chosen], test_images,
                test_labels, iterations=iterations, eval_every=eval_every,
                evaluation=evaluation, seed=TRAINING_SET_SIZE_SEED,
                label=f"1/{fraction} {label}")
            curve.update({"card": card_name, "evaluation": evaluation})
            subset["curves"][label] = curve
        subsets.append(subset)
    record = {
        "experiment": name,
        "dataset": "MNIST",
        "num_train_images": int(len(labels)),
        "num_test_examples": int(len(test_labels)),
        "iterations": iterations,
        "default_iterations": DEFAULT_ITERATIONS,
        "eval_every": eval_every,
        "batch_size": bz.zoo.card(TRAINING_SET_SIZE_CURVES[0][1]).training.batch_size,
        "mc_samples": TRAINING_SET_SIZE_MC_SAMPLES,
        "seed": TRAINING_SET_SIZE_SEED,
        "subsets": subsets,
        "plots": [plot_training_set_size(subsets, _plot_path(name, "error_vs_iterations.png"))],
        "command": (f"python benchmarks/reproduce.py --rows {name}" + _data_dir_option(args)
                    + (f" --iterations {iterations}"
                       if iterations != DEFAULT_ITERATIONS else "")
                    + (f" --eval-every {eval_every}"
                       if eval_every != DEFAULT_EVAL_EVERY else "")),
        "machine": machine_description(),
        "measured": _now(),
        "seconds": round(time.perf_counter() - start, 1),
    }
    return record


def plot_training_set_size(subsets, path):
    """Test error (%) against iterations, one panel per training subset."""
    colours = {"mc_dropout": "tab:blue", "standard_dropout": "tab:green"}
    figure, axes = _figure(len(subsets))
    for axis, subset in zip(axes, subsets):
        for label, curve in subset["curves"].items():
            axis.plot(curve["iterations"], 100 * np.asarray(curve["test_error"]), marker="o",
                      markersize=3, color=colours[curve["evaluation"]], label=label)
        axis.set_xlabel("training iterations (batches of 64)")
        axis.set_ylabel("test error (%)")
        axis.set_title(f"{subset['fraction']} of MNIST train "
                       f"({subset['num_train_examples']:,} images)")
        axis.grid(True, alpha=0.3)
        axis.legend()
    return _save(figure, path)


def markdown_training_set_size(record):
    """The lines of the `gal_training_set_size` section of RESULTS.md."""
    iterations = record["iterations"]
    lines = [
        "Gal & Ghahramani's model over-fitting experiment: LeNet trained on random subsets "
        f"of the {record['num_train_images']:,} MNIST training images with the Gal cards' "
        f"Caffe solver (SGD, momentum 0.9, learning rate 0.01 with Caffe's \"inv\" decay, "
        f"weight decay 5e-4, batches of {record['batch_size']}) for {iterations:,} "
        f"iterations, the test error on the {record['num_test_examples']:,} test images "
        f"measured every {record['eval_every']:,} iterations: lenet-all (dropout after every "
        f"weight layer) evaluated with MC dropout ({record['mc_samples']} samples) against "
        "lenet-ip (dropout after the hidden fully connected layer only) evaluated with "
        "standard dropout. Both curves of a subset train on the same images from the same "
        f"seed ({record['seed']}). The test set only plots the curves; nothing is selected "
        f"on it. {iterations:,} iterations are "
        + " and ".join(
            f"{iterations * record['batch_size'] / subset['num_train_examples']:.0f} passes "
            f"over the {subset['fraction']} subset" for subset in record["subsets"])
        + ".",
        "",
    ]
    if iterations < record["default_iterations"]:
        lines += [
            f"**Reduced budget:** {iterations:,} iterations instead of the default "
            f"{record['default_iterations']:,}, to fit the four trainings on the shared "
            "2-core CPU (see the wall times below).",
            "",
        ]
    lines += [
        "| training subset | images | model, evaluation | final error "
        f"(iteration {iterations:,}) | min error (iteration) | wall time |",
        "|---|---|---|---|---|---|",
    ]
    for subset in record["subsets"]:
        for label, curve in subset["curves"].items():
            errors = curve["test_error"]
            best = int(np.argmin(errors))
            lines.append(
                f"| {subset['fraction']} | {subset['num_train_examples']:,} | {label} "
                f"| {_percent(errors[-1])} | {_percent(errors[best])} "
                f"({curve['iterations'][best]:,}) | {curve['seconds']:.0f} s |")
    lines += [
        "",
        f"Measured {record['measured']} on {record['machine']} in {record['seconds']:.0f} s "
        f"(training and the test measurements): `{record['command']}`.",
        "",
        "Plot: " + ", ".join(_link(path) for path in record["plots"]),
    ]
    return lines


EXPERIMENTS = {
    "gal_mc_samples": (
        "Gal: test error against the number of MC samples",
        run_mc_samples,
        markdown_mc_samples,
    ),
    "gal_training_set_size": (
        "Gal: test error against training-set size",
        run_training_set_size,
        markdown_training_set_size,
    ),
}
