"""A trained classifier's evaluation as the field reports it, numbers and figures.

`evaluate(model, test_data, ood_data=...)` runs Monte Carlo prediction
(`bz.predict_with_uncertainty`) on the test examples, and on
out-of-distribution (OOD) images when given, and hands the predictions to
`evaluate_predictions`, which computes the numbers with `bz.metrics` and,
given an `output_dir`, writes there:

- `reliability_diagram.png`: accuracy against confidence, with the ECE;
- `uncertainty_histograms.png`: the per-example uncertainties (aleatoric,
  epistemic, predictive entropy, mutual information), in- against
  out-of-distribution when OOD data is given;
- `accuracy_vs_samples.png`: accuracy and NLL of the Monte Carlo average of
  the first t samples against t (Gal & Ghahramani's convergence figure),
  with the spread of the accuracy over other draws of t of the samples;
- `accuracy_coverage.csv`: accuracy of the predictions kept when the most
  uncertain (by predictive entropy) are rejected, one row per threshold;
- `evaluation.json`: every number below.

The returned dict, and `evaluation.json`, hold:

- `accuracy`, `nll` (nats), `ece` (`num_bins` equal-width bins), `brier`
  (the multi-class Brier score, in [0, 2]): of the mean predictive
  probabilities;
- `aleatoric`, `epistemic` (Kwon et al., the per-example traces),
  `predictive_entropy`, `expected_entropy`, `mutual_information` (Depeweg et
  al., nats): means over the test examples;
- `num_examples`, `num_samples`, `num_bins`;
- `sample_size_curve`: `num_samples`, `accuracy`, `nll` lists
  (`bz.metrics.sample_size_curve`), and `accuracy_std`, `nll_std`: their
  standard deviations over `SPREAD_ORDERINGS` random orders of the samples
  (how much a draw of t samples moves them; 0 at t = T, where every order
  averages the same samples), or None without the samples;
- `accuracy_coverage`: `uncertainty` (the score used), and `coverage` /
  `accuracy` lists at the coverages of `COVERAGE_LEVELS`;
- `ood`: None, or `num_examples`, `mean` (the five mean uncertainties on the
  OOD images) and `detection`: for each score of `OOD_SCORES`, its `auroc`,
  `aupr` and `fpr_at_95_tpr` (`bz.metrics.ood_detection`, OOD positive);
- `files`: the files written, by kind, relative to `output_dir`;
- `machine`: where it ran (`machine_description`);
- `prediction_seconds` (from `evaluate` only), and whatever `metadata` adds
  (the CLI adds the command, the model, the datasets and their sources).

```python
results = bz.evaluation.evaluate(model, (x_test, y_test), num_samples=25,
                                 ood_data=x_ood, output_dir="eval")
print(bz.evaluation.summary_table(results))
```
"""

import csv
import dataclasses
import json
import os
import platform
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from bayes_zoo import data
from bayes_zoo import metrics
from bayes_zoo import plots
from bayes_zoo.uncertainty import UncertaintyResult
from bayes_zoo.uncertainty import predict_with_uncertainty

RESULTS_FILE = "evaluation.json"
RELIABILITY_FILE = "reliability_diagram.png"
HISTOGRAMS_FILE = "uncertainty_histograms.png"
SAMPLES_FILE = "accuracy_vs_samples.png"
COVERAGE_FILE = "accuracy_coverage.csv"

# Gal & Ghahramani's figure steps through 1 .. 100 samples on a log axis;
# counts above `num_samples` are dropped and `num_samples` itself is added.
DEFAULT_SAMPLE_COUNTS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
# The per-example uncertainties averaged and drawn, `UncertaintyResult` fields.
UNCERTAINTIES = (
    "aleatoric", "epistemic", "predictive_entropy", "expected_entropy", "mutual_information",
)
# The scores that flag OOD images: the total uncertainty, and the two
# epistemic measures (Depeweg's mutual information, Kwon's variance).
OOD_SCORES = ("predictive_entropy", "mutual_information", "epistemic")
# Expected entropy is predictive entropy less mutual information: no panel.
_HISTOGRAM_SCORES = ("aleatoric", "epistemic", "predictive_entropy", "mutual_information")
# Selective prediction by predictive entropy, summarised at these coverages.
COVERAGE_UNCERTAINTY = "predictive_entropy"
COVERAGE_LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
# The sample-size curve's spread: this many seeded random orders of the samples.
SPREAD_ORDERINGS = 20

