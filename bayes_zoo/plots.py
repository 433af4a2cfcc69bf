"""Evaluation plots, written as PNG files.

Each function draws on its own `matplotlib.figure.Figure` with an Agg canvas,
so it works on headless machines and never touches pyplot's global state or
the user's chosen backend. Each writes one PNG (creating its folder if
needed) and returns the path it wrote.

- `reliability_diagram`: accuracy against confidence, with the ECE.
- `uncertainty_histograms`: aleatoric / epistemic / ... uncertainty on in- and
  out-of-distribution data, one panel per kind, with the OOD AUROC.
- `accuracy_vs_samples`: accuracy (and NLL) against the number of Monte Carlo
  samples, Gal & Ghahramani's convergence figure.
- `super_resolution_panels`: one photograph's LR input, bicubic, the model's SR, ground
  truth, and its predictive std and error maps.
- `posterior_stddev_over_epochs`: the posterior standard deviation of chosen
  weights over training (Shridhar et al., Figure 8), and optionally their
  Gaussian posteriors at a few epochs (Figure 9).
"""

import math
import os
from collections.abc import Mapping

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter

from bayes_zoo import metrics

_DPI = 120
_IN_COLOR = "tab:blue"
_OUT_COLOR = "tab:orange"
_HISTOGRAM_BINS = 40
# Beyond this many curves a legend covers the plot and says nothing readable.
_MAX_LEGEND_ENTRIES = 10
# Shridhar et al.'s Figure 9 shows the posterior at these epochs.
_PAPER_DENSITY_EPOCHS = (1, 5, 20, 50, 100)
# The accuracy axis of `accuracy_vs_samples` spans at least 2 points of
# accuracy: 200 of 10,000 test images, not the +-2 that noise moves.
_MIN_ACCURACY_SPAN = 0.02


def _check_png_path(path):
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() != ".png":
        raise ValueError(f"Argument `path` must name a .png file. Received: path={path!r}")
    return path


def _save(figure, path):
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=_DPI)
    return path


