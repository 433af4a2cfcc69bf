"""Shridhar et al.'s Table 7 on CIFAR-10: the Bayesian AlexNet pruned by L1, and unpruned.

The paper (section 5.7.2) prunes a trained Bayesian AlexNet so that its
number of parameters (a mean and a spread per weight) becomes comparable
with the frequentist AlexNet's, and reports CIFAR-10 validation accuracies
of 73% (Bayesian AlexNet), 73% (frequentist AlexNet) and 71% (Bayesian
AlexNet with L1 pruning). This experiment measures, on the zoo's trained
`alexnet_lrt_paper_cifar10` and the held-out CIFAR-10 test split:

1. the unpruned model's test accuracy (Monte Carlo average of the card's T
   samples) and parameter counts (`bz.pruning.count_parameters`), and the
   frequentist AlexNet's parameter count (and its test accuracy when
   `alexnet_frequentist_cifar10` is trained);
2. the paper's procedure: `bz.pruning.prune_l1` by |mu|, the same fraction
   of every kernel, chosen so that the non-zero parameters left match the
   frequentist AlexNet's parameter count (about half of each kernel), no
   retraining;
3. that pruned model trained on for a few epochs (2 by default), the layers'
   kernel masks holding the pruned weights at zero, with the card's optimizer
   and KL schedule;
4. signal-to-noise pruning (`bz.pruning.prune_signal_to_noise`) of the same
   fraction, no retraining;
5. diagnostics: per layer, percentiles of the posterior means |mu| and of
   log alpha, the |mu| below which the layer was pruned, the share of the
   layer's L1 mass that was removed, and the fraction that one global |mu|
   threshold with the same total would prune; and a sweep of test accuracy
   against the pruned fraction (fewer Monte Carlo samples and test images,
   both recorded). Figures: `abs_mu_histograms.png` and
   `accuracy_vs_pruned_fraction.png`.

`benchmarks/reproduce.py` runs it through `EXPERIMENTS`:
`run(args)` takes its argparse namespace and returns the JSON record;
`markdown(record)` returns the lines of the RESULTS.md section. Run alone (a
development run, which writes no record under benchmarks/results/ unless
told to):

    python benchmarks/pruning_experiment.py --data-dir /work/shared/data \\
        --max-test-examples 300 --finetune-steps 5 --output-dir /tmp/pruning

The full run costs four Monte Carlo evaluations of the 10,000 test images at
the card's T = 25 (8 to 13 minutes each on 2 CPU cores), two fine-tuning
epochs (176 batches of 256, 3 to 5 minutes each) and the sweep (22
evaluations of 2,000 images at T = 1, 2 to 5 minutes): 40 to 65 minutes on
a 2-core CPU shared with a training job, measured in pieces.
"""

import argparse
import datetime
import json
import os
import shlex
import statistics
import sys
import tempfile
import time

import numpy as np

NAME = "alexnet_l1_pruning"
TITLE = "AlexNet with L1 pruning (Shridhar et al., Table 7)"
CARD = "alexnet_lrt_paper_cifar10"
FREQUENTIST_CARD = "alexnet_frequentist_cifar10"
PAPER = {
    "bayesian": 0.73,
    "frequentist": 0.73,
    "l1_pruned": 0.71,
    "source": "Shridhar et al., Table 7 (CIFAR-10; validation accuracy)",
}
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT_FOLDER = os.path.join(REPOSITORY, "benchmarks", "results", NAME)
HISTOGRAM_FILE = "abs_mu_histograms.png"
SWEEP_FILE = "accuracy_vs_pruned_fraction.png"

DEFAULT_FINETUNE_EPOCHS = 2
DEFAULT_SWEEP_FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
DEFAULT_SWEEP_SAMPLES = 1
DEFAULT_SWEEP_EXAMPLES = 2000
PERCENTILES = (10, 50, 90)
# Shares of the means reported: |mu| below NEAR_ZERO times the prior's scale,
# and |mu| within NEAR_MINIMISER (relative) of the KL's minimiser.
NEAR_ZERO = 0.1
NEAR_MINIMISER = 0.05
_DPI = 100
_SWEEP_CRITERIA = ("l1", "signal_to_noise")
_CRITERION_NAMES = {"l1": "L1 (|μ|)", "signal_to_noise": "signal-to-noise (|μ|/σ)"}
BACKSLASH_PIPE = "\\|"  # a "|" inside a Markdown table cell


def _say(message):
    print(f"{NAME}: {message}", flush=True)


def _reproduce_module():
    """benchmarks/reproduce.py, imported with or without benchmarks/ on sys.path."""
    try:
        import reproduce
    except ImportError:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import reproduce
    return reproduce


# ---------------------------------------------------------------------------
# Pure helpers (tested without a model).


def global_threshold_fractions(abs_means, fraction):
    """One |mu| threshold that prunes `fraction` of all the kernels' weights together.

    Args:
        abs_means: a list of arrays, one layer's |mu| each.
        fraction: float in [0, 1].

    Returns:
        `(threshold, fractions)`: the |mu| below which the smallest
        `fraction` of all the weights lie, and the fraction of each layer's
        weights below it.
    """
    values = np.concatenate([np.ravel(a) for a in abs_means])
    num_pruned = int(round(fraction * values.size))
    if num_pruned == 0:
        return 0.0, [0.0 for _ in abs_means]
    ordered = np.sort(values)
    threshold = float(ordered[num_pruned - 1])
    fractions = [float(np.mean(np.ravel(a) <= threshold)) for a in abs_means]
    return threshold, fractions