_TABLE_ROWS = (
    ("accuracy", "accuracy"),
    ("nll", "NLL (nats)"),
    ("ece", "ECE"),
    ("brier", "Brier score"),
    ("aleatoric", "mean aleatoric (Kwon)"),
    ("epistemic", "mean epistemic (Kwon)"),
    ("mutual_information", "mean mutual information (nats)"),
)
_SCORE_NAMES = {
    "predictive_entropy": "predictive entropy",
    "mutual_information": "mutual information",
    "epistemic": "epistemic (Kwon)",
}


@dataclasses.dataclass
class TestSplit:
    """A dataset's official test split, shaped for a model.

    Attributes:
        dataset: str, the dataset's name.
        images: float32 array `[N, height, width, channels]` in [0, 1].
        labels: int32 array `[N]`.
        source: str, where the images were read from, and how they were
            changed to fit the model.
    """

    # Not a test class, whatever pytest's name-based collection thinks.
    __test__ = False

    dataset: str
    images: np.ndarray
    labels: np.ndarray
    source: str


def _model_input(model):
    """`(height, width, channels)` and the number of classes of an image classifier."""
    input_shape = tuple(model.input_shape)
    if len(input_shape) != 4 or None in input_shape[1:]:
        raise ValueError(
            "Evaluation needs a model of images [batch, height, width, channels] with a "
            f"fixed size. Received a model with input shape {input_shape}"
        )
    return input_shape[1:], model.output_shape[-1]


def load_test_split(name, model, *, data_dir=None, max_examples=None,
                    out_of_distribution=False):
    """The official test split of a dataset (`bz.data`), at a model's input size.

    Images are padded or resized to the model's height and width as
    `bz.data.load` does. In-distribution data must match the model's
    channels and number of classes. Out-of-distribution images are only
    images: RGB ones are converted to grayscale for a one-channel model and
    grayscale ones repeated over three channels for an RGB model.

    Args:
        name: str, one of `bz.data.DATASETS`.
        model: the Keras classifier to be evaluated.
        data_dir: None or the folder holding the dataset (see `bz.data`).
        max_examples: None or a positive int: a fixed random subset (seed 0,
            kept in the split's order) of at most this many examples, for a
            quick run (some sources list the test split sorted by class).
        out_of_distribution: bool, load the images as OOD data.

    Returns:
        A `TestSplit`.

    Raises:
        ValueError: a bad argument, or a dataset that does not fit the model.
        FileNotFoundError: the dataset is in none of `bz.data`'s sources.

    Example:

    >>> ood = bz.evaluation.load_test_split("fashion_mnist", mnist_model,
    ...                                     data_dir="/data", out_of_distribution=True)
    >>> ood.images.shape
    (10000, 32, 32, 1)
    """
    (height, width, channels), num_classes = _model_input(model)
    if max_examples is not None and (
        isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1
    ):
        raise ValueError(
            "Argument `max_examples` must be None or a positive integer. "
            f"Received: max_examples={max_examples!r}"
        )
    info = data.dataset_info(name, (height, width))
    data_channels = info.image_shape[-1]
    if not out_of_distribution:
        if data_channels != channels or info.num_classes != num_classes:
            raise ValueError(
                f"The model takes {channels}-channel images and predicts {num_classes} "
                f"classes, but '{name}' has {data_channels}-channel images of "
                f"{info.num_classes} classes. Fix: evaluate on the dataset the model was "
                "trained on (--dataset)."
            )
    elif {data_channels, channels} != {1, 3} and data_channels != channels:
        raise ValueError(
            f"Cannot show '{name}' ({data_channels}-channel images) to a model of "
            f"{channels}-channel images as out-of-distribution data."
        )
    images, labels = data.load_arrays(name, "test", data_dir=data_dir, image_size=(height, width))
    source = data.source_description(name, data_dir=data_dir)
    if max_examples is not None and max_examples < len(images):
        kept = np.sort(np.random.default_rng(0).choice(len(images), max_examples, replace=False))
        images, labels = images[kept], labels[kept]
        source += f" (a fixed random {max_examples} of its test examples)"
    if data_channels != channels:
        if channels == 1:
            images = tf.image.rgb_to_grayscale(images).numpy()
            source += " (converted to grayscale)"
        else:
            images = np.repeat(images, 3, axis=-1)
            source += " (grayscale repeated over RGB)"
    return TestSplit(dataset=name, images=images, labels=labels, source=source)


