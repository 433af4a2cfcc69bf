"""benchmarks/pruning_experiment.py: its helpers, figures and RESULTS.md section (no training)."""

import copy
import os
import re
import sys

import keras
import matplotlib.image
import numpy as np
import pytest

import bayes_zoo as bz

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
import pruning_experiment as experiment  # noqa: E402


def test_experiments_contract():
    title, run, markdown = experiment.EXPERIMENTS["alexnet_l1_pruning"]
    assert "Table 7" in title
    assert callable(run) and callable(markdown)


def test_fraction_for_budget_matches_the_frequentist_alexnet():
    # The zoo's AlexNet: 2,174,912 kernel weights and 1,034 biases, each with a
    # mean and a spread; the frequentist twin stores one number per weight.
    kernels, biases = 2_174_912, 1_034
    fraction = bz.pruning.fraction_for_budget(2 * (kernels + biases), kernels, kernels + biases)
    assert fraction == pytest.approx(0.5 + biases / (2 * kernels))
    left = 2 * (kernels - round(fraction * kernels) + biases)
    assert abs(left - (kernels + biases)) <= 2


def test_fraction_for_budget_edges():
    assert bz.pruning.fraction_for_budget(100, 40, 120) == 0.0
    assert bz.pruning.fraction_for_budget(100, 40, 100) == 0.0
    assert bz.pruning.fraction_for_budget(100, 40, 0) == 1.0
    with pytest.raises(ValueError, match="prunable_weights"):
        bz.pruning.fraction_for_budget(100, 0, 50)


def test_budget_fraction_prunes_a_variational_mlp_to_its_frequentist_twins_count():
    posterior = bz.posteriors.MultiplicativeNormal()
    inputs = keras.Input((12,))
    x = bz.layers.DenseLocalReparameterization(30, activation="relu", posterior=posterior)(inputs)
    outputs = bz.layers.DenseLocalReparameterization(5, posterior=posterior)(x)
    bayesian = keras.Model(inputs, outputs)
    x = keras.layers.Dense(30, activation="relu")(inputs)
    frequentist = keras.Model(inputs, keras.layers.Dense(5)(x))
    counts = bz.pruning.count_parameters(bayesian)
    target = bz.pruning.count_parameters(frequentist)["trainable"]
    fraction = bz.pruning.fraction_for_budget(counts["non_zero_parameters"], 12 * 30 + 30 * 5,
                                              target)
    bz.pruning.prune_l1(bayesian, fraction=fraction)
    # Each layer rounds its own count: within two stored numbers per layer.
    assert abs(bz.pruning.count_parameters(bayesian)["non_zero_parameters"] - target) <= 4


def test_global_threshold_fractions():
    layers = [np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.05, 0.9])]
    threshold, fractions = experiment.global_threshold_fractions(layers, 0.5)
    assert threshold == pytest.approx(0.2)
    assert fractions == pytest.approx([0.5, 0.5])
    threshold, fractions = experiment.global_threshold_fractions(layers, 0.0)
    assert fractions == [0.0, 0.0]


def test_kl_minimising_mean_minimises_the_multiplicative_kl():
    prior, log_alpha = 0.1, -2.0
    alpha = np.exp(log_alpha)
    mu = np.linspace(1e-3, 0.5, 200_001)
    sigma = np.sqrt(alpha) * mu
    kl = np.log(prior / sigma) + (sigma**2 + mu**2) / (2 * prior**2) - 0.5
    expected = experiment.kl_minimising_mean(prior, log_alpha)
    assert mu[np.argmin(kl)] == pytest.approx(expected, abs=1e-5)
    assert experiment.kl_minimising_mean(0.1, -10.0) == pytest.approx(0.1, rel=1e-4)


def test_half_normal_helpers():
    low, median, high = experiment.half_normal_percentiles(0.1)
    samples = np.abs(np.random.default_rng(0).normal(0.0, 0.1, 200_000))
    assert [low, median, high] == pytest.approx(np.percentile(samples, [10, 50, 90]), rel=0.02)
    share = experiment.half_normal_share(0.1, 0.0, 0.01)
    assert share == pytest.approx(np.mean(samples < 0.01), abs=0.003)


