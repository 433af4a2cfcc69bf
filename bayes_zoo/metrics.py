"""Evaluation metrics for probabilistic classifiers, as the field reports them.

Every function takes NumPy arrays (or anything `np.asarray` converts, such as
eager TensorFlow tensors) and returns Python floats, or a dict of NumPy arrays
for the curves. The arithmetic is done in float64 so that float32 inputs give
the same numbers whatever their order.

- Classification: `accuracy`, `negative_log_likelihood`, `brier_score`.
- Calibration: `expected_calibration_error` (Guo et al., 2017, equal-width
  bins on the confidence, binned as `tfp.stats.expected_calibration_error`
  bins) and the `reliability_diagram_data` it is computed from.
- Out-of-distribution detection from any uncertainty score: `ood_detection`
  (AUROC, AUPR, FPR at 95% TPR, with the OOD examples as the positive class).
- Selective prediction: `accuracy_coverage_curve`.
- Monte Carlo convergence (Gal & Ghahramani's figure): `sample_size_curve`.
"""

import numpy as np

# Probabilities are clipped to at least this before the log in the NLL, so
# that one confidently wrong example gives a large finite loss rather than
# inf. It is Keras' backend epsilon, the floor Keras' own cross-entropy uses.
PROBABILITY_FLOOR = 1e-7

# How far the rows of `probabilities` may sum from one: loose enough for
# float32 averages of many Monte Carlo softmaxes, tight enough to catch logits
# or unnormalised scores passed by mistake.
_ROW_SUM_TOLERANCE = 1e-3

# The operating point of `fpr_at_95_tpr`.
_TPR_LEVEL = 0.95


def _check_num_bins(num_bins):
    is_integer = isinstance(num_bins, (int, np.integer)) and not isinstance(num_bins, bool)
    if not is_integer or num_bins < 1:
        raise ValueError(
            f"Argument `num_bins` must be an integer >= 1. Received: num_bins={num_bins!r}"
        )


def _check_probabilities(name, probabilities):
    """Validates a `[..., C]` array of probability vectors; returns float64."""
    probabilities = np.asarray(probabilities)
    if not np.issubdtype(probabilities.dtype, np.floating):
        raise ValueError(
            f"Argument `{name}` must hold floating-point probabilities. "
            f"Received: {name}.dtype={probabilities.dtype}"
        )
    probabilities = probabilities.astype(np.float64)
    if probabilities.size == 0:
        raise ValueError(
            f"Argument `{name}` must not be empty. Received: {name}.shape={probabilities.shape}"
        )
    if not np.all(np.isfinite(probabilities)):
        raise ValueError(f"Argument `{name}` must be finite. Received NaN or inf in `{name}`.")
    if np.any(probabilities < 0.0):
        raise ValueError(
            f"Argument `{name}` must be non-negative (probabilities, not logits). "
            f"Received: min({name})={probabilities.min()}"
        )
    row_sums = probabilities.sum(axis=-1)
    worst = row_sums.flat[np.abs(row_sums - 1.0).argmax()]
    if abs(worst - 1.0) > _ROW_SUM_TOLERANCE:
        raise ValueError(
            f"Each row of `{name}` must sum to 1 (probabilities, not logits). "
            f"Received a row of `{name}` summing to {worst}"
        )
    return probabilities