# ---------------------------------------------------------------------------
# Argument checks.


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"Argument `{name}` must be a positive integer. Received: {name}={value!r}")


def _check_sample_counts(sample_counts):
    counts = np.asarray(sample_counts)
    if (
        counts.ndim != 1
        or counts.size == 0
        or not np.issubdtype(counts.dtype, np.integer)
        or counts.min() < 1
    ):
        raise ValueError(
            "Argument `sample_counts` must be a non-empty list of positive integers. "
            f"Received: sample_counts={sample_counts!r}"
        )
    return counts


def _check_output_dir(output_dir):
    if output_dir is None:
        return None
    output_dir = os.fspath(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(
            f"Argument `output_dir` must be a folder, but {output_dir} is a file. "
            "Fix: pass a new or existing folder."
        )
    return output_dir


def _check_metadata(metadata):
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValueError(
            f"Argument `metadata` must be a dict. Received: {type(metadata).__name__}"
        )
    return dict(metadata)


def _as_test_arrays(test_data, batch_size):
    """`(images, labels)` arrays from a pair of arrays or a `tf.data.Dataset` of pairs."""
    if isinstance(test_data, tf.data.Dataset):
        spec = test_data.element_spec
        if not isinstance(spec, tuple) or len(spec) < 2:
            raise ValueError(
                "A dataset `test_data` must yield (images, labels) pairs. "
                f"Received: element_spec={spec}"
            )
        if spec[1].shape.rank == 0:
            test_data = test_data.batch(batch_size)
        images, labels = [], []
        for element in test_data:
            images.append(np.asarray(element[0]))
            labels.append(np.asarray(element[1]))
        if not images:
            raise ValueError("Argument `test_data` holds no examples.")
        images, labels = np.concatenate(images), np.concatenate(labels)
    elif isinstance(test_data, (tuple, list)) and len(test_data) == 2:
        images, labels = (np.asarray(part) for part in test_data)
    else:
        raise ValueError(
            "Argument `test_data` must be (images, labels) arrays or a tf.data.Dataset of "
            f"(images, labels) batches. Received: {type(test_data).__name__}"
        )
    labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            "Argument `test_data` must hold one integer label per image. Received "
            f"images.shape={images.shape} and labels.shape={labels.shape}"
        )
    return images, labels


def _as_images(ood_data):
    """OOD images: an array, a pair whose labels are ignored, or a dataset (tf.data)."""
    if isinstance(ood_data, (tuple, list)) and len(ood_data) == 2:
        return ood_data[0]
    return ood_data


# ---------------------------------------------------------------------------
# Monte Carlo prediction, with progress.


def _predict(model, x, *, num_samples, batch_size, mode, keep_samples, description, verbose):
    """`predict_with_uncertainty` one batch at a time, with a progress bar."""
    if isinstance(x, tf.data.Dataset) or not verbose:
        return predict_with_uncertainty(model, x, num_samples=num_samples,
                                        batch_size=batch_size, mode=mode,
                                        keep_samples=keep_samples)
    x = np.asarray(x)
    print(f"{description}: {len(x)} examples, {num_samples} Monte Carlo samples each",
          flush=True)
    # Redraw often on a terminal; in a log, a line every few seconds.
    progress = keras.utils.Progbar(len(x), unit_name="example",
                                   interval=0.05 if sys.stdout.isatty() else 5.0)
    parts = []
    for start in range(0, len(x), batch_size):
        parts.append(predict_with_uncertainty(
            model, x[start:start + batch_size], num_samples=num_samples,
            batch_size=batch_size, mode=mode, keep_samples=keep_samples,
        ))
        progress.update(min(start + batch_size, len(x)))
    if not parts:
        raise ValueError("Argument `x` holds no examples.")
    return UncertaintyResult(**{
        field.name: (
            None if getattr(parts[0], field.name) is None
            else np.concatenate([getattr(part, field.name) for part in parts],
                                axis=1 if field.name == "sample_probabilities" else 0)
        )
        for field in dataclasses.fields(UncertaintyResult)
    })