def reliability_diagram(labels, probabilities, path, num_bins=15, title=None):
    """Draws a reliability diagram with the expected calibration error.

    The top panel shows the accuracy in each equal-width confidence bin
    against the diagonal of perfect calibration, with the gap to the bin's
    mean confidence shaded; the bottom panel shows how many examples fall in
    each bin. The binning is `bz.metrics.reliability_diagram_data`'s.

    Args:
        labels: integer array `[N]` of class indices in `[0, C)`.
        probabilities: float array `[N, C]`, rows summing to one.
        path: where to write the PNG; must end in `.png`.
        num_bins: integer >= 1.
        title: optional figure title.

    Returns:
        The path written, as a string.

    Example:

    >>> bz.plots.reliability_diagram(labels, result.probabilities,
    ...                              "out/reliability.png", title="LeNet-5 LRT, MNIST")
    """
    path = _check_png_path(path)
    data = metrics.reliability_diagram_data(labels, probabilities, num_bins)
    ece = metrics.expected_calibration_error(labels, probabilities, num_bins)
    left_edges = data["bin_edges"][:-1]
    width = 1.0 / num_bins
    accuracy = np.nan_to_num(data["bin_accuracy"])
    confidence = np.nan_to_num(data["bin_confidence"])

    figure = Figure(figsize=(5.0, 6.0))
    top, bottom = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.bar(left_edges, accuracy, width=width, align="edge", color=_IN_COLOR,
            edgecolor="black", linewidth=0.5, label="accuracy")
    top.bar(left_edges, confidence - accuracy, bottom=accuracy, width=width, align="edge",
            color="tab:red", alpha=0.3, edgecolor="tab:red", hatch="//", linewidth=0.5,
            label="gap to mean confidence")
    top.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color="gray", label="perfect calibration")
    top.set_xlim(0.0, 1.0)
    top.set_ylim(0.0, 1.0)
    top.set_ylabel("accuracy")
    top.legend(loc="upper left")
    top.text(0.97, 0.05, f"ECE = {ece:.4f}\n({num_bins} bins)", transform=top.transAxes,
             ha="right", va="bottom", bbox={"facecolor": "white", "alpha": 0.8})

    bottom.bar(left_edges, data["bin_count"] / data["bin_count"].sum(), width=width,
               align="edge", color="gray", edgecolor="black", linewidth=0.5)
    bottom.set_xlabel("confidence (largest predicted probability)")
    bottom.set_ylabel("fraction of\nexamples")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def uncertainty_histograms(in_distribution, out_of_distribution, path, title=None,
                           in_name=None, out_name=None):
    """Histograms of uncertainty scores, in- against out-of-distribution.

    One panel per key of `in_distribution` (e.g. aleatoric and epistemic),
    normalised to densities so that data sets of different sizes compare.
    With out-of-distribution scores, each panel overlays them and reports the
    OOD AUROC of that score (`bz.metrics.ood_detection`).

    Args:
        in_distribution: dict from a score name to a 1-D array of per-example
            scores on in-distribution data.
        out_of_distribution: `None`, or a dict with the same keys holding the
            scores on out-of-distribution data.
        path: where to write the PNG; must end in `.png`.
        title: optional figure title.
        in_name, out_name: optional names of the two data sets (e.g.
            `"mnist test"`, `"fashion_mnist"`), shown in the legends.

    Returns:
        The path written, as a string.

    Example:

    >>> bz.plots.uncertainty_histograms(
    ...     {"aleatoric": mnist.aleatoric, "epistemic": mnist.epistemic},
    ...     {"aleatoric": notmnist.aleatoric, "epistemic": notmnist.epistemic},
    ...     "out/uncertainty.png", in_name="mnist test", out_name="notMNIST")
    """
    path = _check_png_path(path)
    in_label = "in-distribution" + (f": {in_name}" if in_name else "")
    out_label = "out-of-distribution" + (f": {out_name}" if out_name else "")
    if not isinstance(in_distribution, Mapping) or not in_distribution:
        raise ValueError(
            "Argument `in_distribution` must be a non-empty dict from score name to scores. "
            f"Received: in_distribution={type(in_distribution).__name__}"
        )
    if out_of_distribution is not None and (
        not isinstance(out_of_distribution, Mapping)
        or set(out_of_distribution) != set(in_distribution)
    ):
        received = (
            sorted(out_of_distribution)
            if isinstance(out_of_distribution, Mapping)
            else type(out_of_distribution).__name__
        )
        raise ValueError(
            "Argument `out_of_distribution` must be None or a dict with the keys of "
            f"`in_distribution`, {sorted(in_distribution)}. Received: {received}"
        )

    figure = Figure(figsize=(4.5 * len(in_distribution), 3.8))
    axes = figure.subplots(1, len(in_distribution), squeeze=False)[0]
    for axis, (name, scores_in) in zip(axes, in_distribution.items()):
        scores_in = metrics._check_1d(f"in_distribution[{name!r}]", scores_in)
        scores_out = None
        if out_of_distribution is not None:
            scores_out = metrics._check_1d(
                f"out_of_distribution[{name!r}]", out_of_distribution[name]
            )
        # Shared bin edges, so that the two histograms compare bar by bar.
        all_scores = scores_in if scores_out is None else np.concatenate([scores_in, scores_out])
        bins = np.histogram_bin_edges(all_scores, bins=_HISTOGRAM_BINS)
        axis.hist(scores_in, bins=bins, density=True, alpha=0.5, color=_IN_COLOR,
                  label=f"{in_label} (n={scores_in.size})")
        panel_title = str(name)
        if scores_out is not None:
            axis.hist(scores_out, bins=bins, density=True, alpha=0.5, color=_OUT_COLOR,
                      label=f"{out_label} (n={scores_out.size})")
            auroc = metrics.ood_detection(scores_in, scores_out)["auroc"]
            panel_title += f" (OOD AUROC {auroc:.3f})"
        axis.set_title(panel_title)
        axis.set_xlabel(str(name))
        axis.set_ylabel("density")
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def accuracy_vs_samples(num_samples, accuracy, path, nll=None, title=None,
                        accuracy_std=None, num_examples=None):
    """Accuracy (and NLL) against the number of Monte Carlo samples.

    Gal & Ghahramani's convergence figure; feed it the output of
    `bz.metrics.sample_size_curve`. The sample axis is logarithmic, since the
    interesting change is between 1 and a few tens of samples. The accuracy
    axis spans at least `_MIN_ACCURACY_SPAN` (and the band, when given), so
    that a difference of a few test examples does not fill the figure as if
    it were a trend.

    Args:
        num_samples: 1-D array of positive sample counts.
        accuracy: 1-D array of accuracies, one per sample count.
        path: where to write the PNG; must end in `.png`.
        nll: optional 1-D array of negative log-likelihoods, drawn on a second
            axis.
        title: optional figure title.
        accuracy_std: optional 1-D array, the Monte Carlo spread of each
            accuracy (e.g. its standard deviation over draws of that many
            samples), drawn as a band of +-1 standard deviation.
        num_examples: optional int, the test examples behind each accuracy,
            named on the axis (one example is `1 / num_examples`).

    Returns:
        The path written, as a string.

    Example:

    >>> curve = bz.metrics.sample_size_curve(labels, samples)
    >>> bz.plots.accuracy_vs_samples(curve["num_samples"], curve["accuracy"],
    ...                              "out/samples.png", nll=curve["nll"])
    """
    path = _check_png_path(path)
    num_samples = metrics._check_1d("num_samples", num_samples)
    if np.any(num_samples < 1):
        raise ValueError(
            f"Argument `num_samples` must be >= 1. Received: min(num_samples)={num_samples.min()}"
        )
    curves = {"accuracy": accuracy}
    if nll is not None:
        curves["nll"] = nll
    if accuracy_std is not None:
        curves["accuracy_std"] = accuracy_std
    for name, values in curves.items():
        curves[name] = metrics._check_1d(name, values)
        if curves[name].size != num_samples.size:
            raise ValueError(
                f"Argument `{name}` must have one value per entry of `num_samples` "
                f"({num_samples.size}). Received: {name}.shape={curves[name].shape}"
            )

    figure = Figure(figsize=(6.0, 4.0))
    axis = figure.subplots()
    lines = axis.plot(num_samples, curves["accuracy"], marker="o", color=_IN_COLOR,
                      label="accuracy")
    low = high = curves["accuracy"]
    if accuracy_std is not None:
        low, high = low - curves["accuracy_std"], high + curves["accuracy_std"]
        lines.append(axis.fill_between(num_samples, low, high, color=_IN_COLOR, alpha=0.2,
                                       label="accuracy ± 1 s.d. over MC draws"))
    middle = (np.min(low) + np.max(high)) / 2
    half_span = max((np.max(high) - np.min(low)) / 2 * 1.1, _MIN_ACCURACY_SPAN / 2)
    axis.set_ylim(middle - half_span, middle + half_span)
    axis.set_xscale("log")
    # 1, 2, 10, 100, not 10^0, 2x10^0, ...
    axis.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    axis.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
    axis.set_xlabel("number of Monte Carlo samples T")
    axis.set_ylabel("accuracy" + (f" (of {num_examples} examples)" if num_examples else ""),
                    color=_IN_COLOR)
    if nll is not None:
        nll_axis = axis.twinx()
        lines += nll_axis.plot(num_samples, curves["nll"], marker="s", color=_OUT_COLOR,
                               label="NLL")
        nll_axis.set_ylabel("negative log-likelihood (nats)", color=_OUT_COLOR)
    # Above the axes: inside, it would hide points of one curve or the other.
    axis.legend(lines, [line.get_label() for line in lines], loc="lower center",
                bbox_to_anchor=(0.5, 1.0), ncol=len(lines), frameon=False)
    axis.grid(True, which="both", alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def _as_named_series(name, history):
    """A dict of per-weight series, from a dict or an array `[epochs(, weights)]`."""
    if isinstance(history, Mapping):
        if not history:
            raise ValueError(f"Argument `{name}` must not be empty. Received: {name}={{}}")
        return {str(key): metrics._check_1d(f"{name}[{key!r}]", values)
                for key, values in history.items()}
    try:
        array = np.asarray(history)
    except ValueError:  # ragged nested lists
        raise ValueError(
            f"Argument `{name}` must be a dict of per-weight lists or an array "
            f"[epochs, weights]; a list of lists must be rectangular."
        ) from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.size == 0:
        raise ValueError(
            f"Argument `{name}` must be a dict of per-weight lists or an array "
            f"[epochs, weights]. Received: {name}.shape={array.shape}"
        )
    return {f"weight {index}": metrics._check_1d(f"{name}[:, {index}]", array[:, index])
            for index in range(array.shape[1])}


def _density_epochs(num_epochs):
    """The paper's Figure 9 epochs that the run reached, and its last epoch."""
    return sorted({epoch for epoch in _PAPER_DENSITY_EPOCHS if epoch <= num_epochs} | {num_epochs})


def posterior_stddev_over_epochs(history, path, means=None, title=None):
    """The posterior standard deviation of chosen weights over training epochs.

    Shridhar et al.'s Figure 8: the standard deviation of the Gaussian
    variational posterior of a weight shrinks as training sees more data.
    With `means`, a second panel draws the first weight's posterior
    `N(mean, stddev^2)` at the epochs of their Figure 9 (1, 5, 20, 50, 100,
    those the run reached, and the last epoch).

    Args:
        history: the standard deviations, epoch 1 first: a dict from a
            weight's name to its list of per-epoch values, or an array
            `[epochs, weights]` (or `[epochs]` for one weight).
        path: where to write the PNG; must end in `.png`.
        means: optional posterior means, in the same form and with the same
            names and lengths as `history`.
        title: optional figure title.

    Returns:
        The path written, as a string.

    Example:

    >>> bz.plots.posterior_stddev_over_epochs(
    ...     {"conv1 kernel[0,0,0,0]": [0.052, 0.041, 0.033]}, "out/stddev.png")
    """
    path = _check_png_path(path)
    stddevs = _as_named_series("history", history)
    for name, values in stddevs.items():
        if np.any(values < 0):
            raise ValueError(
                f"Standard deviations in `history` must be >= 0. "
                f"Received: min(history[{name!r}])={values.min()}"
            )
    if means is not None:
        means = _as_named_series("means", means)
        expected_lengths = {name: values.size for name, values in stddevs.items()}
        received_lengths = {name: values.size for name, values in means.items()}
        if received_lengths != expected_lengths:
            raise ValueError(
                "Argument `means` must have the weights and lengths of `history`, "
                f"{expected_lengths}. Received: {received_lengths}"
            )

    figure = Figure(figsize=(6.0 if means is None else 11.0, 4.0))
    axes = figure.subplots(1, 1 if means is None else 2, squeeze=False)[0]
    for name, values in stddevs.items():
        markers = "." if values.size < 50 else None  # dots only while they stay apart
        axes[0].plot(np.arange(1, values.size + 1), values, marker=markers, label=name)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("posterior standard deviation σ")
    axes[0].set_title("posterior σ over epochs")
    if len(stddevs) <= _MAX_LEGEND_ENTRIES:
        axes[0].legend()

    if means is not None:
        name = next(iter(stddevs))
        mu, sigma = means[name], stddevs[name]
        epochs = _density_epochs(sigma.size)
        if np.any(sigma[np.array(epochs) - 1] <= 0):
            raise ValueError(
                f"Drawing the posterior of {name!r} needs a positive σ at epochs {epochs}. "
                f"Received: history[{name!r}] at those epochs = {sigma[np.array(epochs) - 1]}"
            )
        low = min(mu[e - 1] - 4 * sigma[e - 1] for e in epochs)
        high = max(mu[e - 1] + 4 * sigma[e - 1] for e in epochs)
        grid = np.linspace(low, high, 400)
        for epoch in epochs:
            m, s = mu[epoch - 1], sigma[epoch - 1]
            density = np.exp(-0.5 * ((grid - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
            axes[1].plot(grid, density, label=f"epoch {epoch}")
        axes[1].set_xlabel(f"weight value ({name})")
        axes[1].set_ylabel("posterior density q(w | D)")
        axes[1].set_title("variational posterior at chosen epochs")
        axes[1].legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def super_resolution_panels(images, path, title=None):
    """One photograph's super-resolution: LR, bicubic, the model, its std and error maps.

    Args:
        images: one entry of `bz.super_resolution.evaluate(...,
            keep_images=True)["images"]`: studio-swing Y arrays `low_res`,
            `bicubic`, `mean`, `target`, and the per-pixel `stddev` and
            absolute `error` (in Y levels of 0..255).
        path: the PNG to write.
        title: the figure's title (say the image, the dataset and the model).

    Returns:
        `path`.

    Example:

    >>> scores = bz.super_resolution.evaluate(model, set5, keep_images=True)
    >>> bz.plots.super_resolution_panels(scores["images"][0], "baby.png",
    ...                                  title="Set5 baby, x3")
    """
    _check_png_path(path)
    missing = {"low_res", "bicubic", "mean", "target", "stddev", "error"} - set(images)
    if missing:
        raise ValueError(f"Argument `images` lacks {sorted(missing)}.")
    panels = [
        ("low resolution (input)", images["low_res"], "gray", (16, 235)),
        ("bicubic", images["bicubic"], "gray", (16, 235)),
        ("model: Monte Carlo mean", images["mean"], "gray", (16, 235)),
        ("ground truth", images["target"], "gray", (16, 235)),
        ("predictive std (Y levels)", images["stddev"], "magma", None),
        ("absolute error (Y levels)", images["error"], "magma", None),
    ]
    figure = Figure(figsize=(18, 3.6))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(panels))
    for axis, (name, image, colormap, limits) in zip(axes, panels):
        shown = axis.imshow(image, cmap=colormap, interpolation="nearest",
                            **({} if limits is None else {"vmin": limits[0], "vmax": limits[1]}))
        axis.set_title(name, fontsize=10)
        axis.set_xlabel(f"{image.shape[1]} px")
        axis.set_ylabel(f"{image.shape[0]} px")
        axis.set_xticks([])
        axis.set_yticks([])
        if limits is None:
            figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.04)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)
