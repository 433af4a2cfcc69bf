"""`bayes-zoo demo`: a Bayesian CNN trained offline, and its uncertainty on strange inputs.

The demo trains the zoo card `demo_lrt_digits` (a LeNet-5 with the local
reparameterization trick) on the handwritten digits bundled with
scikit-learn, so it needs no download and no data files, and takes about a
minute on two CPU cores. It then predicts with 25 Monte Carlo samples on
three kinds of input:

- the held-out test digits (like the training data),
- the same digits rotated by 90 degrees (digit-like strokes in poses never
  seen in training),
- uniform noise (nothing like a digit),

and prints, for each, the accuracy and the mean uncertainties: the
predictive entropy, its aleatoric and epistemic parts (Kwon et al., the
paper's), and the mutual information (Depeweg et al.'s epistemic). A model
that knows what it does not know has a higher epistemic uncertainty on the
rotated digits than on the test digits. The histograms of the scores and a
grid of example inputs are written as PNGs.
"""

import dataclasses
import os
import time

import numpy as np

# TensorFlow, Keras and matplotlib are imported where the demo runs, so that
# `bayes-zoo --help` (which shows this module's flags) starts at once.

CARD = "demo_lrt_digits"
# `--quick`: a smoke run of the whole demo, for tests.
QUICK_EPOCHS = 2
QUICK_SAMPLES = 5
DEFAULT_OUTPUT = "bayes_zoo_demo"
# Per-example scores shown in the table and the histograms, by their name
# in `UncertaintyResult`.
SCORES = ("predictive_entropy", "aleatoric", "epistemic", "mutual_information")
# The histograms' panels: the predictive entropy and Kwon et al.'s split.
_PLOTTED = {"predictive_entropy": "predictive entropy", "aleatoric": "aleatoric",
            "epistemic": "epistemic"}
_EXAMPLES_PER_ROW = 8


@dataclasses.dataclass
class DemoResult:
    """What `run_demo` returns.

    Attributes:
        rows: dict from an input kind (`"test digits"`, `"rotated digits"`,
            `"uniform noise"`) to a dict with `n`, `accuracy` (None for
            noise, which has no label) and the mean of each of `SCORES`.
        test_metrics: dict, the trainer's held-out test metrics.
        plots: list of the PNG files written.
        output_dir: str, where the run and the plots are.
        seconds: float, the demo's wall time.
    """

    rows: dict
    test_metrics: dict
    plots: list
    output_dir: str
    seconds: float


def strange_inputs(images, seed=0):
    """Inputs unlike the training digits: the images rotated by 90 degrees, and noise.

    Args:
        images: float array `[N, height, width, channels]` in [0, 1].
        seed: int, seeds the noise.

    Returns:
        A dict `{"rotated digits": ..., "uniform noise": ...}` of arrays shaped
        like `images`.

    Example:

    >>> x_test, y_test = bz.data.load_arrays("digits", "test", image_size=(32, 32))
    >>> strange = bz.demo.strange_inputs(x_test)
    """
    images = np.asarray(images, dtype="float32")
    return {
        "rotated digits": np.ascontiguousarray(np.rot90(images, k=1, axes=(1, 2))),
        "uniform noise": np.random.default_rng(seed).uniform(size=images.shape).astype("float32"),
    }


def _row(result, labels):
    row = {"n": int(len(result.predicted_class))}
    row["accuracy"] = None if labels is None else float(np.mean(result.predicted_class == labels))
    row.update({score: float(np.mean(getattr(result, score))) for score in SCORES})
    return row


def format_table(rows):
    """The demo's table as text, one line per input kind.

    Example:

    >>> print(bz.demo.format_table(result.rows))
    """
    headers = ("inputs", "n", "accuracy", "pred. entropy", "aleatoric", "epistemic",
               "mutual info")
    lines = [f"{headers[0]:<16}{headers[1]:>6}{headers[2]:>10}"
             + "".join(f"{h:>15}" for h in headers[3:])]
    for name, row in rows.items():
        accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.1%}"
        lines.append(f"{name:<16}{row['n']:>6}{accuracy:>10}"
                     + "".join(f"{row[score]:>15.4f}" for score in SCORES))
    return "\n".join(lines)