# ---------------------------------------------------------------------------
# The numbers and the files.


def machine_description():
    """Where an evaluation ran: host, platform, CPUs, accelerators, library versions.

    Returns:
        A dict of JSON-ready values.

    Example:

    >>> bz.evaluation.machine_description()["accelerators"]
    ['NVIDIA H100 80GB HBM3']
    """
    accelerators = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        accelerators.append(details.get("device_name", device.name))
    from bayes_zoo import __version__

    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "accelerators": accelerators,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "bayes_zoo": __version__,
    }


def _mean_uncertainties(result):
    return {name: float(np.mean(getattr(result, name))) for name in UNCERTAINTIES}


def _coverage_summary(curve):
    """Accuracy at each of `COVERAGE_LEVELS`: keeping the fewest examples that reach it."""
    summary = {"uncertainty": COVERAGE_UNCERTAINTY, "coverage": [], "accuracy": []}
    for level in COVERAGE_LEVELS:
        # Tied uncertainties are kept together, so the point may overshoot the level.
        index = int(np.argmax(curve["coverage"] >= level - 1e-12))
        summary["coverage"].append(float(curve["coverage"][index]))
        summary["accuracy"].append(float(curve["accuracy"][index]))
    return summary


def _write_coverage_csv(path, curve):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["coverage", "accuracy", f"max_{COVERAGE_UNCERTAINTY}"])
        for row in zip(curve["coverage"], curve["accuracy"], curve["threshold"]):
            writer.writerow([repr(float(value)) for value in row])


def _sample_size_spread(labels, samples, points):
    """Standard deviations of the sample-size curve over random orders of the samples."""
    rng = np.random.default_rng(0)
    curves = [metrics.sample_size_curve(labels, samples[rng.permutation(len(samples))], points)
              for _ in range(SPREAD_ORDERINGS)]
    return {f"{key}_std": np.std([curve[key] for curve in curves], axis=0).tolist()
            for key in ("accuracy", "nll")}