def half_normal_percentiles(stddev, percentiles=PERCENTILES):
    """Percentiles of |w| for w ~ N(0, stddev^2): the initial |mu| of the card's posterior."""
    normal = statistics.NormalDist()
    return [stddev * normal.inv_cdf(0.5 + p / 200.0) for p in percentiles]


def half_normal_share(stddev, low, high):
    """P(low <= |w| < high) for w ~ N(0, stddev^2)."""
    normal = statistics.NormalDist(0.0, stddev)
    return 2.0 * (normal.cdf(high) - normal.cdf(max(low, 0.0)))


def _initial_shares(initial_stddev, layer_rows):
    """The shares of `layer_rows` that the means' initial N(0, initial_stddev) gives."""
    if not initial_stddev or not layer_rows or layer_rows[0]["prior_stddev"] is None:
        return None
    scale = layer_rows[0]["prior_stddev"]
    shares = {"near_zero": half_normal_share(initial_stddev, 0.0, NEAR_ZERO * scale)}
    minimiser = layer_rows[0]["kl_minimiser"]
    if minimiser:
        shares["at_kl_minimiser"] = half_normal_share(
            initial_stddev, minimiser * (1 - NEAR_MINIMISER), minimiser * (1 + NEAR_MINIMISER))
    return shares


def kl_minimising_mean(prior_stddev, log_alpha):
    """The |mu| that minimises KL(q || p) for q = N(mu, alpha mu^2), p = N(0, s^2), at fixed alpha.

    KL = log(s / sigma) + (sigma^2 + mu^2) / (2 s^2) - 1/2 with
    sigma^2 = alpha mu^2; its derivative in |mu|, -1/|mu| + |mu| (1 + alpha)
    / s^2, vanishes at s / sqrt(1 + alpha). The KL grows like -log|mu| as
    mu -> 0: it pushes means away from zero, not towards it.
    """
    return float(prior_stddev / np.sqrt(1.0 + np.exp(log_alpha)))


# ---------------------------------------------------------------------------
# The model.


def _variational_layers(model):
    from bayes_zoo.layers.base_variational import BaseVariational
    from bayes_zoo.layers.stochastic_layer import stochastic_layers

    return [layer for layer in stochastic_layers(model) if isinstance(layer, BaseVariational)]


def _percentiles(values):
    return [float(v) for v in np.percentile(values, PERCENTILES)]


def _layer_diagnostics(model):
    """Per variational layer: |mu|, log alpha (or None) and the prior's scale."""
    import keras

    from bayes_zoo import priors

    layers = []
    for layer in _variational_layers(model):
        variables = layer.kernel_posterior_variables
        abs_mu = np.abs(variables["loc"].numpy())
        if "log_alpha" in variables:
            log_alpha = variables["log_alpha"].numpy()
        else:
            stddev = keras.ops.convert_to_numpy(layer.posterior.stddev(variables))
            with np.errstate(divide="ignore"):
                log_alpha = 2.0 * (np.log(stddev) - np.log(abs_mu))
        prior_stddev = layer.prior.stddev if isinstance(layer.prior, priors.Normal) else None
        layers.append({
            "name": layer.name,
            "layer": layer,
            "abs_mu": abs_mu,
            "log_alpha": log_alpha,
            "multiplicative": "log_alpha" in variables,
            "prior_stddev": prior_stddev,
        })
    return layers


def _evaluate(model, images, labels, num_samples, batch_size):
    """Monte Carlo averaged test metrics of the model on the images."""
    import bayes_zoo as bz

    start = time.perf_counter()
    result = bz.predict_with_uncertainty(model, images, num_samples=num_samples,
                                         batch_size=batch_size)
    return {
        "accuracy": bz.metrics.accuracy(labels, result.probabilities),
        "nll": bz.metrics.negative_log_likelihood(labels, result.probabilities),
        "ece": bz.metrics.expected_calibration_error(labels, result.probabilities),
        "num_examples": int(len(labels)),
        "num_samples": int(num_samples),
        "seconds": round(time.perf_counter() - start, 1),
    }


def _with_counts(metrics, model):
    import bayes_zoo as bz

    counts = bz.pruning.count_parameters(model)
    metrics.update({"non_zero_parameters": counts["non_zero_parameters"],
                    "non_zero_means": counts["non_zero_means"]})
    return metrics


def _progress_callback(every, num_batches):
    """A Keras callback printing a line every `every` training batches."""
    import keras

    class Progress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.start = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if (batch + 1) % every == 0 or batch + 1 == num_batches:
                logs = logs or {}
                _say(f"fine-tune epoch {self.epoch + 1}, batch {batch + 1}/{num_batches}: "
                     f"loss {float(logs.get('loss', float('nan'))):.4f}, accuracy "
                     f"{float(logs.get('accuracy', float('nan'))):.4f} "
                     f"({time.perf_counter() - self.start:.0f} s)")

    return Progress()