def _record(unpruned=0.70, l1=0.40, frequentist=True):
    layers = []
    for name, size in (("conv1", 23_232), ("logits", 1_280)):
        layers.append({
            "name": name, "num_weights": size, "abs_mu_percentiles": [0.015, 0.07, 0.16],
            "log_alpha_percentiles": [-9.98, -9.97, -9.96], "l1_threshold": 0.07,
            "fraction_pruned": 0.5002, "l1_mass_pruned": 0.22, "l2_mass_pruned": 0.07,
            "global_threshold_fraction": 0.53, "kl_minimiser": 0.09999,
            "prior_stddev": 0.1, "near_zero_share": 0.02, "at_kl_minimiser_share": 0.12,
            "signal_to_noise_overlap_with_l1": 0.8,
        })
    result = {"nll": 1.5, "ece": 0.05, "num_examples": 10_000, "num_samples": 25,
              "seconds": 600.0, "non_zero_parameters": 2_175_946, "non_zero_means": 1_088_000}
    record = {
        "experiment": "alexnet_l1_pruning", "title": experiment.TITLE, "card": "alexnet_lrt_cifar10",
        "dataset": "cifar10", "dataset_label": "CIFAR-10 (JPEG q≈75)", "test_source": "x",
        "paper": experiment.PAPER,
        "model": {"epochs": 40, "card_epochs": 100, "train_samples": 1,
                  "card_train_samples": 10, "posterior": "MultiplicativeNormal",
                  "initial_loc_stddev": 0.1},
        "num_test_examples": 10_000, "num_samples": 25,
        "parameters": {"bayesian": {"non_zero_parameters": 4_351_892},
                       "frequentist": 2_175_946, "prunable_kernel_weights": 2_174_912},
        "fraction": 0.500238, "global_threshold": 0.076,
        "results": {
            "unpruned": dict(result, accuracy=unpruned, non_zero_parameters=4_351_892),
            "frequentist": (dict(result, accuracy=0.55, num_samples=1, parameters=2_175_946,
                                 epochs=14, card_epochs=100) if frequentist else None),
            "l1": dict(result, accuracy=l1, fraction_pruned=0.500238),
            "l1_finetuned": dict(result, accuracy=l1 + 0.1, epochs=2, steps_per_epoch=176,
                                 batch_size=256, train_samples=1, optimizer="adam",
                                 learning_rate=0.001, kl_schedule="blundell",
                                 final_train_loss=3.2, final_train_accuracy=0.5),
            "signal_to_noise": dict(result, accuracy=0.1, fraction_pruned=0.500238,
                                    overlap_with_l1=0.84),
        },
        "layers": layers,
        "initial_abs_mu_percentiles": experiment.half_normal_percentiles(0.1),
        "initial_shares": {"near_zero": 0.08, "at_kl_minimiser": 0.048},
        "sweep": {"fractions": [0.0, 0.5, 0.9], "num_samples": 1, "num_examples": 2000,
                  "l1": [unpruned, l1, 0.1], "signal_to_noise": [unpruned, 0.1, 0.1]},
        "timings": {},
        "command": "python benchmarks/reproduce.py --rows alexnet_l1_pruning",
        "machine": "test machine, 2 cores, no GPU",
        "measured": "2026-12-01 00:00 UTC",
        "plots": ["benchmarks/results/alexnet_l1_pruning/abs_mu_histograms.png",
                  "benchmarks/results/alexnet_l1_pruning/accuracy_vs_pruned_fraction.png"],
        "seconds": 3600.0,
    }
    return record


def _cells(line):
    return len(re.split(r"(?<!\\)\|", line.strip())) - 2


def test_markdown_reports_the_measurement_and_the_paper():
    lines = experiment.markdown(_record())
    assert all(isinstance(line, str) for line in lines)
    text = "\n".join(lines)
    assert not text.startswith("#")
    for expected in ("| 71% |", "| 73% |", "70.00%", "40.00%", "55.00%", "50.02%",
                     "CIFAR-10 (JPEG q≈75)", "T = 25", "40 of the card's 100 epochs",
                     "not reproduced", "s/√(1+α)", "L1 term",
                     "(results/alexnet_l1_pruning/abs_mu_histograms.png)",
                     "python benchmarks/reproduce.py --rows alexnet_l1_pruning"):
        assert expected in text, expected
    assert "None" not in text and "nan" not in text
    # Every table row has as many cells as its header.
    table, num_tables = [], 0
    for line in lines + [""]:
        if line.startswith("|"):
            table.append(line)
        elif table:
            assert {_cells(row) for row in table} == {_cells(table[0])}, table
            table, num_tables = [], num_tables + 1
    assert num_tables == 3


def test_markdown_without_a_trained_frequentist_and_with_a_small_drop():
    record = _record(unpruned=0.72, l1=0.715, frequentist=False)
    text = "\n".join(experiment.markdown(record))
    assert "not trained" in text
    assert "is reproduced in this respect" in text
    record["results"]["l1"]["accuracy"] = 0.4
    record_copy = copy.deepcopy(record)
    experiment.markdown(record_copy)
    assert record_copy == record  # markdown does not change the record


def test_figures_are_written(tmp_path):
    record = _record()
    rng = np.random.default_rng(0)
    layers = [{"name": name, "abs_mu": np.abs(rng.normal(0, 0.1, size)), "l1_threshold": 0.07,
               "kl_minimiser": 0.1} for name, size in (("conv1", 500), ("logits", 50))]
    paths = [
        experiment._plot_histograms(layers, str(tmp_path / "h.png"), 0.5, 0.1),
        experiment._plot_sweep(record, str(tmp_path / "s.png")),
    ]
    for path in paths:
        assert matplotlib.image.imread(path).shape[0] > 100
