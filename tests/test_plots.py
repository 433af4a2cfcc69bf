"""Tests of bayes_zoo.plots: each function writes a readable PNG of the expected size."""

import matplotlib.image
import numpy as np
import pytest

from bayes_zoo import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, width, height):
    with open(path, "rb") as file:
        assert file.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (height, width)
    # Something was drawn: not a blank canvas of a single colour.
    assert image[..., :3].std() > 0.01


def classification_data(seed=0, num_examples=200, num_classes=4):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(num_examples, num_classes)) * 2
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, num_classes, num_examples)
    return labels, probabilities


def test_reliability_diagram_writes_png(tmp_path):
    labels, probabilities = classification_data()
    path = plots.reliability_diagram(
        labels, probabilities, tmp_path / "reliability.png", num_bins=10, title="random"
    )
    assert path == str(tmp_path / "reliability.png")
    assert_png(path, 600, 720)


def test_uncertainty_histograms_writes_png_with_and_without_ood(tmp_path):
    rng = np.random.default_rng(1)
    scores_in = {"aleatoric": rng.gamma(2.0, size=100), "epistemic": rng.gamma(1.0, size=100)}
    scores_out = {"aleatoric": rng.gamma(3.0, size=60), "epistemic": rng.gamma(4.0, size=60)}
    path = plots.uncertainty_histograms(scores_in, scores_out, tmp_path / "both.png", title="t")
    assert_png(path, 1080, 456)
    path = plots.uncertainty_histograms({"entropy": np.zeros(5)}, None, tmp_path / "in.png")
    assert_png(path, 540, 456)


def test_accuracy_vs_samples_writes_png(tmp_path):
    num_samples = [1, 2, 5, 10, 25, 100]
    accuracy = [0.90, 0.93, 0.95, 0.96, 0.965, 0.966]
    path = plots.accuracy_vs_samples(num_samples, accuracy, tmp_path / "acc.png")
    assert_png(path, 720, 480)
    path = plots.accuracy_vs_samples(
        num_samples, accuracy, tmp_path / "acc_nll.png", nll=[0.4, 0.3, 0.2, 0.15, 0.13, 0.12]
    )
    assert_png(path, 720, 480)


def test_posterior_stddev_over_epochs_accepts_dict_and_array(tmp_path):
    epochs = np.arange(1, 31)
    history = {"conv1[0]": list(0.1 / np.sqrt(epochs)), "fc3[7]": list(0.05 / epochs**0.3)}
    path = plots.posterior_stddev_over_epochs(history, tmp_path / "dict.png")
    assert_png(path, 720, 480)
    array = np.stack([0.1 / np.sqrt(epochs), 0.05 / epochs**0.3], axis=1)
    path = plots.posterior_stddev_over_epochs(array, tmp_path / "array.png")
    assert_png(path, 720, 480)


def test_posterior_stddev_over_epochs_draws_posteriors_with_means(tmp_path):
    epochs = np.arange(1, 31)
    stddevs = 0.1 / np.sqrt(epochs)
    means = 0.02 * np.log(epochs)
    path = plots.posterior_stddev_over_epochs(stddevs, tmp_path / "fig9.png", means=means)
    assert_png(path, 1320, 480)


def test_density_epochs_are_the_papers_reached_and_the_last():
    assert plots._density_epochs(100) == [1, 5, 20, 50, 100]
    assert plots._density_epochs(30) == [1, 5, 20, 30]
    assert plots._density_epochs(1) == [1]


def test_plots_create_missing_folders(tmp_path):
    path = tmp_path / "run" / "plots" / "acc.png"
    plots.accuracy_vs_samples([1, 10], [0.9, 0.95], path)
    assert path.stat().st_size > 0


def test_plots_reject_bad_input(tmp_path):
    labels, probabilities = classification_data()
    with pytest.raises(ValueError, match="path"):
        plots.reliability_diagram(labels, probabilities, tmp_path / "plot.pdf")
    with pytest.raises(ValueError, match="num_bins"):
        plots.reliability_diagram(labels, probabilities, tmp_path / "r.png", num_bins=0)
    with pytest.raises(ValueError, match="out_of_distribution"):
        plots.uncertainty_histograms({"a": [1.0]}, {"b": [2.0]}, tmp_path / "h.png")
    with pytest.raises(ValueError, match="in_distribution"):
        plots.uncertainty_histograms({}, None, tmp_path / "h.png")
    with pytest.raises(ValueError, match=r"in_distribution\['a'\]"):
        plots.uncertainty_histograms({"a": [[1.0, 2.0]]}, None, tmp_path / "h.png")
    with pytest.raises(ValueError, match="accuracy"):
        plots.accuracy_vs_samples([1, 2, 3], [0.9, 0.95], tmp_path / "a.png")
    with pytest.raises(ValueError, match="num_samples"):
        plots.accuracy_vs_samples([0, 2], [0.9, 0.95], tmp_path / "a.png")
    with pytest.raises(ValueError, match="history"):
        plots.posterior_stddev_over_epochs({"w": [0.1, -0.2]}, tmp_path / "s.png")
    with pytest.raises(ValueError, match="means"):
        plots.posterior_stddev_over_epochs([0.1, 0.05], tmp_path / "s.png", means=[0.0])
    assert not list(tmp_path.iterdir())


def test_histograms_name_the_data_sets_and_the_sample_axis_shows_the_spread(tmp_path,
                                                                           monkeypatch):
    labels = []
    original = plots.Figure.savefig

    def record(figure, *args, **kwargs):
        for axis in figure.axes:
            legend = axis.get_legend()
            if legend is not None:
                labels.extend(text.get_text() for text in legend.get_texts())
            labels.append(("ylim", axis.get_ylim()))
        return original(figure, *args, **kwargs)

    monkeypatch.setattr(plots.Figure, "savefig", record)
    plots.uncertainty_histograms({"epistemic": [0.1, 0.2]}, {"epistemic": [0.5, 0.6]},
                                 tmp_path / "h.png", in_name="mnist test",
                                 out_name="fashion_mnist")
    assert "in-distribution: mnist test (n=2)" in labels
    assert "out-of-distribution: fashion_mnist (n=2)" in labels
    labels.clear()
    # Two images of 10,000 apart: the axis is not zoomed onto that difference.
    plots.accuracy_vs_samples([1, 10, 25], [0.9860, 0.9862, 0.9861], tmp_path / "a.png",
                              accuracy_std=[0.0004, 0.0001, 0.0], num_examples=10_000)
    assert "accuracy ± 1 s.d. over MC draws" in labels
    low, high = next(item[1] for item in labels if isinstance(item, tuple))
    assert high - low >= 0.02