def evaluate_predictions(
    labels,
    result,
    *,
    ood_result=None,
    output_dir=None,
    sample_counts=DEFAULT_SAMPLE_COUNTS,
    num_bins=15,
    title=None,
    metadata=None,
    in_name=None,
    ood_name=None,
):
    """The evaluation numbers (and files) of Monte Carlo predictions already made.

    Args:
        labels: integer array `[N]`, the test labels.
        result: the `UncertaintyResult` of the test images; with
            `sample_probabilities` (`keep_samples=True`) for the sample-size
            curve, which is left out (None) without them.
        ood_result: None, or the `UncertaintyResult` of OOD images.
        output_dir: None (compute only), or the folder to write the plots,
            the accuracy-coverage CSV and `evaluation.json` to (created if
            needed).
        sample_counts: positive ints, the points of the sample-size curve;
            those above the number of samples are dropped, and the number of
            samples is always a point.
        num_bins: positive int, the ECE's and the reliability diagram's bins.
        title: optional title of the figures.
        metadata: optional dict of JSON-ready values added to the results
            (the command, the dataset and its source, ...).
        in_name, ood_name: optional names of the test and OOD data (e.g.
            `"mnist test"`, `"fashion_mnist"`), shown in the histograms'
            legends.

    Returns:
        A dict, as the module docstring describes.

    Example:

    >>> result = bz.predict_with_uncertainty(model, x_test, 25, keep_samples=True)
    >>> bz.evaluation.evaluate_predictions(y_test, result)["ece"]
    """
    if not isinstance(result, UncertaintyResult):
        raise ValueError(
            "Argument `result` must be the UncertaintyResult of predict_with_uncertainty. "
            f"Received: {type(result).__name__}"
        )
    if ood_result is not None and not isinstance(ood_result, UncertaintyResult):
        raise ValueError(
            "Argument `ood_result` must be None or an UncertaintyResult. "
            f"Received: {type(ood_result).__name__}"
        )
    _check_positive_int("num_bins", num_bins)
    counts = _check_sample_counts(sample_counts)
    output_dir = _check_output_dir(output_dir)
    metadata = _check_metadata(metadata)
    probabilities = result.probabilities
    labels = np.asarray(labels)

    results = {
        "accuracy": metrics.accuracy(labels, probabilities),
        "nll": metrics.negative_log_likelihood(labels, probabilities),
        "ece": metrics.expected_calibration_error(labels, probabilities, num_bins),
        "brier": metrics.brier_score(labels, probabilities),
        **_mean_uncertainties(result),
        "num_examples": int(len(labels)),
        "num_samples": None,
        "num_bins": int(num_bins),
        "sample_size_curve": None,
    }
    samples = result.sample_probabilities
    if samples is not None:
        num_samples = samples.shape[0]
        results["num_samples"] = int(num_samples)
        points = sorted({int(count) for count in counts if count <= num_samples} | {num_samples})
        curve = metrics.sample_size_curve(labels, samples, points)
        results["sample_size_curve"] = {key: values.tolist() for key, values in curve.items()}
        results["sample_size_curve"].update(_sample_size_spread(labels, samples, points))
    coverage_curve = metrics.accuracy_coverage_curve(
        labels, probabilities, getattr(result, COVERAGE_UNCERTAINTY))
    results["accuracy_coverage"] = _coverage_summary(coverage_curve)
    results["ood"] = None
    if ood_result is not None:
        results["ood"] = {
            "num_examples": int(len(ood_result.probabilities)),
            "mean": _mean_uncertainties(ood_result),
            "detection": {
                score: metrics.ood_detection(getattr(result, score), getattr(ood_result, score))
                for score in OOD_SCORES
            },
        }

    clashes = sorted(set(metadata) & (set(results) | {"files", "machine"}))
    if clashes:
        raise ValueError(
            f"Argument `metadata` must not redefine the evaluation's own keys. Received: {clashes}"
        )
    results.update(metadata)
    results["machine"] = machine_description()
    results["files"] = {}
    if output_dir is not None:
        results["files"] = _write_figures(output_dir, labels, result, ood_result, results,
                                          coverage_curve, title, (in_name, ood_name))
        with open(os.path.join(output_dir, RESULTS_FILE), "w") as file:
            json.dump(results, file, indent=2)
            file.write("\n")
    return results


def _write_figures(output_dir, labels, result, ood_result, results, coverage_curve, title,
                   names):
    """Writes the plots and the CSV; returns the names of every file, by kind."""
    os.makedirs(output_dir, exist_ok=True)
    files = {"reliability_diagram": RELIABILITY_FILE, "uncertainty_histograms": HISTOGRAMS_FILE,
             "accuracy_coverage": COVERAGE_FILE}
    plots.reliability_diagram(labels, result.probabilities,
                              os.path.join(output_dir, RELIABILITY_FILE),
                              num_bins=results["num_bins"], title=title)
    plots.uncertainty_histograms(
        {name: getattr(result, name) for name in _HISTOGRAM_SCORES},
        None if ood_result is None
        else {name: getattr(ood_result, name) for name in _HISTOGRAM_SCORES},
        os.path.join(output_dir, HISTOGRAMS_FILE),
        title=title, in_name=names[0], out_name=names[1],
    )
    if results["sample_size_curve"] is not None:
        curve = results["sample_size_curve"]
        plots.accuracy_vs_samples(curve["num_samples"], curve["accuracy"],
                                  os.path.join(output_dir, SAMPLES_FILE), nll=curve["nll"],
                                  title=title, accuracy_std=curve["accuracy_std"],
                                  num_examples=results["num_examples"])
        files["accuracy_vs_samples"] = SAMPLES_FILE
    _write_coverage_csv(os.path.join(output_dir, COVERAGE_FILE), coverage_curve)
    files["results"] = RESULTS_FILE
    return files


