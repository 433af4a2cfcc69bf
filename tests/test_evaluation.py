"""bz.evaluation: the numbers against bz.metrics on the same predictions, the files, bad input."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from matplotlib import image as matplotlib_image

import bayes_zoo as bz
from bayes_zoo.tasks.classification import evaluation
from bayes_zoo import metrics
from bayes_zoo.uncertainty import UncertaintyResult
from bayes_zoo.uncertainty import decompose

DIGITS_SHAPE = (8, 8, 1)
# The keys the module docstring documents.
DOCUMENTED_KEYS = {
    "accuracy", "nll", "ece", "brier", "aleatoric", "epistemic", "predictive_entropy",
    "expected_entropy", "mutual_information", "num_examples", "num_samples", "num_bins",
    "sample_size_curve", "accuracy_coverage", "ood", "files", "machine",
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _bayesian_model(input_shape=DIGITS_SHAPE, num_classes=10):
    """A tiny untrained LRT classifier whose posteriors are wide enough to disagree."""
    posterior = bz.posteriors.MeanFieldNormal(
        loc_initializer=keras.initializers.RandomNormal(0.0, 0.5, seed=1),
        rho_initializer=keras.initializers.Constant(-2.0),  # sigma ~ 0.13
    )
    inputs = keras.Input(input_shape)
    x = bz.layers.Conv2DLocalReparameterization(4, 3, activation="relu", posterior=posterior,
                                                seed=0)(inputs)
    x = keras.layers.Flatten()(x)
    outputs = bz.layers.DenseLocalReparameterization(num_classes, posterior=posterior,
                                                     seed=1)(x)
    return keras.Model(inputs, outputs)


def _frequentist_model(input_shape=DIGITS_SHAPE, num_classes=10):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(num_classes)(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def digits():
    return bz.data.load_arrays("digits", "test")


def assert_valid_png(path):
    with open(path, "rb") as file:
        assert file.read(8) == PNG_SIGNATURE, path
    height, width = matplotlib_image.imread(path).shape[:2]
    assert height > 100 and width > 100


def test_numbers_and_files_equal_bz_metrics_on_the_same_predictions(tmp_path, digits):
    images, labels = digits
    model = _bayesian_model()
    result = bz.predict_with_uncertainty(model, images, num_samples=6, keep_samples=True)
    # Digit strokes in poses never seen: out of distribution.
    ood_result = bz.predict_with_uncertainty(model, np.rot90(images, axes=(1, 2)),
                                             num_samples=6)

    results = evaluation.evaluate_predictions(
        labels, result, ood_result=ood_result, output_dir=tmp_path / "eval",
        sample_counts=(1, 2, 4, 10), num_bins=10, metadata={"command": "by hand"},
    )

    assert set(results) == DOCUMENTED_KEYS | {"command"}
    probabilities = result.probabilities
    assert results["accuracy"] == metrics.accuracy(labels, probabilities)
    assert results["nll"] == metrics.negative_log_likelihood(labels, probabilities)
    assert results["ece"] == metrics.expected_calibration_error(labels, probabilities, 10)
    assert results["brier"] == metrics.brier_score(labels, probabilities)
    for name in evaluation.UNCERTAINTIES:
        assert results[name] == float(np.mean(getattr(result, name)))
        assert results["ood"]["mean"][name] == float(np.mean(getattr(ood_result, name)))
    assert results["epistemic"] > 0 and results["mutual_information"] > 0
    assert (results["num_examples"], results["num_samples"], results["num_bins"]) == (359, 6, 10)
    assert results["command"] == "by hand"

    # Counts above T are dropped and T is added; the last point is the full average.
    curve = results["sample_size_curve"]
    expected = metrics.sample_size_curve(labels, result.sample_probabilities, [1, 2, 4, 6])
    assert curve["num_samples"] == [1, 2, 4, 6]
    np.testing.assert_array_equal(curve["accuracy"], expected["accuracy"])
    np.testing.assert_array_equal(curve["nll"], expected["nll"])
    assert curve["accuracy"][-1] == pytest.approx(results["accuracy"], abs=1.5 / len(labels))
    assert curve["nll"][-1] == pytest.approx(results["nll"], rel=1e-4)

    assert results["ood"]["num_examples"] == len(images)
    assert set(results["ood"]["detection"]) == set(evaluation.OOD_SCORES)
    for score in evaluation.OOD_SCORES:
        assert results["ood"]["detection"][score] == metrics.ood_detection(
            getattr(result, score), getattr(ood_result, score))

    coverage = metrics.accuracy_coverage_curve(labels, probabilities, result.predictive_entropy)
    summary = results["accuracy_coverage"]
    assert summary["uncertainty"] == "predictive_entropy"
    for level, kept, accuracy in zip(evaluation.COVERAGE_LEVELS, summary["coverage"],
                                     summary["accuracy"]):
        # The fewest examples that reach the level.
        index = np.flatnonzero(coverage["coverage"] >= level)[0]
        assert (kept, accuracy) == (coverage["coverage"][index], coverage["accuracy"][index])
    assert summary["coverage"][-1] == 1.0 and summary["accuracy"][-1] == results["accuracy"]

    folder = tmp_path / "eval"
    assert results["files"] == {
        "reliability_diagram": "reliability_diagram.png",
        "uncertainty_histograms": "uncertainty_histograms.png",
        "accuracy_vs_samples": "accuracy_vs_samples.png",
        "accuracy_coverage": "accuracy_coverage.csv",
        "results": "evaluation.json",
    }
    assert sorted(os.listdir(folder)) == sorted(results["files"].values())
    for name in results["files"].values():
        if name.endswith(".png"):
            assert_valid_png(folder / name)
    rows = np.loadtxt(folder / "accuracy_coverage.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(rows[:, 0], coverage["coverage"])
    np.testing.assert_array_equal(rows[:, 1], coverage["accuracy"])
    np.testing.assert_array_equal(rows[:, 2], coverage["threshold"])
    with open(folder / "evaluation.json") as file:
        assert json.load(file) == json.loads(json.dumps(results))
    assert results["machine"]["cpu_count"] == os.cpu_count()
    assert results["machine"]["tensorflow"] == tf.__version__


def test_evaluate_matches_a_deterministic_model_s_own_probabilities(digits):
    images, labels = digits
    model = _frequentist_model()
    noise = np.random.default_rng(0).uniform(size=(50,) + DIGITS_SHAPE).astype("float32")
    test_data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(50)

    results = evaluation.evaluate(model, test_data, num_samples=3, ood_data=noise,
                                  batch_size=64)

    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(model(images)))
    assert results["accuracy"] == pytest.approx(metrics.accuracy(labels, probabilities),
                                                abs=1.5 / len(labels))
    assert results["nll"] == pytest.approx(
        metrics.negative_log_likelihood(labels, probabilities), rel=1e-5)
    assert results["brier"] == pytest.approx(metrics.brier_score(labels, probabilities), rel=1e-5)
    assert results["ece"] == pytest.approx(
        metrics.expected_calibration_error(labels, probabilities), abs=1e-4)
    # Three equal draws: no epistemic uncertainty, the same point at every sample count.
    assert results["epistemic"] < 1e-10 and abs(results["mutual_information"]) < 1e-5
    assert results["sample_size_curve"]["num_samples"] == [1, 2, 3]
    assert len(set(results["sample_size_curve"]["accuracy"])) == 1
    entropy = lambda p: -np.sum(p * np.log(p), axis=-1)  # noqa: E731
    noise_probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(model(noise)))
    expected = metrics.ood_detection(entropy(probabilities), entropy(noise_probabilities))
    detection = results["ood"]["detection"]["predictive_entropy"]
    for key in expected:
        assert detection[key] == pytest.approx(expected[key], abs=0.01)
    assert results["num_examples"] == 359 and results["ood"]["num_examples"] == 50
    assert results["files"] == {} and results["prediction_seconds"] > 0


def test_evaluate_in_batches_with_progress(capsys, digits):
    images, labels = digits
    model = _bayesian_model()
    results = evaluation.evaluate(model, (images[:100], labels[:100]), num_samples=4,
                                  ood_data=(images[:30], labels[:30]), batch_size=32,
                                  verbose=1)
    out = capsys.readouterr().out
    assert "Test data: 100 examples, 4 Monte Carlo samples each" in out
    assert "Out-of-distribution data: 30 examples" in out
    assert "100/100" in out and "30/30" in out
    assert results["num_examples"] == 100 and results["ood"]["num_examples"] == 30
    curve = results["sample_size_curve"]
    assert curve["num_samples"] == [1, 2, 4]
    # The batches' samples were put back together example by example.
    assert curve["accuracy"][-1] == pytest.approx(results["accuracy"], abs=0.015)
    assert results["epistemic"] > 0


def _synthetic_result(num_examples=40, num_samples=5, num_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    samples = rng.dirichlet(np.ones(num_classes), size=(num_samples, num_examples))
    parts = {name: np.asarray(value) for name, value in decompose(samples).items()}
    return UncertaintyResult(**parts, sample_probabilities=samples)


def test_summary_table_shows_each_number_and_ood_rows():
    labels = np.arange(40) % 4
    result = _synthetic_result()
    without_ood = evaluation.evaluate_predictions(labels, result)
    table = evaluation.summary_table(without_ood)
    assert "OOD" not in table and without_ood["files"] == {}
    lines = table.splitlines()
    assert lines[0].split() == ["metric", "value"]
    row = {line.rsplit(None, 1)[0]: line.rsplit(None, 1)[1] for line in lines[1:]}
    assert row["accuracy"] == f"{without_ood['accuracy']:.4f}"
    assert row["ECE (15 bins)"] == f"{without_ood['ece']:.4f}"
    assert row["mean epistemic (Kwon)"] == f"{without_ood['epistemic']:.4f}"

    with_ood = evaluation.evaluate_predictions(labels, result,
                                               ood_result=_synthetic_result(seed=1))
    row = {line.rsplit(None, 1)[0]: line.rsplit(None, 1)[1]
           for line in evaluation.summary_table(with_ood).splitlines()[1:]}
    detection = with_ood["ood"]["detection"]
    assert row["OOD AUROC, predictive entropy"] == f"{detection['predictive_entropy']['auroc']:.4f}"
    assert row["OOD AUPR, epistemic (Kwon)"] == f"{detection['epistemic']['aupr']:.4f}"
    assert row["OOD FPR@95%TPR, mutual information"] == (
        f"{detection['mutual_information']['fpr_at_95_tpr']:.4f}")
    # Small numbers keep their size visible.
    assert evaluation._format_number(2.5e-5) == "2.50e-05"


def test_without_kept_samples_there_is_no_sample_size_curve(tmp_path):
    result = _synthetic_result()
    result.sample_probabilities = None
    results = evaluation.evaluate_predictions(np.arange(40) % 4, result, output_dir=tmp_path)
    assert results["sample_size_curve"] is None and results["num_samples"] is None
    assert "accuracy_vs_samples" not in results["files"]
    assert not (tmp_path / "accuracy_vs_samples.png").exists()


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(num_samples=0), "`num_samples` must be a positive integer"),
        (dict(batch_size=2.5), "`batch_size` must be a positive integer"),
        (dict(sample_counts=[0, 5]), "`sample_counts` must be a non-empty list"),
        (dict(test_data="images"), "`test_data` must be \\(images, labels\\)"),
        (dict(test_data="short labels"), "one integer label per image"),
        (dict(metadata={"accuracy": 1.0}), "must not redefine .*accuracy"),
        (dict(metadata=["command"]), "`metadata` must be a dict"),
        (dict(ood_data="wrong shape"), "does not match the model's input shape"),
        (dict(ood_data="nan"), "NaN or inf"),
        (dict(output_dir="a file"), "`output_dir` must be a folder"),
    ],
)
def test_bad_arguments_raise_value_error(tmp_path, digits, change, match):
    images, labels = digits[0][:20], digits[1][:20]
    arguments = dict(test_data=(images, labels), num_samples=2)
    arguments.update(change)
    if arguments["test_data"] == "images":
        arguments["test_data"] = images
    elif arguments["test_data"] == "short labels":
        arguments["test_data"] = (images, labels[:-1])
    if change.get("ood_data") == "wrong shape":
        arguments["ood_data"] = np.zeros((3, 6, 6, 1), "float32")
    elif change.get("ood_data") == "nan":
        arguments["ood_data"] = np.full((3,) + DIGITS_SHAPE, np.nan, "float32")
    if change.get("output_dir") == "a file":
        arguments["output_dir"] = tmp_path / "results.json"
        arguments["output_dir"].write_text("{}")
    with pytest.raises(ValueError, match=match):
        evaluation.evaluate(_frequentist_model(), **arguments)


def test_load_test_split_fits_the_model(digits):
    images, labels = digits
    split = evaluation.load_test_split("digits", _frequentist_model())
    np.testing.assert_array_equal(split.images, images)
    np.testing.assert_array_equal(split.labels, labels)
    assert split.dataset == "digits" and "scikit-learn" in split.source

    subset = evaluation.load_test_split("digits", _frequentist_model(), max_examples=50)
    again = evaluation.load_test_split("digits", _frequentist_model(), max_examples=50)
    assert len(subset.labels) == 50 and "a fixed random 50" in subset.source
    np.testing.assert_array_equal(subset.images, again.images)
    # A subset of the split, in the split's order.
    rows = [int(np.flatnonzero((images == image).all(axis=(1, 2, 3)))[0])
            for image in subset.images]
    assert rows == sorted(rows) and len(set(rows)) == 50
    np.testing.assert_array_equal(labels[rows], subset.labels)

    # Resized to the model's input.
    larger = evaluation.load_test_split("digits", _frequentist_model((16, 16, 1)))
    assert larger.images.shape == (359, 16, 16, 1)


def test_load_test_split_refuses_a_dataset_the_model_does_not_fit():
    with pytest.raises(ValueError, match="predicts 5 classes, but 'digits' has 1-channel "
                                         "images of 10 classes"):
        evaluation.load_test_split("digits", _frequentist_model(num_classes=5))
    with pytest.raises(ValueError, match="takes 3-channel images"):
        evaluation.load_test_split("digits", _frequentist_model((8, 8, 3)))
    with pytest.raises(ValueError, match="`max_examples` must be None or a positive"):
        evaluation.load_test_split("digits", _frequentist_model(), max_examples=0)


def test_out_of_distribution_images_take_the_model_s_channels(tmp_path, digits):
    rgb = evaluation.load_test_split("digits", _frequentist_model((8, 8, 3)),
                                     out_of_distribution=True)
    np.testing.assert_array_equal(rgb.images, np.repeat(digits[0], 3, axis=-1))
    assert "grayscale repeated over RGB" in rgb.source

    # Two CIFAR-10 test images as a class-folder tree, shown to a grayscale model.
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    for split in ("train", "test"):
        for index, class_name in enumerate(("airplane", "cat")):
            folder = tmp_path / split / class_name
            folder.mkdir(parents=True)
            tf.io.write_file(str(folder / f"{index}.png"), tf.io.encode_png(pixels[index]))
    gray = evaluation.load_test_split("cifar10", _frequentist_model((8, 8, 1)),
                                      data_dir=tmp_path, out_of_distribution=True)
    rgb_images, _ = bz.data.load_arrays("cifar10", "test", data_dir=tmp_path, image_size=(8, 8))
    np.testing.assert_allclose(gray.images, tf.image.rgb_to_grayscale(rgb_images).numpy())
    assert gray.images.shape == (2, 8, 8, 1) and "converted to grayscale" in gray.source
    assert str(tmp_path) in gray.source



def test_sample_size_curve_reports_its_monte_carlo_spread_and_names_the_data(tmp_path):
    result = _synthetic_result(num_examples=200, num_samples=8)
    labels = np.random.default_rng(1).integers(0, 4, 200)
    results = evaluation.evaluate_predictions(
        labels, result, ood_result=_synthetic_result(seed=2), output_dir=tmp_path,
        in_name="mnist test", ood_name="fashion_mnist")
    curve = results["sample_size_curve"]
    assert curve["num_samples"] == [1, 2, 5, 8]
    assert len(curve["accuracy_std"]) == len(curve["nll_std"]) == 4
    # Different draws of one sample disagree; every order of all 8 averages the same.
    assert curve["accuracy_std"][0] > 0 and curve["nll_std"][0] > 0
    assert curve["accuracy_std"][-1] == pytest.approx(0, abs=1e-12)
    assert_valid_png(tmp_path / evaluation.SAMPLES_FILE)
    assert_valid_png(tmp_path / evaluation.HISTOGRAMS_FILE)