def _example_grid(inputs, results, path):
    """A grid of a few inputs of each kind, titled with prediction and epistemic uncertainty."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1.5 * _EXAMPLES_PER_ROW, 1.9 * len(inputs)))
    axes = figure.subplots(len(inputs), _EXAMPLES_PER_ROW, squeeze=False)
    for row_axes, (name, images) in zip(axes, inputs.items()):
        result = results[name]
        for column, axis in enumerate(row_axes):
            axis.imshow(images[column, ..., 0], cmap="gray_r", vmin=0.0, vmax=1.0)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(
                f"{result.predicted_class[column]} "
                f"(p={result.probabilities[column].max():.2f})\n"
                f"epi {result.epistemic[column]:.3f}",
                fontsize=8,
            )
        row_axes[0].set_ylabel(name, fontsize=9)
    figure.suptitle("Predicted class (mean probability) and epistemic uncertainty")
    figure.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=100)
    return path


def _say(verbose, message):
    if verbose:
        print(message, flush=True)


def run_demo(epochs=None, quick=False, output_dir=DEFAULT_OUTPUT, seed=0, verbose=1):
    """Trains the demo's Bayesian CNN and shows its uncertainty on strange inputs.

    Args:
        epochs: positive int, overrides the card's 20 epochs.
        quick: bool, a smoke run of `QUICK_EPOCHS` epochs and
            `QUICK_SAMPLES` Monte Carlo samples (for tests); the numbers are
            then those of a barely trained network.
        output_dir: folder for the training run (checkpoints, CSV log,
            `model.keras`, `metrics.json`) and the PNGs. An earlier demo run
            there is started afresh, not resumed.
        seed: int, seeds the weights, the data order, the noise inputs.
        verbose: 0 (silent) or 1 (progress, the table, the files written).

    Returns:
        A `DemoResult`.

    Example:

    >>> result = bz.demo.run_demo()
    >>> result.rows["rotated digits"]["epistemic"] > result.rows["test digits"]["epistemic"]
    True
    """
    from bayes_zoo import data
    from bayes_zoo import plots
    from bayes_zoo import trainer
    from bayes_zoo import zoo
    from bayes_zoo.uncertainty import predict_with_uncertainty

    if epochs is not None and quick:
        raise ValueError(
            f"Pass `epochs` or `quick`, not both. Received: epochs={epochs}, quick=True")
    start = time.perf_counter()
    card = zoo.card(CARD)
    num_samples = QUICK_SAMPLES if quick else card.evaluation.num_samples
    run = trainer.train(
        card,
        epochs=QUICK_EPOCHS if quick else epochs,
        num_samples=num_samples,
        output_dir=output_dir,
        seed=seed,
        resume=False,
        verbose=verbose,
    )
    images, labels = data.load_arrays(
        card.dataset,
        "test",
        seed=seed,
        validation_fraction=card.data.validation_fraction,
        image_size=card.data.image_size,
    )
    inputs = {"test digits": images, **strange_inputs(images, seed=seed)}
    results = {
        name: predict_with_uncertainty(run.model, x, num_samples=num_samples)
        for name, x in inputs.items()
    }
    rows = {
        name: _row(result, labels if name != "uniform noise" else None)
        for name, result in results.items()
    }
    written = [
        plots.uncertainty_histograms(
            {_PLOTTED[score]: getattr(results["test digits"], score) for score in _PLOTTED},
            {_PLOTTED[score]: getattr(results[name], score) for score in _PLOTTED},
            os.path.join(run.output_dir, filename),
            title=f"Test digits (blue) against {name} (orange), "
                  f"{num_samples} MC samples",
            in_name="test digits", out_name=name,
        )
        for name, filename in (("rotated digits", "uncertainty_rotated.png"),
                               ("uniform noise", "uncertainty_noise.png"))
    ]
    written.append(_example_grid(inputs, results, os.path.join(run.output_dir, "examples.png")))
    seconds = time.perf_counter() - start

    _say(verbose, "")
    _say(verbose, format_table(rows))
    test_epistemic = rows["test digits"]["epistemic"]
    for name in ("rotated digits", "uniform noise"):
        ratio = rows[name]["epistemic"] / test_epistemic if test_epistemic > 0 else float("inf")
        _say(verbose, f"Epistemic uncertainty on {name}: {ratio:.1f}x that on test digits.")
    _say(verbose, "Plots: " + ", ".join(written))
    _say(verbose, f"Demo done in {seconds:.0f} s.")
    return DemoResult(rows=rows, test_metrics=run.metrics, plots=written,
                      output_dir=run.output_dir, seconds=seconds)
