"""Tests of bayes_zoo.metrics: hand-computed cases and reference implementations."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from sklearn.metrics import average_precision_score, roc_auc_score

from bayes_zoo import metrics

# Four examples, three classes. Predictions [0, 0, 0, 0]; correct: yes, no, yes, no.
# Confidences 0.4, 0.4, 0.9, 0.7.
HAND_PROBABILITIES = np.array(
    [
        [0.4, 0.3, 0.3],
        [0.4, 0.35, 0.25],
        [0.9, 0.05, 0.05],
        [0.7, 0.2, 0.1],
    ]
)
HAND_LABELS = np.array([0, 1, 0, 2])


def random_predictions(seed, num_examples, num_classes, sharpness=3.0, label_temperature=1.0):
    """Softmax predictions, with labels drawn from `softmax(logits / label_temperature)`.

    Labels drawn from the predictions themselves (temperature 1) leave gaps of
    both signs across the confidence bins, so the ECE depends on where the bin
    edges fall; with uniform labels every bin would be over-confident and the
    ECE would be mean confidence minus accuracy under any binning.
    """
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(num_examples, num_classes)) * sharpness).astype(np.float32)
    probabilities = tf.nn.softmax(logits).numpy()
    label_probabilities = tf.nn.softmax(logits.astype(np.float64) / label_temperature).numpy()
    cumulative = np.cumsum(label_probabilities, axis=1)
    draws = rng.uniform(size=(num_examples, 1)) * cumulative[:, -1:]
    labels = np.minimum((draws > cumulative).sum(axis=1), num_classes - 1)
    return labels, probabilities


def test_accuracy_hand_case():
    assert metrics.accuracy(HAND_LABELS, HAND_PROBABILITIES) == 0.5
    assert metrics.accuracy([1, 1], [[0.2, 0.8], [0.3, 0.7]]) == 1.0


def test_negative_log_likelihood_hand_case():
    value = metrics.negative_log_likelihood([0, 1], [[0.5, 0.5], [0.25, 0.75]])
    assert value == pytest.approx(-(math.log(0.5) + math.log(0.75)) / 2)


def test_negative_log_likelihood_clips_zero_probability():
    value = metrics.negative_log_likelihood([1], [[1.0, 0.0]])
    assert value == pytest.approx(-math.log(metrics.PROBABILITY_FLOOR))


def test_brier_score_hand_case():
    # (0.75 - 1)^2 + (0.25 - 0)^2 = 0.125 and (0.5 - 0)^2 + (0.5 - 1)^2 = 0.5.
    value = metrics.brier_score([0, 1], [[0.75, 0.25], [0.5, 0.5]])
    assert value == pytest.approx((0.125 + 0.5) / 2)


def test_brier_score_matches_tfp_plus_one():
    # TFP's per-example score is sum_i p_i^2 - 2 p_label, ours without dropping the 1.
    labels, probabilities = random_predictions(0, 500, 10)
    reference = tfp.stats.brier_score(labels, np.log(probabilities))
    assert metrics.brier_score(labels, probabilities) == pytest.approx(
        float(tf.reduce_mean(reference)) + 1.0, abs=1e-5
    )


def test_reliability_diagram_data_hand_case():
    data = metrics.reliability_diagram_data(HAND_LABELS, HAND_PROBABILITIES, num_bins=2)
    np.testing.assert_allclose(data["bin_edges"], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(data["bin_confidence"], [0.4, 0.8])
    np.testing.assert_allclose(data["bin_accuracy"], [0.5, 0.5])
    np.testing.assert_array_equal(data["bin_count"], [2, 2])


def test_reliability_diagram_data_marks_empty_bins_nan():
    data = metrics.reliability_diagram_data(HAND_LABELS, HAND_PROBABILITIES, num_bins=4)
    np.testing.assert_array_equal(data["bin_count"], [0, 2, 1, 1])
    assert np.isnan(data["bin_confidence"][0]) and np.isnan(data["bin_accuracy"][0])
    np.testing.assert_allclose(data["bin_accuracy"][1:], [0.5, 0.0, 1.0])


def test_reliability_diagram_data_bin_edges_belong_to_the_bin_above():
    # [0, 0.5) and [0.5, 1]: a confidence of exactly 0.5 or 1.0 lands in the second bin.
    data = metrics.reliability_diagram_data(
        [0, 1], [[0.5, 0.25, 0.25], [0.0, 1.0, 0.0]], num_bins=2
    )
    np.testing.assert_array_equal(data["bin_count"], [0, 2])


@pytest.mark.parametrize(
    "num_bins, expected",
    [
        (1, abs(0.5 - 0.6)),  # one bin: accuracy 0.5, mean confidence 0.6
        (2, 0.5 * abs(0.5 - 0.4) + 0.5 * abs(0.5 - 0.8)),
        (4, 0.5 * abs(0.5 - 0.4) + 0.25 * abs(0.0 - 0.7) + 0.25 * abs(1.0 - 0.9)),
    ],
)
def test_expected_calibration_error_hand_case(num_bins, expected):
    value = metrics.expected_calibration_error(HAND_LABELS, HAND_PROBABILITIES, num_bins)
    assert value == pytest.approx(expected)


@pytest.mark.parametrize(
    "seed, num_examples, num_classes, num_bins, sharpness, label_temperature",
    [
        (0, 2000, 10, 15, 3.0, 1.0),
        (1, 2000, 10, 10, 0.5, 1.0),
        (2, 500, 3, 1, 2.0, 0.5),
        (3, 1000, 2, 20, 5.0, 2.0),
        (4, 37, 100, 15, 4.0, 1.0),
    ],
)
def test_expected_calibration_error_matches_tfp(
    seed, num_examples, num_classes, num_bins, sharpness, label_temperature
):
    labels, probabilities = random_predictions(
        seed, num_examples, num_classes, sharpness, label_temperature
    )
    reference = tfp.stats.expected_calibration_error(
        num_bins, logits=np.log(probabilities), labels_true=labels
    )
    value = metrics.expected_calibration_error(labels, probabilities, num_bins)
    assert value > 0.0
    assert value == pytest.approx(float(reference), abs=1e-5)


def test_metrics_accept_tensorflow_tensors():
    labels = tf.constant(HAND_LABELS)
    probabilities = tf.constant(HAND_PROBABILITIES, dtype=tf.float32)
    assert metrics.accuracy(labels, probabilities) == 0.5
    assert metrics.expected_calibration_error(labels, probabilities, 2) == pytest.approx(0.2)
    assert isinstance(metrics.negative_log_likelihood(labels, probabilities), float)


def test_ood_detection_hand_case():
    scores_in = [0.1, 0.4, 0.35, 0.8]
    scores_out = [0.9, 0.7, 0.3]
    result = metrics.ood_detection(scores_in, scores_out)
    # Pairs (out, in) ordered correctly: 0.9 beats 4, 0.7 beats 3, 0.3 beats 1.
    assert result["auroc"] == pytest.approx(8 / 12)
    # Threshold stops, high to low: 0.9 (out), 0.8 (in), 0.7 (out), 0.4, 0.35 (in), 0.3 (out):
    # precision at each recall step is 1/1, 2/3, 3/6.
    assert result["aupr"] == pytest.approx((1 / 1 + 2 / 3 + 3 / 6) / 3)
    # TPR reaches 95% only when all three OOD scores are flagged, at 0.3: every
    # in-distribution score but 0.1 is then flagged too.
    assert result["fpr_at_95_tpr"] == pytest.approx(3 / 4)


def test_ood_detection_fpr_at_95_tpr_hand_case():
    scores_out = np.arange(1, 21)  # 20 OOD examples: flagging 19 of them needs threshold 2
    scores_in = [0.5, 1.5, 2.5, 30.0]  # of which 2.5 and 30.0 are above 2
    assert metrics.ood_detection(scores_in, scores_out)["fpr_at_95_tpr"] == 0.5


def test_ood_detection_perfect_separation():
    result = metrics.ood_detection([0.0, 0.1, 0.2], [0.5, 0.6])
    assert result == {"auroc": 1.0, "aupr": 1.0, "fpr_at_95_tpr": 0.0}


@pytest.mark.parametrize("seed, rounding", [(0, None), (1, 1), (2, 0)])
def test_ood_detection_matches_sklearn(seed, rounding):
    rng = np.random.default_rng(seed)
    scores_in = rng.normal(size=300)
    scores_out = rng.normal(loc=1.0, size=200)
    if rounding is not None:  # coarse rounding makes many ties across the classes
        scores_in, scores_out = scores_in.round(rounding), scores_out.round(rounding)
    is_out = np.r_[np.zeros(300), np.ones(200)]
    scores = np.r_[scores_in, scores_out]
    result = metrics.ood_detection(scores_in, scores_out)
    assert result["auroc"] == pytest.approx(roc_auc_score(is_out, scores), abs=1e-12)
    assert result["aupr"] == pytest.approx(average_precision_score(is_out, scores), abs=1e-12)


def test_accuracy_coverage_curve_hand_case():
    # Predictions 0, 0, 0, 0: correct, wrong, correct, wrong.
    uncertainty = [0.1, 0.9, 0.2, 0.5]
    curve = metrics.accuracy_coverage_curve(HAND_LABELS, HAND_PROBABILITIES, uncertainty)
    np.testing.assert_allclose(curve["coverage"], [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve["accuracy"], [1.0, 1.0, 2 / 3, 0.5])
    np.testing.assert_allclose(curve["threshold"], [0.1, 0.2, 0.5, 0.9])
    assert curve["accuracy"][-1] == metrics.accuracy(HAND_LABELS, HAND_PROBABILITIES)


def test_accuracy_coverage_curve_keeps_ties_together():
    uncertainty = np.array([0.3, 0.3, 0.1, 0.1])  # correct ones tie with wrong ones
    curve = metrics.accuracy_coverage_curve(HAND_LABELS, HAND_PROBABILITIES, uncertainty)
    np.testing.assert_allclose(curve["coverage"], [0.5, 1.0])
    np.testing.assert_allclose(curve["accuracy"], [0.5, 0.5])
    reversed_curve = metrics.accuracy_coverage_curve(
        HAND_LABELS[::-1], HAND_PROBABILITIES[::-1], uncertainty[::-1]
    )
    for key in curve:
        np.testing.assert_allclose(reversed_curve[key], curve[key])


def test_accuracy_coverage_curve_full_coverage_is_plain_accuracy():
    labels, probabilities = random_predictions(5, 300, 5)
    uncertainty = 1.0 - probabilities.max(axis=1)
    curve = metrics.accuracy_coverage_curve(labels, probabilities, uncertainty)
    assert curve["coverage"][-1] == 1.0
    assert curve["accuracy"][-1] == pytest.approx(metrics.accuracy(labels, probabilities))
    # Rejecting the least confident should help on average for this score.
    assert curve["accuracy"][len(curve["accuracy"]) // 10] > curve["accuracy"][-1]


# Three samples of two examples (labels 0, 0). Means over the first t samples:
# t=1: [0.2, 0.8] (wrong), [0.9, 0.1];  t=2: [0.6, 0.4], [0.7, 0.3];
# t=3: [2/3, 1/3], [1.6/3, 1.4/3].
HAND_SAMPLES = np.array(
    [
        [[0.2, 0.8], [0.9, 0.1]],
        [[1.0, 0.0], [0.5, 0.5]],
        [[0.8, 0.2], [0.2, 0.8]],
    ]
)


def test_sample_size_curve_hand_case():
    curve = metrics.sample_size_curve([0, 0], HAND_SAMPLES)
    np.testing.assert_array_equal(curve["num_samples"], [1, 2, 3])
    np.testing.assert_allclose(curve["accuracy"], [0.5, 1.0, 1.0])
    expected_nll = [
        -(math.log(0.2) + math.log(0.9)) / 2,
        -(math.log(0.6) + math.log(0.7)) / 2,
        -(math.log(2 / 3) + math.log(1.6 / 3)) / 2,
    ]
    np.testing.assert_allclose(curve["nll"], expected_nll)


def test_sample_size_curve_chosen_counts_are_sorted():
    curve = metrics.sample_size_curve([0, 0], HAND_SAMPLES, sample_counts=[3, 1])
    np.testing.assert_array_equal(curve["num_samples"], [1, 3])
    np.testing.assert_allclose(curve["accuracy"], [0.5, 1.0])


def test_sample_size_curve_matches_mean_of_first_samples():
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(20, 50, 4)) + rng.normal(size=(1, 50, 4)) * 2
    samples = tf.nn.softmax(logits).numpy()
    labels = rng.integers(0, 4, 50)
    counts = [1, 2, 5, 10, 20]
    curve = metrics.sample_size_curve(labels, samples, sample_counts=counts)
    for index, count in enumerate(counts):
        mean = samples[:count].mean(axis=0)
        assert curve["accuracy"][index] == pytest.approx(metrics.accuracy(labels, mean))
        assert curve["nll"][index] == pytest.approx(metrics.negative_log_likelihood(labels, mean))


@pytest.mark.parametrize(
    "labels, probabilities, message",
    [
        ([0, 1], [0.5, 0.5], "probabilities.shape"),
        ([0, 1, 1], [[0.5, 0.5], [0.5, 0.5]], "labels.shape"),
        ([0, 2], [[0.5, 0.5], [0.5, 0.5]], "labels` must lie in \\[0, 2\\)"),
        ([0, -1], [[0.5, 0.5], [0.5, 0.5]], "labels` must lie in"),
        ([0.0, 1.0], [[0.5, 0.5], [0.5, 0.5]], "labels.dtype"),
        ([0, 1], [[2.0, -1.0], [0.5, 0.5]], "non-negative"),
        ([0, 1], [[3.0, 1.0], [0.5, 0.5]], "sum to 1"),
        ([0, 1], [[np.nan, 0.5], [0.5, 0.5]], "finite"),
        ([0, 1], [[0, 1], [1, 0]], "probabilities.dtype"),
        ([], np.zeros((0, 2)), "not be empty"),
    ],
)
def test_classification_metrics_reject_bad_input(labels, probabilities, message):
    for metric in (
        metrics.accuracy,
        metrics.negative_log_likelihood,
        metrics.brier_score,
        metrics.expected_calibration_error,
    ):
        with pytest.raises(ValueError, match=message):
            metric(np.asarray(labels), np.asarray(probabilities))


@pytest.mark.parametrize("num_bins", [0, -3, 1.5, True, "15"])
def test_ece_rejects_bad_num_bins(num_bins):
    with pytest.raises(ValueError, match="num_bins"):
        metrics.expected_calibration_error(HAND_LABELS, HAND_PROBABILITIES, num_bins)
    with pytest.raises(ValueError, match="num_bins"):
        metrics.reliability_diagram_data(HAND_LABELS, HAND_PROBABILITIES, num_bins)


def test_ood_detection_rejects_bad_scores():
    with pytest.raises(ValueError, match="scores_in.shape"):
        metrics.ood_detection(np.zeros((2, 2)), [1.0])
    with pytest.raises(ValueError, match="scores_out.shape"):
        metrics.ood_detection([1.0], [])
    with pytest.raises(ValueError, match="scores_out` must be finite"):
        metrics.ood_detection([1.0], [np.inf])


def test_accuracy_coverage_curve_rejects_mismatched_uncertainty():
    with pytest.raises(ValueError, match="uncertainty.shape"):
        metrics.accuracy_coverage_curve(HAND_LABELS, HAND_PROBABILITIES, [0.1, 0.2])


def test_sample_size_curve_rejects_bad_input():
    with pytest.raises(ValueError, match="sample_probabilities.shape"):
        metrics.sample_size_curve([0, 0], HAND_SAMPLES[0])
    with pytest.raises(ValueError, match="labels.shape"):
        metrics.sample_size_curve([0, 0, 0], HAND_SAMPLES)
    for counts in ([0, 1], [4], [], [1.5]):
        with pytest.raises(ValueError, match="sample_counts"):
            metrics.sample_size_curve([0, 0], HAND_SAMPLES, sample_counts=counts)


def test_spearman_correlation_ranks_with_ties_and_is_nan_for_constants():
    from bayes_zoo import metrics as m

    assert m.spearman_correlation([1, 2, 3, 4], [10, 20, 40, 30]) == pytest.approx(0.8)
    assert m.spearman_correlation([1, 2, 3], [5, 5, 9]) == pytest.approx(np.sqrt(3) / 2)
    assert np.isnan(m.spearman_correlation([1, 2, 3], [4, 4, 4]))
    with pytest.raises(ValueError, match="one shape"):
        m.spearman_correlation([1, 2], [1, 2, 3])


def test_sparsification_curve_against_a_hand_case():
    from bayes_zoo import metrics as m

    error = np.array([4.0, 3.0, 2.0, 1.0])
    perfect = m.sparsification_curve(error, error, num_points=4)
    np.testing.assert_allclose(perfect["error"], [2.5, 2.0, 1.5, 1.0])
    np.testing.assert_allclose(perfect["oracle"], perfect["error"])
    assert perfect["ause"] == 0.0
    # Ranked backwards: the most uncertain pixels are the best ones.
    backwards = m.sparsification_curve(error, -error, num_points=4)
    np.testing.assert_allclose(backwards["error"], [2.5, 3.0, 3.5, 4.0])
    # Trapezoids of 0.25 over the gaps 0, 1, 2, 3.
    assert backwards["ause"] == pytest.approx(0.25 * (0.5 + 1.5 + 2.5))
    with pytest.raises(ValueError, match="num_points"):
        m.sparsification_curve(error, error, num_points=1)


def test_frechet_distance_of_gaussians_against_the_closed_form():
    from bayes_zoo import metrics as m

    # Two point clouds with exactly known means and covariances: +-1 along
    # each axis (covariance I * 2n/(2n-1) with np.cov's n-1), shifted by 3.
    base = np.concatenate([np.eye(2), -np.eye(2)]) * np.sqrt(1.5)  # cov = I exactly
    shifted = base * 2.0 + np.array([3.0, 0.0])  # cov = 4 I
    # |mu|^2 = 9; trace(I + 4I - 2 * 2I) = 2.
    assert m.frechet_distance(base, shifted) == pytest.approx(11.0)
    assert m.frechet_distance(base, base) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="one width"):
        m.frechet_distance(base, np.zeros((4, 3)))


def test_kernel_distance_is_unbiased_and_grows_with_the_shift():
    from bayes_zoo import metrics as m

    rng = np.random.default_rng(0)
    same = m.kernel_distance(rng.normal(size=(400, 4)), rng.normal(size=(400, 4)),
                             num_subsets=5, subset_size=200)
    apart = m.kernel_distance(rng.normal(size=(400, 4)), rng.normal(1.0, 1.0, (400, 4)),
                              num_subsets=5, subset_size=200)
    assert abs(same["mean"]) < 0.05 and apart["mean"] > 10 * abs(same["mean"]) + 0.1
    # A hand case: one-dimensional sets {0, 0} and {1, 1}: k = (xy + 1)^3.
    # MMD^2 = k(0,0) + k(1,1) - 2 k(0,1) = 1 + 8 - 2 = 7.
    hand = m.kernel_distance(np.zeros((2, 1)), np.ones((2, 1)), num_subsets=1, subset_size=2)
    assert hand == {"mean": pytest.approx(7.0), "std": 0.0}