def _check_labels(labels, num_examples, num_classes):
    """Validates integer class indices of shape `[num_examples]`; returns int64."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            "Argument `labels` must hold integer class indices. "
            f"Received: labels.dtype={labels.dtype}"
        )
    if labels.shape != (num_examples,):
        raise ValueError(
            f"Argument `labels` must have shape ({num_examples},), one class index per "
            f"row of `probabilities`. Received: labels.shape={labels.shape}"
        )
    if labels.min() < 0 or labels.max() >= num_classes:
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise ValueError(
            f"Argument `labels` must lie in [0, {num_classes}) for {num_classes} classes. "
            f"Received a label {bad}"
        )
    return labels.astype(np.int64)


def _check_classification(labels, probabilities):
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2:
        raise ValueError(
            "Argument `probabilities` must be 2-D, [num_examples, num_classes]. "
            f"Received: probabilities.shape={probabilities.shape}"
        )
    probabilities = _check_probabilities("probabilities", probabilities)
    labels = _check_labels(labels, *probabilities.shape)
    return labels, probabilities


def _check_1d(name, values):
    """Validates a non-empty, finite, numeric 1-D array; returns float64."""
    values = np.asarray(values)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"Argument `{name}` must be a non-empty 1-D array. "
            f"Received: {name}.shape={values.shape}"
        )
    if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)):
        raise ValueError(
            f"Argument `{name}` must be numeric. Received: {name}.dtype={values.dtype}"
        )
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"Argument `{name}` must be finite. Received NaN or inf in `{name}`.")
    return values


def _accuracy(labels, probabilities):
    return float(np.mean(np.argmax(probabilities, axis=-1) == labels))


def _negative_log_likelihood(labels, probabilities):
    label_probabilities = np.take_along_axis(probabilities, labels[:, None], axis=-1)[:, 0]
    return float(-np.mean(np.log(np.clip(label_probabilities, PROBABILITY_FLOOR, 1.0))))


def accuracy(labels, probabilities):
    """Fraction of examples whose most probable class is the label.

    Args:
        labels: integer array `[N]` of class indices in `[0, C)`.
        probabilities: float array `[N, C]`, rows summing to one.

    Returns:
        Python float in `[0, 1]`.

    Example:

    >>> accuracy([0, 1], [[0.9, 0.1], [0.6, 0.4]])
    0.5
    """
    return _accuracy(*_check_classification(labels, probabilities))


def negative_log_likelihood(labels, probabilities):
    """Mean negative log probability of the true class (in nats).

    Probabilities are clipped to at least `PROBABILITY_FLOOR` (1e-7) first, so
    a confidently wrong prediction costs about 16.1 nats instead of infinity.

    Args:
        labels: integer array `[N]` of class indices in `[0, C)`.
        probabilities: float array `[N, C]`, rows summing to one.

    Returns:
        Python float, non-negative.

    Example:

    >>> round(negative_log_likelihood([0, 1], [[0.5, 0.5], [0.5, 0.5]]), 4)
    0.6931
    """
    return _negative_log_likelihood(*_check_classification(labels, probabilities))


def brier_score(labels, probabilities):
    """Mean over examples of `sum_c (p_c - onehot(label)_c)^2` (Brier, 1950).

    This is the original multi-class form, in `[0, 2]`; TFP's
    `tfp.stats.brier_score` drops the constant 1 and so is this minus one.

    Args:
        labels: integer array `[N]` of class indices in `[0, C)`.
        probabilities: float array `[N, C]`, rows summing to one.

    Returns:
        Python float in `[0, 2]`.

    Example:

    >>> round(brier_score([0], [[0.75, 0.25]]), 4)
    0.125
    """
    labels, probabilities = _check_classification(labels, probabilities)
    one_hot = np.eye(probabilities.shape[1])[labels]
    return float(np.mean(np.sum((probabilities - one_hot) ** 2, axis=-1)))


def reliability_diagram_data(labels, probabilities, num_bins=15):
    """Per-bin confidence and accuracy of the predicted class.

    The confidence of an example is its largest probability; the prediction is
    correct when that class is the label. Confidences are put into `num_bins`
    equal-width bins on `[0, 1]`: bin `b` holds `[b / num_bins, (b + 1) /
    num_bins)`, and the last bin also holds 1.0. That is the binning of
    `tf.histogram_fixed_width_bins`, which `tfp.stats.expected_calibration_error`
    uses.

    Args:
        labels: integer array `[N]` of class indices in `[0, C)`.
        probabilities: float array `[N, C]`, rows summing to one.
        num_bins: integer >= 1.

    Returns:
        dict of NumPy arrays:
        - `"bin_edges"`: `[num_bins + 1]`, from 0 to 1.
        - `"bin_confidence"`: `[num_bins]`, mean confidence in each bin (NaN
          where the bin is empty).
        - `"bin_accuracy"`: `[num_bins]`, fraction correct in each bin (NaN
          where the bin is empty).
        - `"bin_count"`: `[num_bins]`, int64, the number of examples per bin.

    Example:

    >>> data = reliability_diagram_data(labels, result.probabilities, num_bins=10)
    >>> data["bin_accuracy"] - data["bin_confidence"]  # > 0: under-confident
    """
    _check_num_bins(num_bins)
    labels, probabilities = _check_classification(labels, probabilities)
    return _reliability_bins(labels, probabilities, num_bins)


def _reliability_bins(labels, probabilities, num_bins):
    confidence = probabilities.max(axis=-1)
    correct = (np.argmax(probabilities, axis=-1) == labels).astype(np.float64)
    bins = np.clip(np.floor(confidence * num_bins).astype(np.int64), 0, num_bins - 1)
    count = np.bincount(bins, minlength=num_bins)
    nonempty = count > 0

    def bin_mean(values):
        sums = np.bincount(bins, weights=values, minlength=num_bins)
        return np.divide(sums, count, out=np.full(num_bins, np.nan), where=nonempty)

    return {
        "bin_edges": np.linspace(0.0, 1.0, num_bins + 1),
        "bin_confidence": bin_mean(confidence),
        "bin_accuracy": bin_mean(correct),
        "bin_count": count.astype(np.int64),
    }


def expected_calibration_error(labels, probabilities, num_bins=15):
    """Expected calibration error (Guo et al., 2017, eq. 3).

    `ECE = sum_b (n_b / N) |accuracy_b - confidence_b|` over the equal-width
    confidence bins of `reliability_diagram_data`. It equals
    `tfp.stats.expected_calibration_error(num_bins, logits=log(probabilities),
    labels_true=labels)`.

    Args:
        labels: integer array `[N]` of class indices in `[0, C)`.
        probabilities: float array `[N, C]`, rows summing to one.
        num_bins: integer >= 1; 15 is the common choice.

    Returns:
        Python float in `[0, 1]`.

    Example:

    >>> expected_calibration_error(labels, result.probabilities, num_bins=15)
    """
    data = reliability_diagram_data(labels, probabilities, num_bins)
    count = data["bin_count"]
    nonempty = count > 0
    gaps = np.abs(data["bin_accuracy"][nonempty] - data["bin_confidence"][nonempty])
    return float(np.sum(count[nonempty] * gaps) / count.sum())


def ood_detection(scores_in, scores_out):
    """How well a score separates out-of-distribution from in-distribution data.

    A higher score must mean "more likely out of distribution" (predictive
    entropy, mutual information, an epistemic variance, one minus the maximum
    probability). The OOD examples are the positive class.

    Args:
        scores_in: 1-D array of scores on in-distribution examples.
        scores_out: 1-D array of scores on out-of-distribution examples.

    Returns:
        dict of Python floats:
        - `"auroc"`: area under the ROC curve (ties count one half), as
          `sklearn.metrics.roc_auc_score`.
        - `"aupr"`: area under the precision-recall curve with OOD positive,
          computed as average precision, as
          `sklearn.metrics.average_precision_score`.
        - `"fpr_at_95_tpr"`: the fraction of in-distribution examples flagged
          at the highest threshold that flags at least 95% of the OOD ones.

    Example:

    >>> ood = ood_detection(mnist_result.epistemic, notmnist_result.epistemic)
    >>> ood["auroc"]
    """
    scores_in = _check_1d("scores_in", scores_in)
    scores_out = _check_1d("scores_out", scores_out)
    scores = np.concatenate([scores_in, scores_out])
    is_out = np.concatenate([np.zeros(scores_in.size), np.ones(scores_out.size)])

    # Sweep the threshold down through the distinct scores; at each stop count
    # the true and false positives among the examples at or above it.
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores = scores[order]
    last_of_each_score = np.r_[np.flatnonzero(np.diff(sorted_scores)), scores.size - 1]
    true_positives = np.cumsum(is_out[order])[last_of_each_score]
    false_positives = last_of_each_score + 1 - true_positives

    tpr = np.r_[0.0, true_positives / scores_out.size]
    fpr = np.r_[0.0, false_positives / scores_in.size]
    auroc = np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0)

    precision = true_positives / (true_positives + false_positives)
    aupr = np.sum(np.diff(tpr) * precision)

    # TPR and FPR both grow as the threshold falls, so the first stop that
    # reaches the TPR level has the lowest FPR among those that do.
    first_at_level = np.argmax(tpr >= _TPR_LEVEL)
    return {
        "auroc": float(auroc),
        "aupr": float(aupr),
        "fpr_at_95_tpr": float(fpr[first_at_level]),
    }


def accuracy_coverage_curve(labels, probabilities, uncertainty):
    """Accuracy of the predictions kept when the most uncertain are rejected.

    Examples are kept in order of increasing `uncertainty`; the curve has one
    point per distinct uncertainty value `u`, keeping every example whose
    uncertainty is at most `u`, so tied examples are kept or rejected together
    and the curve does not depend on the order of the input. The last point
    has coverage 1.0 and the plain accuracy.

    Args:
        labels: integer array `[N]` of class indices in `[0, C)`.
        probabilities: float array `[N, C]`, rows summing to one.
        uncertainty: float array `[N]`, higher means less certain (predictive
            entropy, epistemic variance, ...).

    Returns:
        dict of NumPy arrays, with coverage increasing:
        - `"coverage"`: fraction of the examples kept, in `(0, 1]`.
        - `"accuracy"`: accuracy on the kept examples.
        - `"threshold"`: the largest uncertainty kept at that point.

    Example:

    >>> curve = accuracy_coverage_curve(labels, result.probabilities,
    ...                                 result.predictive_entropy)
    >>> curve["accuracy"][curve["coverage"] >= 0.9][0]  # accuracy at 90% kept
    """
    labels, probabilities = _check_classification(labels, probabilities)
    uncertainty = _check_1d("uncertainty", uncertainty)
    if uncertainty.shape != labels.shape:
        raise ValueError(
            f"Argument `uncertainty` must have shape {labels.shape}, one value per example. "
            f"Received: uncertainty.shape={uncertainty.shape}"
        )
    correct = np.argmax(probabilities, axis=-1) == labels
    order = np.argsort(uncertainty, kind="mergesort")
    sorted_uncertainty = uncertainty[order]
    last_of_each_value = np.r_[np.flatnonzero(np.diff(sorted_uncertainty)), labels.size - 1]
    num_kept = last_of_each_value + 1
    return {
        "coverage": num_kept / labels.size,
        "accuracy": np.cumsum(correct[order])[last_of_each_value] / num_kept,
        "threshold": sorted_uncertainty[last_of_each_value],
    }


def sample_size_curve(labels, sample_probabilities, sample_counts=None):
    """Accuracy and NLL of the Monte Carlo average against the number of samples.

    For each `t` in `sample_counts`, the prediction is the mean of the first
    `t` sampled probability vectors; this is the convergence figure of Gal &
    Ghahramani (2015), test error against the number of MC dropout samples.

    Args:
        labels: integer array `[N]` of class indices in `[0, C)`.
        sample_probabilities: float array `[T, N, C]`, one probability vector
            per Monte Carlo sample and example.
        sample_counts: optional integers in `[1, T]`; they are sorted and
            deduplicated. Defaults to every `t` from 1 to `T`.

    Returns:
        dict of NumPy arrays, one entry per sample count:
        - `"num_samples"`: int64, the sample counts, increasing.
        - `"accuracy"`: accuracy of the mean of the first `t` samples.
        - `"nll"`: negative log-likelihood of that mean.

    Example:

    >>> curve = sample_size_curve(labels, samples, sample_counts=[1, 10, 25, 100])
    >>> bz.plots.accuracy_vs_samples(curve["num_samples"], curve["accuracy"],
    ...                              "accuracy_vs_samples.png", nll=curve["nll"])
    """
    sample_probabilities = np.asarray(sample_probabilities)
    if sample_probabilities.ndim != 3:
        raise ValueError(
            "Argument `sample_probabilities` must be 3-D, [num_samples, num_examples, "
            f"num_classes]. Received: sample_probabilities.shape={sample_probabilities.shape}"
        )
    sample_probabilities = _check_probabilities("sample_probabilities", sample_probabilities)
    num_draws, num_examples, num_classes = sample_probabilities.shape
    labels = _check_labels(labels, num_examples, num_classes)

    if sample_counts is None:
        counts = np.arange(1, num_draws + 1)
    else:
        counts = np.asarray(sample_counts)
        if (
            counts.ndim != 1
            or counts.size == 0
            or not np.issubdtype(counts.dtype, np.integer)
            or counts.min() < 1
            or counts.max() > num_draws
        ):
            raise ValueError(
                f"Argument `sample_counts` must be a non-empty 1-D list of integers in "
                f"[1, {num_draws}] ({num_draws} samples were given). "
                f"Received: sample_counts={sample_counts!r}"
            )
        counts = np.unique(counts)

    # One running sum over the samples instead of T separate means.
    running_sum = np.zeros((num_examples, num_classes))
    accuracies, nlls = [], []
    drawn = 0
    for count in counts:
        running_sum += sample_probabilities[drawn:count].sum(axis=0)
        drawn = count
        mean = running_sum / count
        accuracies.append(_accuracy(labels, mean))
        nlls.append(_negative_log_likelihood(labels, mean))
    return {
        "num_samples": counts.astype(np.int64),
        "accuracy": np.array(accuracies),
        "nll": np.array(nlls),
    }


def spearman_correlation(x, y):
    """Spearman's rank correlation of two 1-D arrays (average ranks for ties).

    Returns NaN when either array is constant (no ranking to correlate),
    for instance the all-zero uncertainty of a deterministic model.

    Example:

    >>> round(bz.metrics.spearman_correlation([1, 2, 3, 4], [10, 20, 40, 30]), 6)
    0.8
    """
    from scipy import stats

    x, y = _check_1d("x", x), _check_1d("y", y)
    if x.shape != y.shape:
        raise ValueError(f"Arguments `x` and `y` must have one shape. Received: {x.shape} "
                         f"and {y.shape}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(stats.rankdata(x), stats.rankdata(y))[0, 1])


def sparsification_curve(error, uncertainty, num_points=20):
    """Mean error left as the most uncertain values are removed, beside the oracle's.

    The uncertainty ranks the values (pixels, examples); removing the most
    uncertain fraction first, a useful uncertainty lowers the mean error of
    what is left about as fast as the oracle, which removes the largest
    errors first (Ilg et al., 2018). AUSE, the area between the two curves
    over the removed fraction, is 0 for a perfect ranking.

    Args:
        error: 1-D array of non-negative errors.
        uncertainty: 1-D array of the same shape, higher means less certain.
        num_points: int >= 2, the removed fractions `0, 1/n, ..., (n-1)/n`.

    Returns:
        dict: `"removed"` (the fractions), `"error"` (mean error left when
        ranked by `uncertainty`), `"oracle"` (ranked by `error`), all NumPy
        arrays, and `"ause"`, a float.

    Example:

    >>> curve = bz.metrics.sparsification_curve(abs_error.ravel(), stddev.ravel())
    >>> curve["error"][-1], curve["oracle"][-1]  # error of the 5% most certain pixels
    """
    error, uncertainty = _check_1d("error", error), _check_1d("uncertainty", uncertainty)
    if error.shape != uncertainty.shape:
        raise ValueError(
            f"Argument `uncertainty` must have the shape of `error` {error.shape}. "
            f"Received: {uncertainty.shape}"
        )
    if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 2:
        raise ValueError(f"Argument `num_points` must be an integer >= 2. Received: {num_points!r}")
    removed = np.arange(num_points) / num_points

    def left_after_removal(order):
        # `order`: most to least likely to be removed.
        kept_means = np.cumsum(error[order][::-1])[::-1] / np.arange(error.size, 0, -1)
        return kept_means[np.floor(removed * error.size).astype(int)]

    curve = left_after_removal(np.argsort(-uncertainty, kind="mergesort"))
    oracle = left_after_removal(np.argsort(-error, kind="mergesort"))
    return {"removed": removed, "error": curve, "oracle": oracle,
            "ause": float(np.trapezoid(curve - oracle, removed))}


def _check_features(name, features):
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"Argument `{name}` must be [num_examples >= 2, num_features]. "
                         f"Received: shape={features.shape}")
    if not np.all(np.isfinite(features)):
        raise ValueError(f"Argument `{name}` must be finite. Received NaN or inf.")
    return features


def frechet_distance(features_a, features_b):
    """The Frechet distance between Gaussians fitted to two sets of features.

    `|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))` (Heusel et al.,
    2017). On the features of an Inception network it is the FID; on any
    other network's features it is a Frechet distance in that network's
    feature space, comparable only with others measured the same way.

    Args:
        features_a, features_b: float arrays `[n_a, d]` and `[n_b, d]`.

    Returns:
        A non-negative float.

    Example:

    >>> bz.metrics.frechet_distance(real_features, generated_features)
    """
    from scipy import linalg

    a, b = _check_features("features_a", features_a), _check_features("features_b", features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"The feature sets must have one width. Received: {a.shape[1]} and "
                         f"{b.shape[1]}")
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    cov_a, cov_b = np.atleast_2d(cov_a), np.atleast_2d(cov_b)
    root = linalg.sqrtm(cov_a @ cov_b)
    # sqrtm of a product of covariances is real in exact arithmetic; rounding
    # leaves a tiny imaginary part.
    root = np.real(root)
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * root)
    return float(max(distance, 0.0))


def kernel_distance(features_a, features_b, num_subsets=10, subset_size=1000, seed=0):
    """The kernel (KID-style) distance: an unbiased MMD^2 with a cubic polynomial kernel.

    `k(x, y) = (x . y / d + 1)^3` (Binkowski et al., 2018), averaged over
    `num_subsets` random subsets of `subset_size` examples of each set
    (fewer when a set is smaller). Unbiased: it can be slightly negative
    for two samples of one distribution.

    Args:
        features_a, features_b: float arrays `[n_a, d]` and `[n_b, d]`.
        num_subsets: positive int.
        subset_size: positive int.
        seed: int, seeds the subsets.

    Returns:
        A dict: `mean` and `std` of the subsets' MMD^2, floats.

    Example:

    >>> bz.metrics.kernel_distance(real_features, generated_features)["mean"]
    """
    a, b = _check_features("features_a", features_a), _check_features("features_b", features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"The feature sets must have one width. Received: {a.shape[1]} and "
                         f"{b.shape[1]}")
    for name, value in (("num_subsets", num_subsets), ("subset_size", subset_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Argument `{name}` must be a positive integer. "
                             f"Received: {name}={value!r}")
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(a), len(b))
    dimension = a.shape[1]

    def kernel(x, y):
        return (x @ y.T / dimension + 1.0) ** 3

    values = []
    for _ in range(num_subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
        off_diagonal = size * (size - 1)
        values.append((k_xx.sum() - np.trace(k_xx)) / off_diagonal
                      + (k_yy.sum() - np.trace(k_yy)) / off_diagonal
                      - 2.0 * k_xy.mean())
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}