def evaluate(
    model,
    test_data,
    *,
    num_samples=25,
    ood_data=None,
    output_dir=None,
    batch_size=128,
    sample_counts=DEFAULT_SAMPLE_COUNTS,
    num_bins=15,
    mode="softmax",
    title=None,
    metadata=None,
    in_name=None,
    ood_name=None,
    verbose=0,
):
    """Monte Carlo evaluation of a classifier on test (and OOD) data.

    Runs `bz.predict_with_uncertainty` (keeping the test samples for the
    sample-size curve, `[num_samples, N, C]` floats in memory), then
    `evaluate_predictions`.

    Args:
        model: a Keras classifier giving logits (lrt, bbb, flipout, MC
            dropout or frequentist).
        test_data: `(images, labels)` arrays, or a `tf.data.Dataset` of
            `(images, labels)` pairs (batched or not).
        num_samples: positive int, the Monte Carlo samples T.
        ood_data: None, or out-of-distribution images: an array, an
            `(images, labels)` pair (labels ignored) or a `tf.data.Dataset`
            of images or pairs.
        output_dir: None, or the folder to write the figures and
            `evaluation.json` to.
        batch_size: positive int, the examples per graph call.
        sample_counts, num_bins, title, metadata, in_name, ood_name: as in
            `evaluate_predictions`.
        mode: `"softmax"` or `"normalized"`, see `predict_with_uncertainty`.
        verbose: 0 (silent) or 1 (a progress bar per prediction pass).

    Returns:
        A dict, as the module docstring describes, with `prediction_seconds`.

    Example:

    >>> x_test, y_test = bz.data.load_arrays("digits", "test", image_size=(32, 32))
    >>> results = bz.evaluation.evaluate(model, (x_test, y_test), num_samples=25,
    ...                                  ood_data=np.rot90(x_test, axes=(1, 2)),
    ...                                  output_dir="eval")
    >>> results["ood"]["detection"]["mutual_information"]["auroc"]
    """
    _check_positive_int("num_samples", num_samples)
    _check_positive_int("batch_size", batch_size)
    _check_sample_counts(sample_counts)
    _check_output_dir(output_dir)
    metadata = _check_metadata(metadata)
    if "prediction_seconds" in metadata:
        raise ValueError("Argument `metadata` must not redefine 'prediction_seconds'.")
    images, labels = _as_test_arrays(test_data, batch_size)

    start = time.perf_counter()
    settings = dict(num_samples=num_samples, batch_size=batch_size, mode=mode, verbose=verbose)
    result = _predict(model, images, keep_samples=True, description="Test data", **settings)
    ood_result = None
    if ood_data is not None:
        ood_result = _predict(model, _as_images(ood_data), keep_samples=False,
                              description="Out-of-distribution data", **settings)
    metadata["prediction_seconds"] = round(time.perf_counter() - start, 3)
    return evaluate_predictions(
        labels, result, ood_result=ood_result, output_dir=output_dir,
        sample_counts=sample_counts, num_bins=num_bins, title=title, metadata=metadata,
        in_name=in_name, ood_name=ood_name,
    )


def _format_number(value):
    # Epistemic variances of a confident model are often below 1e-4: show
    # their size rather than 0.0000.
    return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.2e}"


def summary_table(results):
    """The headline numbers of `evaluate`'s results as a two-column text table.

    Args:
        results: the dict `evaluate` or `evaluate_predictions` returns.

    Returns:
        str, one row per number, without a trailing newline.

    Example:

    >>> print(bz.evaluation.summary_table(results))
    metric                                      value
    accuracy                                   0.9359
    ...
    """
    rows = [(label, _format_number(results[key])) for key, label in _TABLE_ROWS]
    rows[2] = (f"ECE ({results['num_bins']} bins)", rows[2][1])
    ood = results.get("ood")
    if ood is not None:
        for score in OOD_SCORES:
            detection = ood["detection"][score]
            name = _SCORE_NAMES[score]
            rows += [
                (f"OOD AUROC, {name}", _format_number(detection["auroc"])),
                (f"OOD AUPR, {name}", _format_number(detection["aupr"])),
                (f"OOD FPR@95%TPR, {name}", _format_number(detection["fpr_at_95_tpr"])),
            ]
    rows.insert(0, ("metric", "value"))
    label_width = max(len(label) for label, _ in rows)
    value_width = max(len(value) for _, value in rows)
    return "\n".join(f"{label:<{label_width}}  {value:>{value_width}}" for label, value in rows)