def _finetune(model, card, data_dir, epochs, steps, seed):
    """Trains the pruned model on with the card's compile settings and KL schedule (masks hold)."""
    import bayes_zoo as bz

    start = time.perf_counter()
    train = bz.data.load(
        card.dataset, "train",
        batch_size=card.training.batch_size,
        seed=seed,
        data_dir=data_dir,
        validation_fraction=card.data.validation_fraction,
        augment=card.data.augment,
        image_size=card.data.image_size,
    )
    if steps is not None:
        train = train.take(steps)
    num_batches = int(train.cardinality())
    load_seconds = time.perf_counter() - start
    _say(f"fine-tuning {epochs} epoch(s) of {num_batches} batches of "
         f"{card.training.batch_size} (training split read in {load_seconds:.0f} s) ...")
    bz.trainer.compile_model(model, card.training)
    callbacks = [bz.callbacks.KLWeightSchedule(card.training.kl_schedule),
                 _progress_callback(max(1, num_batches // 10), num_batches)]
    start = time.perf_counter()
    history = model.fit(train, epochs=epochs, callbacks=callbacks, shuffle=False, verbose=0)
    fit_seconds = time.perf_counter() - start
    return {
        "epochs": epochs,
        "steps_per_epoch": num_batches,
        "batch_size": card.training.batch_size,
        "train_samples": int(getattr(model, "train_samples", 1)),
        "optimizer": card.training.optimizer,
        "learning_rate": card.training.learning_rate,
        "kl_schedule": card.training.kl_schedule,
        "final_train_loss": float(history.history["loss"][-1]),
        "final_train_accuracy": float(history.history["accuracy"][-1]),
        "data_seconds": round(load_seconds, 1),
        "fit_seconds": round(fit_seconds, 1),
    }


# ---------------------------------------------------------------------------
# Figures.


def _plot_histograms(layers, path, fraction, initial_stddev):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = 3
    rows = -(-len(layers) // columns)
    figure = Figure(figsize=(10, 3.0 * rows))
    for index, layer in enumerate(layers):
        axes = figure.add_subplot(rows, columns, index + 1)
        values = layer["abs_mu"].ravel()
        upper = float(np.percentile(values, 99.9)) * 1.05 or 1.0
        counts, edges, _ = axes.hist(values, bins=60, range=(0.0, upper), color="tab:blue",
                                     alpha=0.8, label="trained |μ|")
        if initial_stddev:
            centres = (edges[:-1] + edges[1:]) / 2
            density = np.exp(-0.5 * (centres / initial_stddev) ** 2) * 2.0 / (
                initial_stddev * np.sqrt(2.0 * np.pi))
            axes.plot(centres, density * values.size * (edges[1] - edges[0]), color="0.3",
                      linewidth=1, label=f"initial N(0, {initial_stddev:g})")
        axes.axvline(layer["l1_threshold"], color="tab:red", linestyle="--",
                     label=f"L1 cut ({fraction:.0%})")
        if layer.get("kl_minimiser") is not None and layer["kl_minimiser"] <= upper:
            axes.axvline(layer["kl_minimiser"], color="tab:green", linestyle=":",
                         label="KL minimiser s/√(1+α)")
        axes.set_title(f"{layer['name']} ({values.size:,} weights)", fontsize=9)
        axes.set_xlabel("|μ|", fontsize=8)
        axes.tick_params(labelsize=7)
        if index == 0:
            axes.legend(fontsize=7)
    figure.suptitle("Posterior means |μ| of the trained Bayesian AlexNet, per layer", fontsize=10)
    figure.tight_layout()
    FigureCanvasAgg(figure)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, format="png", dpi=_DPI)
    return path


def _plot_sweep(record, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sweep, results = record["sweep"], record["results"]
    figure = Figure(figsize=(9.0, 4.4))
    axes = figure.add_subplot(1, 1, 1)
    for criterion, color in zip(_SWEEP_CRITERIA, ("tab:red", "tab:purple")):
        axes.plot(sweep["fractions"], sweep[criterion], marker="o", markersize=3, color=color,
                  label=f"{_CRITERION_NAMES[criterion]}, T={sweep['num_samples']}, "
                        f"{sweep['num_examples']} images")
    fraction = record["fraction"]
    full = f"T={record['num_samples']}, {record['num_test_examples']} images"
    axes.scatter([0.0], [results["unpruned"]["accuracy"]], color="black", zorder=3,
                 label=f"unpruned ({full})")
    axes.scatter([fraction], [results["l1"]["accuracy"]], color="tab:red", marker="s",
                 zorder=3, label=f"L1 at {fraction:.1%} ({full})")
    axes.scatter([fraction], [results["signal_to_noise"]["accuracy"]], color="tab:purple",
                 marker="s", zorder=3, label=f"signal-to-noise at {fraction:.1%} ({full})")
    axes.scatter([fraction], [results["l1_finetuned"]["accuracy"]], color="tab:orange",
                 marker="^", s=50, zorder=3,
                 label=f"L1 + {results['l1_finetuned']['epochs']} epoch(s) fine-tuning")
    if results.get("frequentist"):
        axes.axhline(results["frequentist"]["accuracy"], color="gray", linestyle="--",
                     label="frequentist AlexNet (zoo)")
    axes.scatter([0.0, fraction], [PAPER["bayesian"], PAPER["l1_pruned"]], color="tab:green",
                 marker="*", s=80, zorder=3, label="paper (Table 7)")
    axes.set_xlabel("fraction of each kernel pruned")
    axes.set_ylabel("test accuracy")
    axes.set_ylim(0.0, 1.0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    axes.set_title(f"Pruning the Bayesian AlexNet, {record['dataset_label']}", fontsize=10)
    figure.tight_layout()
    FigureCanvasAgg(figure)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, format="png", dpi=_DPI)
    return path


# ---------------------------------------------------------------------------
# The experiment.


def _optional(args, name, default):
    value = getattr(args, name, None)
    return default if value is None else value


def _command(args):
    if sys.argv and sys.argv[0].endswith(".py"):
        return "python " + " ".join(shlex.quote(arg) for arg in sys.argv)
    command = f"python benchmarks/reproduce.py --rows {NAME}"
    if getattr(args, "data_dir", None):
        command += f" --data-dir {args.data_dir}"
    return command


def _trained(card):
    """The trainer's metrics.json beside the card's model, or {}."""
    import bayes_zoo as bz

    path = os.path.join(os.path.dirname(bz.zoo.model_path(card)), "metrics.json")
    if not os.path.isfile(path):
        return {}
    with open(path) as file:
        return json.load(file)


def _frequentist(data_dir, test, batch_size):
    """The frequentist AlexNet's parameter count, and its test metrics when trained."""
    import bayes_zoo as bz

    card = bz.zoo.card(FREQUENTIST_CARD)
    try:
        model = bz.zoo.load(card, compile=False)
    except FileNotFoundError:
        model = None
    if model is None:
        built = bz.architectures.alexnet(method="frequentist", input_shape=test.images.shape[1:],
                                         num_classes=10)
        parameters = bz.pruning.count_parameters(built)["trainable"]
        _say(f"{FREQUENTIST_CARD} is not trained: only its parameter count ({parameters:,})")
        return parameters, None
    parameters = bz.pruning.count_parameters(model)["trainable"]
    _say(f"evaluating {FREQUENTIST_CARD} ({parameters:,} parameters, "
         f"T={card.evaluation.num_samples}) ...")
    metrics = _evaluate(model, test.images, test.labels, card.evaluation.num_samples, batch_size)
    metrics["parameters"] = parameters
    metrics["epochs"] = _trained(card).get("epochs")
    metrics["card_epochs"] = card.training.epochs
    return parameters, metrics


def run(args):
    """Runs the experiment; returns its JSON-serialisable record.

    Args:
        args: reproduce.py's argparse namespace: `data_dir`, `scratch_dir`,
            `batch_size`; optional (None or absent: the default):
            `finetune_epochs` (2), `finetune_steps` (None: whole epochs),
            `max_test_examples` (None: all 10,000), `num_samples` (the card's
            T), `sweep_samples` (1), `sweep_examples` (2,000),
            `sweep_fractions`, `seed` (0), `output_dir` (the figures' folder,
            benchmarks/results/alexnet_l1_pruning/).
    """
    import keras

    import bayes_zoo as bz

    reproduce = _reproduce_module()
    start = time.perf_counter()
    timings = {}
    finetune_epochs = int(_optional(args, "finetune_epochs", DEFAULT_FINETUNE_EPOCHS))
    finetune_steps = getattr(args, "finetune_steps", None)
    max_test_examples = getattr(args, "max_test_examples", None)
    sweep_samples = int(_optional(args, "sweep_samples", DEFAULT_SWEEP_SAMPLES))
    sweep_examples = int(_optional(args, "sweep_examples", DEFAULT_SWEEP_EXAMPLES))
    sweep_fractions = [float(f) for f in _optional(args, "sweep_fractions",
                                                   DEFAULT_SWEEP_FRACTIONS)]
    seed = int(_optional(args, "seed", 0))
    batch_size = int(_optional(args, "batch_size", 128))
    output_dir = _optional(args, "output_dir", OUTPUT_FOLDER)
    scratch_dir = _optional(args, "scratch_dir",
                            os.path.join(tempfile.gettempdir(), "bayes_zoo_data"))

    keras.utils.set_random_seed(seed)
    card = bz.zoo.card(CARD)
    num_samples = int(_optional(args, "num_samples", card.evaluation.num_samples))
    data_dir = reproduce.dataset_folder(card.dataset, getattr(args, "data_dir", None),
                                        scratch_dir)
    model = bz.zoo.load(card, compile=False)
    trained = _trained(card)

    # --- The test split and the unpruned model.
    tick = time.perf_counter()
    test = bz.evaluation.load_test_split(card.dataset, model, data_dir=data_dir,
                                         max_examples=max_test_examples)
    timings["load_test"] = round(time.perf_counter() - tick, 1)
    num_test = len(test.labels)
    _say(f"{num_test} test images from {test.source} ({timings['load_test']:.0f} s); "
         f"evaluating the unpruned {CARD} (T={num_samples}) ...")
    original_weights = model.get_weights()
    counts = bz.pruning.count_parameters(model)
    unpruned = _with_counts(_evaluate(model, test.images, test.labels, num_samples, batch_size),
                            model)
    _say(f"unpruned: accuracy {unpruned['accuracy']:.2%} ({unpruned['seconds']:.0f} s)")

    # --- The frequentist twin.
    tick = time.perf_counter()
    frequentist_parameters, frequentist = _frequentist(data_dir, test, batch_size)
    timings["frequentist"] = round(time.perf_counter() - tick, 1)
    if frequentist:
        _say(f"frequentist: accuracy {frequentist['accuracy']:.2%}")

    # --- The fraction that meets the frequentist budget, and the diagnostics.
    layers = _layer_diagnostics(model)
    prunable = sum(int(np.count_nonzero(layer["abs_mu"])) for layer in layers)
    fraction = bz.pruning.fraction_for_budget(counts["non_zero_parameters"], prunable,
                                   frequentist_parameters)
    _say(f"{counts['non_zero_parameters']:,} non-zero parameters, {prunable:,} kernel "
         f"weights; pruning {fraction:.4%} of each kernel leaves about "
         f"{frequentist_parameters:,} (the frequentist AlexNet's count)")
    threshold, global_fractions = global_threshold_fractions(
        [layer["abs_mu"] for layer in layers], fraction)

    # --- 2. L1 pruning, no retraining.
    model, l1_report = bz.pruning.prune_l1(model, fraction=fraction)
    _say(f"{l1_report}\nevaluating the L1-pruned model (T={num_samples}) ...")
    l1 = _with_counts(_evaluate(model, test.images, test.labels, num_samples, batch_size), model)
    l1["fraction_pruned"] = l1_report.fraction_pruned
    _say(f"L1-pruned: accuracy {l1['accuracy']:.2%} ({l1['seconds']:.0f} s)")
    layer_rows = []
    l1_masks = []
    for layer, pruning, global_fraction in zip(layers, l1_report.layers, global_fractions):
        abs_mu = layer["abs_mu"]
        mask = _kernel_loc(layer) == 0
        l1_masks.append(mask)
        pruned = abs_mu[mask]
        layer["l1_threshold"] = float(pruned.max()) if pruned.size else 0.0
        median_log_alpha = float(np.median(layer["log_alpha"]))
        layer["kl_minimiser"] = (
            kl_minimising_mean(layer["prior_stddev"], median_log_alpha)
            if layer["multiplicative"] and layer["prior_stddev"] is not None else None)
        scale = layer["prior_stddev"]
        layer_rows.append({
            "name": layer["name"],
            "near_zero_share": (float(np.mean(abs_mu < NEAR_ZERO * scale))
                                if scale is not None else None),
            "at_kl_minimiser_share": (
                float(np.mean(np.abs(abs_mu / layer["kl_minimiser"] - 1.0) <= NEAR_MINIMISER))
                if layer["kl_minimiser"] else None),
            "num_weights": pruning.num_weights,
            "abs_mu_percentiles": _percentiles(abs_mu),
            "log_alpha_percentiles": _percentiles(layer["log_alpha"]),
            "l1_threshold": layer["l1_threshold"],
            "fraction_pruned": 1.0 - pruning.non_zero_after / max(pruning.non_zero_before, 1),
            "l1_mass_pruned": float(pruned.sum() / abs_mu.sum()),
            "l2_mass_pruned": float(np.square(pruned).sum() / np.square(abs_mu).sum()),
            "global_threshold_fraction": global_fraction,
            "kl_minimiser": layer["kl_minimiser"],
            "prior_stddev": layer["prior_stddev"],
        })

    # --- 5. The sweep, on fewer images and Monte Carlo samples.
    tick = time.perf_counter()
    if sweep_examples < num_test:
        kept = np.sort(np.random.default_rng(seed).choice(num_test, sweep_examples,
                                                           replace=False))
        sweep_images, sweep_labels = test.images[kept], test.labels[kept]
    else:
        sweep_images, sweep_labels = test.images, test.labels
    sweep = {"fractions": sweep_fractions, "num_samples": sweep_samples,
             "num_examples": int(len(sweep_labels))}
    prune = {"l1": bz.pruning.prune_l1, "signal_to_noise": bz.pruning.prune_signal_to_noise}
    for criterion in _SWEEP_CRITERIA:
        sweep[criterion] = []
        for sweep_fraction in sweep_fractions:
            model.set_weights(original_weights)
            if sweep_fraction > 0:
                prune[criterion](model, fraction=sweep_fraction)
            accuracy = _evaluate(model, sweep_images, sweep_labels, sweep_samples,
                                 batch_size)["accuracy"]
            sweep[criterion].append(accuracy)
            _say(f"sweep {criterion} {sweep_fraction:.0%}: accuracy {accuracy:.2%}")
    timings["sweep"] = round(time.perf_counter() - tick, 1)

    # --- 4. Signal-to-noise pruning of the same fraction, no retraining.
    model.set_weights(original_weights)
    model, snr_report = bz.pruning.prune_signal_to_noise(model, fraction=fraction)
    _say(f"evaluating the signal-to-noise-pruned model (T={num_samples}) ...")
    snr = _with_counts(_evaluate(model, test.images, test.labels, num_samples, batch_size),
                       model)
    snr["fraction_pruned"] = snr_report.fraction_pruned
    # The share of the signal-to-noise-pruned weights that L1 pruned too.
    snr_masks = [_kernel_loc(layer) == 0 for layer in layers]
    for row, snr_mask, l1_mask in zip(layer_rows, snr_masks, l1_masks):
        row["signal_to_noise_overlap_with_l1"] = _overlap(snr_mask, l1_mask)
    snr["overlap_with_l1"] = _overlap(np.concatenate([np.ravel(m) for m in snr_masks]),
                                      np.concatenate([np.ravel(m) for m in l1_masks]))
    _say(f"signal-to-noise-pruned: accuracy {snr['accuracy']:.2%}")

    # --- 3. L1 pruning, then training on with the pruned weights held at zero.
    model.set_weights(original_weights)
    model, _ = bz.pruning.prune_l1(model, fraction=fraction)
    tick = time.perf_counter()
    finetune = _finetune(model, card, data_dir, finetune_epochs, finetune_steps, seed)
    timings["finetune"] = round(time.perf_counter() - tick, 1)
    _say(f"evaluating the fine-tuned L1-pruned model (T={num_samples}) ...")
    finetuned = _with_counts(_evaluate(model, test.images, test.labels, num_samples,
                                       batch_size), model)
    finetuned.update(finetune)
    _say(f"L1-pruned and fine-tuned: accuracy {finetuned['accuracy']:.2%}")
    for key, result in (("unpruned", unpruned), ("l1", l1), ("signal_to_noise", snr),
                        ("l1_finetuned", finetuned)):
        timings[f"evaluate_{key}"] = result["seconds"]

    posterior = card.make_posterior()
    initial_stddev = getattr(getattr(posterior, "loc_initializer", None), "stddev", None)
    record = {
        "experiment": NAME,
        "title": TITLE,
        "card": CARD,
        "dataset": card.dataset,
        "dataset_label": reproduce.dataset_label(card.dataset, data_dir),
        "test_source": test.source,
        "paper": PAPER,
        "model": {
            "epochs": trained.get("epochs"),
            "card_epochs": card.training.epochs,
            "train_samples": trained.get("train_samples"),
            "card_train_samples": card.model.get("train_samples", 1),
            "posterior": type(posterior).__name__,
            "initial_loc_stddev": initial_stddev,
        },
        "num_test_examples": num_test,
        "num_samples": num_samples,
        "parameters": {
            "bayesian": counts,
            "frequentist": frequentist_parameters,
            "prunable_kernel_weights": prunable,
        },
        "fraction": fraction,
        "global_threshold": threshold,
        "results": {
            "unpruned": unpruned,
            "frequentist": frequentist,
            "l1": l1,
            "l1_finetuned": finetuned,
            "signal_to_noise": snr,
        },
        "layers": layer_rows,
        "initial_abs_mu_percentiles": (half_normal_percentiles(initial_stddev)
                                       if initial_stddev else None),
        "initial_shares": _initial_shares(initial_stddev, layer_rows),
        "sweep": sweep,
        "timings": timings,
        "command": _command(args),
        "machine": reproduce.machine_description(),
        "measured": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"),
    }
    plots = [_plot_histograms(layers, os.path.join(output_dir, HISTOGRAM_FILE), fraction,
                              initial_stddev),
             _plot_sweep(record, os.path.join(output_dir, SWEEP_FILE))]
    record["plots"] = [os.path.relpath(path, REPOSITORY) for path in plots]
    record["seconds"] = round(time.perf_counter() - start, 1)
    _say(f"done in {record['seconds']:.0f} s")
    return record


def _overlap(mask, other):
    """The share of `mask`'s True entries that are True in `other` too."""
    return float(np.mean(other[mask])) if mask.any() else 0.0


def _kernel_loc(layer):
    """The current posterior means of a `_layer_diagnostics` entry's kernel."""
    return layer["layer"].kernel_posterior_variables["loc"].numpy()


# ---------------------------------------------------------------------------
# RESULTS.md.


def _percent(value):
    return "–" if value is None else f"{100 * value:.2f}%"


def _span(values, spec):
    """`min–max` of `values` formatted with `spec`, or one value when they agree."""
    low, high = format(min(values), spec), format(max(values), spec)
    return low if low == high else f"{low}–{high}"


def _paper_percent(value):
    return "–" if value is None else f"{100 * value:.0f}%"


def _points(value):
    return f"{100 * value:+.1f}"


def _triple(values, digits=3):
    return " / ".join(f"{value:.{digits}f}" for value in values)


def markdown(record):
    """The lines of the experiment's RESULTS.md section (without its heading)."""
    results, model, paper = record["results"], record["model"], record["paper"]
    fraction, label = record["fraction"], record["dataset_label"]
    unpruned, l1, snr = results["unpruned"], results["l1"], results["signal_to_noise"]
    finetuned, frequentist = results["l1_finetuned"], results.get("frequentist")
    T, n = record["num_samples"], record["num_test_examples"]
    counts = record["parameters"]
    samples_note = (
        f" (as the model was trained; the card's is {model['card_train_samples']})"
        if model.get("card_train_samples") not in (None, finetuned["train_samples"]) else "")
    finetune_what = (f"{finetuned['epochs']} epoch(s) of {finetuned['steps_per_epoch']} "
                     f"batches")
    out = [
        f"Shridhar et al. (section 5.7.2, Table 7) prune a trained Bayesian AlexNet so that "
        f"its parameter count (a mean and a spread per weight) becomes comparable with the "
        f"frequentist AlexNet's, and report on CIFAR-10 73% (Bayesian), 73% (frequentist) "
        f"and 71% (Bayesian with L1 pruning). Measured here on the zoo's `{record['card']}` "
        f"({model['epochs']} of the card's {model['card_epochs']} epochs, "
        f"{model['train_samples']} weight sample(s) per training step), on {n:,} held-out "
        f"test images of {label}, Monte Carlo average of T = {T} samples; pruning "
        f"{fraction:.2%} of every kernel by |μ| (`bz.pruning.prune_l1`; biases are kept) "
        f"leaves {l1['non_zero_parameters']:,} non-zero parameters against the frequentist "
        f"AlexNet's {counts['frequentist']:,}.",
        "",
        "| model | non-zero parameters | test accuracy | NLL | paper (CIFAR-10) |",
        "|---|---|---|---|---|",
        f"| Bayesian AlexNet (VI, local reparameterization), unpruned "
        f"| {unpruned['non_zero_parameters']:,} | {_percent(unpruned['accuracy'])} "
        f"| {unpruned['nll']:.4f} | {_paper_percent(paper['bayesian'])} |",
    ]
    if frequentist:
        out.append(
            f"| Frequentist AlexNet (`alexnet_frequentist_cifar10`, {frequentist['epochs']} "
            f"of {frequentist['card_epochs']} epochs) | {frequentist['parameters']:,} "
            f"| {_percent(frequentist['accuracy'])} | {frequentist['nll']:.4f} "
            f"| {_paper_percent(paper['frequentist'])} |")
    else:
        out.append(f"| Frequentist AlexNet (not trained: its parameter count only) "
                   f"| {counts['frequentist']:,} | – | – "
                   f"| {_paper_percent(paper['frequentist'])} |")
    out += [
        f"| Bayesian AlexNet, L1-pruned ({fraction:.1%} of each kernel), no retraining "
        f"| {l1['non_zero_parameters']:,} | {_percent(l1['accuracy'])} | {l1['nll']:.4f} "
        f"| {_paper_percent(paper['l1_pruned'])} |",
        f"| the same, trained on for {finetune_what} with the pruned weights held at zero "
        f"| {finetuned['non_zero_parameters']:,} | {_percent(finetuned['accuracy'])} "
        f"| {finetuned['nll']:.4f} | – |",
        f"| Bayesian AlexNet, signal-to-noise-pruned (same fraction), no retraining "
        f"| {snr['non_zero_parameters']:,} | {_percent(snr['accuracy'])} "
        f"| {snr['nll']:.4f} | – |",
        "",
        f"Fine-tuning: the card's optimizer ({finetuned['optimizer']}, learning rate "
        f"{finetuned['learning_rate']:g}, a fresh optimizer state), batch size "
        f"{finetuned['batch_size']}, its KL schedule ({finetuned['kl_schedule']}), "
        f"{finetuned['train_samples']} weight sample(s) per step{samples_note}, on the "
        f"training split "
        f"(the pruned weights held at zero); final "
        f"training loss {finetuned['final_train_loss']:.4f}, training accuracy "
        f"{_percent(finetuned['final_train_accuracy'])}.",
        "",
        "Per layer: percentiles of the trained posterior means |μ| and of log α "
        "(σ² = α μ²), the |μ| up to which L1 pruning removed weights, the share of the "
        "layer's L1 mass Σ|μ| it removed, and the fraction one global |μ| threshold "
        f"({record['global_threshold']:.4f}) with the same total would prune instead.",
        "",
        "| layer | weights | \\|μ\\| p10 / p50 / p90 | log α p10 / p50 / p90 | L1 cut at \\|μ\\| "
        "| pruned | Σ\\|μ\\| removed | pruned by a global threshold |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for layer in record["layers"]:
        out.append(
            f"| {layer['name']} | {layer['num_weights']:,} "
            f"| {_triple(layer['abs_mu_percentiles'])} "
            f"| {_triple(layer['log_alpha_percentiles'])} | {layer['l1_threshold']:.4f} "
            f"| {_percent(layer['fraction_pruned'])} | {_percent(layer['l1_mass_pruned'])} "
            f"| {_percent(layer['global_threshold_fraction'])} |")
    sweep = record["sweep"]
    out += [
        "",
        f"Accuracy against the fraction of each kernel pruned (no retraining; T = "
        f"{sweep['num_samples']}, a fixed random {sweep['num_examples']:,} of the test "
        f"images, so these differ from the table's by Monte Carlo and subset noise):",
        "",
        "| criterion | " + " | ".join(f"{f:.0%}" for f in sweep["fractions"]) + " |",
        "|---|" + "---|" * len(sweep["fractions"]),
    ]
    for criterion in _SWEEP_CRITERIA:
        out.append(f"| {_CRITERION_NAMES[criterion].replace('|', BACKSLASH_PIPE)} | "
                   + " | ".join(_percent(a) for a in sweep[criterion]) + " |")
    out += ["", *_interpretation(record), ""]
    links = ", ".join(f"[{os.path.basename(path)}]({os.path.relpath(path, 'benchmarks')})"
                      for path in record["plots"])
    out += [
        f"Plots: {links}.",
        "",
        f"Command: `{record['command']}` (measured {record['measured']} on "
        f"{record['machine']}; the experiment took {_duration(record['seconds'])}).",
    ]
    return out


def _duration(seconds):
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def _interpretation(record):
    """What the numbers say, as paragraphs (lines); each claim follows from the record."""
    results, model, layers = record["results"], record["model"], record["layers"]
    unpruned, l1 = results["unpruned"], results["l1"]
    finetuned, snr = results["l1_finetuned"], results["signal_to_noise"]
    lost = unpruned["accuracy"] - l1["accuracy"]
    paper_lost = record["paper"]["bayesian"] - record["paper"]["l1_pruned"]
    undertrained = model.get("epochs") is not None and model["epochs"] < model["card_epochs"]
    reproduced = lost <= paper_lost + 0.01
    verdict = (
        f"L1 pruning without retraining changed the test accuracy by "
        f"{_points(-lost)} points ({_percent(unpruned['accuracy'])} → "
        f"{_percent(l1['accuracy'])}); the paper reports {_points(-paper_lost)} "
        f"(73% → 71%). ")
    verdict += ("The paper's finding, that pruning to the frequentist budget costs little "
                "accuracy, is reproduced in this respect" if reproduced
                else "The paper's small drop is not reproduced")
    if undertrained:
        verdict += (f", on a model trained for {model['epochs']} of the card's "
                    f"{model['card_epochs']} epochs")
    regained = finetuned["accuracy"] - l1["accuracy"]
    verdict += (f". Training the pruned model on ({finetuned['epochs']} epoch(s) of "
                f"{finetuned['steps_per_epoch']} batches) changed it by {_points(regained)} "
                f"points, to {_percent(finetuned['accuracy'])}")
    verdict += (" (its training loss is dominated by the KL term, which the Blundell "
                "schedule weights heavily on an epoch's first batches, and includes a "
                "constant KL of the pruned weights, whose spread is floored at 1e-6)."
                if finetuned.get("kl_schedule") == "blundell" else ".")
    lines = [verdict, ""]

    medians = [layer["abs_mu_percentiles"][1] for layer in layers]
    lows = [layer["abs_mu_percentiles"][0] for layer in layers]
    cuts = [layer["l1_threshold"] for layer in layers]
    removed = [layer["l1_mass_pruned"] for layer in layers]
    near_zero = [layer.get("near_zero_share") for layer in layers]
    initial = record.get("initial_abs_mu_percentiles")
    shares = record.get("initial_shares") or {}
    text = (("Why: " if not reproduced else "The posterior means: ")
            + f"per layer the median |μ| is {_span(medians, '.3f')} and the 10th "
            f"percentile {_span(lows, '.3f')}")
    if initial:
        text += (f"; the card's N(0, {model['initial_loc_stddev']:g}) initialisation of the "
                 f"means has {_triple(initial)} at the 10th / 50th / 90th percentiles")
        drift = max(abs(m / initial[1] - 1.0) for m in medians)
        text += (", so the means still sit close to their initial spread" if drift < 0.25
                 else f", from which the medians moved by up to {drift:.0%}")
    if None not in near_zero:
        scale = layers[0]["prior_stddev"]
        text += (f". {_span(near_zero, '.1%')} of a layer's means have "
                 f"|μ| < {NEAR_ZERO * scale:g}")
        if "near_zero" in shares:
            text += f" ({shares['near_zero']:.1%} at initialisation)"
        if max(near_zero) < 0.2:
            text += ": there is no cluster of (near-)zero weights to remove"
            if "near_zero" in shares and max(near_zero) < shares["near_zero"]:
                text += ", and training has moved means away from zero, not towards it"
    text += (f". Cutting {record['fraction']:.1%} of each kernel removes weights up to "
             f"|μ| = {_span(cuts, '.3f')}, and {_span(removed, '.0%')} of each layer's L1 mass "
             f"Σ|μ|.")
    lines += [text, ""]

    kl = [layer["kl_minimiser"] for layer in layers if layer.get("kl_minimiser") is not None]
    if kl:
        prior = layers[0]["prior_stddev"]
        at_minimiser = [(layer["at_kl_minimiser_share"], layer["name"]) for layer in layers]
        most, most_name = max(at_minimiser)
        text = (
            f"The model's regulariser is the ELBO's KL(q‖p) with the prior p = N(0, {prior:g}) "
            f"and the paper's multiplicative posterior q = N(μ, αμ²): per weight KL = "
            f"log(s/σ) + (σ² + μ²)/(2s²) − ½ with σ² = αμ², s = {prior:g}, which at fixed α is "
            f"smallest at |μ| = s/√(1+α) ({_span(kl, '.4f')} at the layers' median "
            f"log α) and grows like −log|μ| as μ → 0. The KL term pulls |μ| towards the "
            f"prior's scale, not towards zero, and the likelihood has no preference for zero "
            f"weights. The histograms show it: {most:.1%} of {most_name}'s means lie within "
            f"{NEAR_MINIMISER:.0%} of s/√(1+α)")
        if "at_kl_minimiser" in shares:
            text += f" ({shares['at_kl_minimiser']:.1%} at initialisation)"
        text += (
            ". The paper's section 5.7.2 says \"L1 norm induces sparsity in the trained model "
            "parameters and sets some values to zero\" and then removes \"the zero-valued "
            "parameters\" of an early-stopped model, which we read as training with an L1 term "
            "that drives weights to zero before pruning; the card's objective (the ELBO alone) "
            "has none, so here pruning has to remove weights that carry signal.")
        lines += [text, ""]
        alphas = [layer["log_alpha_percentiles"] for layer in layers]
        spread = max(a[2] - a[0] for a in alphas)
        overlaps = [layer.get("signal_to_noise_overlap_with_l1") for layer in layers]
        text = (
            f"Signal-to-noise pruning: σ = √(αμ² + 10⁻¹²) (the posterior's 1e-6 floor), so "
            f"|μ|/σ = (α + 10⁻¹²/μ²)^−½, which ranks weights by α and, where α varies little, "
            f"by the floor's term 10⁻¹²/μ² (small |μ| first). The trained log α lie between "
            f"{min(a[0] for a in alphas):.3f} and {max(a[2] for a in alphas):.3f} (10th to "
            f"90th percentile over the layers; within a layer they span at most {spread:.2g}; "
            f"initial value −10). Of the weights it pruned, {_percent(snr['overlap_with_l1'])} "
            f"are among those L1 pruned ({record['fraction']:.0%} by chance")
        if None not in overlaps:
            text += f"; per layer {_span(overlaps, '.0%')}"
        text += f"); its accuracy: {_percent(snr['accuracy'])}."
        lines.append(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


EXPERIMENTS = {NAME: (TITLE, run, markdown)}


# ---------------------------------------------------------------------------
# A development run from the command line.


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--data-dir", help="folder holding the datasets (bz.data)")
    parser.add_argument("--scratch-dir", default=os.path.join(tempfile.gettempdir(),
                                                              "bayes_zoo_data"),
                        help="where to extract the CIFAR-10 JPEG archive")
    parser.add_argument("--batch-size", type=int, default=128,
                        help="test images per Monte Carlo graph call")
    parser.add_argument("--finetune-epochs", type=int, default=DEFAULT_FINETUNE_EPOCHS)
    parser.add_argument("--finetune-steps", type=int,
                        help="training batches per fine-tuning epoch (default: all)")
    parser.add_argument("--max-test-examples", type=int,
                        help="a fixed random subset of the test split (default: all)")
    parser.add_argument("--num-samples", type=int, help="Monte Carlo samples (default: card's)")
    parser.add_argument("--sweep-samples", type=int, default=DEFAULT_SWEEP_SAMPLES)
    parser.add_argument("--sweep-examples", type=int, default=DEFAULT_SWEEP_EXAMPLES)
    parser.add_argument("--output-dir", default=OUTPUT_FOLDER, help="where the figures go")
    parser.add_argument("--json", help="also write the record to this file")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    record = run(args)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as file:
            json.dump(record, file, indent=2, sort_keys=True, ensure_ascii=False)
            file.write("\n")
    print("\n".join(markdown(record)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
