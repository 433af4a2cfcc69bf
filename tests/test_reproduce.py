"""benchmarks/reproduce.py and its further experiments: card tables, rows, RESULTS.md sections."""

import argparse
import tomllib
import types

import benchmark_modules
import numpy as np
import pytest

reproduce = benchmark_modules.load("reproduce")
gal_experiments = benchmark_modules.load("gal_experiments")

CARD_WITHOUT_RESULTS = """\
description = "a card"
architecture = "gal_lenet"
method = "frequentist"
dataset = "mnist"

[evaluation]
num_samples = 1  # deterministic

[paper]
source = "somewhere"
"""


def recorded_row():
    metrics = {"accuracy": 0.99123456, "nll": 0.0312345, "ece": 0.004, "brier": 0.015,
               "aleatoric": 0.02, "epistemic": 0.0, "mutual_information": 0.0,
               "num_samples": 1}
    return {"metrics": metrics, "ood": {"dataset": "fashion_mnist",
                                        "predictive_entropy_auroc": 0.97654},
            "dataset_label": "MNIST", "epochs": 15, "card_epochs": 100, "train_samples": 1,
            "card_train_samples": 1, "train_seconds": 301.4, "machine": "a CPU",
            "train_command": "bayes-zoo train a_card --epochs 15",
            "evaluated": "2026-01-01 00:00 UTC"}


@pytest.mark.parametrize("artefacts", [False, True])
def test_write_card_results_adds_a_missing_results_table(tmp_path, artefacts):
    text = CARD_WITHOUT_RESULTS + (
        '\n[artefacts]\nmodel = "saved_models/a_card/model.keras"\n' if artefacts else "")
    path = tmp_path / "a_card.toml"
    path.write_text(text)
    reproduce.write_card_results(str(path), reproduce.results_table(recorded_row()))
    written = path.read_text()
    card = tomllib.loads(written)
    assert card["results"]["accuracy"] == 0.9912
    assert card["results"]["ood_auroc_fashion_mnist"] == 0.9765
    assert card["results"]["epochs"] == 15
    assert card["paper"] == {"source": "somewhere"}
    assert card["evaluation"] == {"num_samples": 1}
    assert written.startswith(CARD_WITHOUT_RESULTS + "\n[results]\n")
    if artefacts:
        assert card["artefacts"] == {"model": "saved_models/a_card/model.keras"}
        assert written.endswith('\n\n[artefacts]\nmodel = "saved_models/a_card/model.keras"\n')
    # Writing again replaces the table in place.
    reproduce.write_card_results(str(path), reproduce.results_table(recorded_row()))
    assert path.read_text() == written


def test_rows_take_the_cards_and_the_further_experiments():
    assert reproduce._rows("gal_lenet_none_mnist, gal_mc_samples,gal_training_set_size") == [
        "gal_lenet_none_mnist", "gal_mc_samples", "gal_training_set_size"]
    assert "gal_lenet_none_mnist" in reproduce.ROWS
    with pytest.raises(argparse.ArgumentTypeError, match="unknown row.*nope.*gal_mc_samples"):
        reproduce._rows("gal_mc_samples,nope")
    args = reproduce.build_parser().parse_args(
        ["--rows", "gal_training_set_size", "--iterations", "2000", "--eval-every", "500"])
    assert (args.iterations, args.eval_every, args.repetitions) == (2000, 500, None)


def fake_cards():
    return {name: types.SimpleNamespace(dataset="mnist", paper={}) for name in reproduce.ROWS}


def test_further_experiments_are_rendered_from_their_records():
    further = {
        "gal_mc_samples": ("MC samples", None, lambda record: [f"error {record['error']}"]),
        "gal_training_set_size": ("Training-set size", None, lambda record: ["unused"]),
    }
    rows = {"gal_mc_samples": {"experiment": "gal_mc_samples", "error": 0.0123},
            "gal_training_set_size": {"experiment": "gal_training_set_size",
                                      "not_run": "no time"}}
    text = reproduce.render_markdown(rows, fake_cards(), further)
    section = text.split("## Further experiments\n", 1)[1].split("\n## ", 1)[0]
    assert "### MC samples\n\nerror 0.0123\n" in section
    assert "unused" not in text
    not_run = text.split("## Not run\n", 1)[1]
    assert "- Gal: test error against training-set size: not run; no time." in not_run
    assert "AlexNet with L1 pruning (Shridhar et al., Table 7): not run;" in not_run
    assert "number of MC samples" not in not_run
    # Without any record there is no section, and every further row is listed as not run.
    text = reproduce.render_markdown({}, fake_cards(), further)
    assert "## Further experiments" not in text
    assert text.count("not recorded yet") == len(reproduce.FURTHER_ROWS)


def test_run_experiment_records_what_run_returns(tmp_path, monkeypatch):
    monkeypatch.setattr(reproduce, "RESULTS_FOLDER", str(tmp_path))
    monkeypatch.setattr(reproduce, "experiments", lambda: {
        "an_experiment": ("A title", lambda args: {"value": args.iterations}, None)})
    record = reproduce.run_experiment("an_experiment", argparse.Namespace(iterations=7))
    assert record["value"] == 7 and record["experiment"] == "an_experiment"
    assert record["title"] == "A title"
    with open(tmp_path / "an_experiment.json") as file:
        assert '"value": 7' in file.read()


def test_gal_experiments_follow_the_contract():
    assert list(gal_experiments.EXPERIMENTS) == ["gal_mc_samples", "gal_training_set_size"]
    for title, run, markdown in gal_experiments.EXPERIMENTS.values():
        assert isinstance(title, str) and callable(run) and callable(markdown)


def test_mc_samples_markdown_reads_the_record():
    errors = np.linspace(0.02, 0.01, 100)
    record = {
        "num_test_examples": 10000, "max_samples": 100, "repetitions": 5,
        "models": {"gal_lenet_all_mcdropout_mnist": {
            "label": "lenet-all", "epochs": 15, "mc_error_mean": list(errors),
            "mc_error_std": [0.001] * 100, "standard_dropout_error": 0.0123,
            "sampled_from_layer": "dropout_conv1"}},
        "plots": ["benchmarks/results/gal_mc_samples/error_vs_mc_samples.png"],
        "command": "python benchmarks/reproduce.py --rows gal_mc_samples",
        "machine": "a CPU", "measured": "2026-01-01 00:00 UTC", "seconds": 12.0,
    }
    text = "\n".join(gal_experiments.markdown_mc_samples(record))
    assert "Augmented-DSN on CIFAR-10" in text
    row = next(line for line in text.splitlines() if line.startswith("| lenet-all"))
    assert "| 2.00 ± 0.10% |" in row and row.endswith("| 1.00 ± 0.10% | 1.23% |")
    assert "(results/gal_mc_samples/error_vs_mc_samples.png)" in text
    # 2% falling linearly to 1% first drops below 1.23% at T = 78.
    assert ("lenet-all: the mean MC dropout error first falls below standard dropout's at "
            "T = 78 (1.00 ± 0.10% at T = 100 against 1.23%).") in text
    entry = record["models"]["gal_lenet_all_mcdropout_mnist"]
    for standard, words in ((0.005, "stays at or above standard dropout's up to T = 100"),
                            (0.03, "is below standard dropout's for every T from 1 to 100")):
        entry["standard_dropout_error"] = standard
        assert words in "\n".join(gal_experiments.markdown_mc_samples(record))


@pytest.mark.parametrize("iterations, reduced", [(10_000, False), (4_000, True)])
def test_training_set_size_markdown_says_when_the_budget_is_reduced(iterations, reduced):
    curve = {"iterations": [1000, 2000], "test_error": [0.03, 0.04], "seconds": 60.0,
             "evaluation": "mc_dropout"}
    record = {
        "num_train_images": 60000, "num_test_examples": 10000, "iterations": iterations,
        "default_iterations": 10_000, "eval_every": 1000, "batch_size": 64, "mc_samples": 10,
        "seed": 0, "subsets": [{"fraction": "1/32", "num_train_examples": 1875,
                                "curves": {"lenet-all, MC dropout": curve}}],
        "plots": ["benchmarks/results/gal_training_set_size/error_vs_iterations.png"],
        "command": "python benchmarks/reproduce.py --rows gal_training_set_size",
        "machine": "a CPU", "measured": "2026-01-01 00:00 UTC", "seconds": 120.0,
    }
    text = "\n".join(gal_experiments.markdown_training_set_size(record))
    assert ("**Reduced budget:**" in text) == reduced
    assert "| 1/32 | 1,875 | lenet-all, MC dropout | 4.00% | 3.00% (1,000) | 60 s |" in text
    passes = round(iterations * 64 / 1875)
    assert f"iterations are {passes} passes over the 1/32 subset." in text


def test_sampling_only_from_the_first_dropout_layer_changes_nothing():
    import bayes_zoo as bz

    model = bz.architectures.gal_lenet(dropout="ip", num_train_examples=100, seed=0)
    prefix, head = gal_experiments.split_at_first_stochastic_layer(model)
    assert [layer.name for layer in head.layers] == ["dropout_fc1", "logits"]
    assert head.layers[-1] is model.get_layer("logits")
    images = np.random.default_rng(0).uniform(size=(8, 28, 28, 1)).astype("float32")
    labels = np.arange(8) % 10
    features = prefix.predict(images, verbose=0)
    with bz.layers.posterior_mean(model):
        expected = bz.uncertainty.monte_carlo_probabilities(model, images, 1)[0].numpy()
        np.testing.assert_allclose(
            bz.uncertainty.monte_carlo_probabilities(head, features, 1)[0].numpy(), expected,
            rtol=1e-5, atol=1e-6)
        # Deterministic passes: the error is the same for every T.
        errors = gal_experiments.mc_errors_by_samples(model, images, labels, 3,
                                                      features=features, head=head)
    standard = gal_experiments.standard_dropout_error(model, images, labels)
    np.testing.assert_allclose(errors, [standard] * 3)
    # lenet-all samples from the dropout right after conv1.
    prefix, head = gal_experiments.split_at_first_stochastic_layer(
        bz.architectures.gal_lenet(dropout="all", num_train_examples=100))
    assert prefix is not None and head.layers[0].name == "dropout_conv1"


def test_shifted_images_are_noisy_clipped_and_reproducible():
    images = np.full((4, 8, 8, 3), 0.5, np.float32)
    images[0] = 1.0
    shifted = reproduce.shifted_images(images, 0.1)
    assert shifted.dtype == np.float32 and shifted.shape == images.shape
    assert shifted.min() >= 0.0 and shifted.max() <= 1.0
    assert abs(float(np.std(shifted[1:] - images[1:])) - 0.1) < 0.01
    np.testing.assert_array_equal(shifted, reproduce.shifted_images(images, 0.1))


def _measured_row(name, dataset, ood_dataset, **metrics):
    row = {
        "row": name, "dataset": dataset, "dataset_label": dataset, "paper": {},
        "metrics": {"accuracy": 0.9, "nll": 0.3, "ece": 0.02, "brier": 0.1, "aleatoric": 0.2,
                    "epistemic": 0.01, "mutual_information": 0.02, "num_samples": 10,
                    **metrics},
        "ood": {"dataset": ood_dataset, "predictive_entropy_auroc": 0.91,
                "mutual_information_auroc": 0.93, "epistemic_auroc": 0.92,
                "predictive_entropy_fpr_at_95_tpr": 0.4},
        "plots": [], "epochs": 100, "card_epochs": 100, "train_samples": 1,
        "card_train_samples": 1, "train_seconds": 60.0, "median_epoch_seconds": 0.6,
        "machine": "a CPU", "train_command": "bayes-zoo train x", "reproduce_command": "python x",
        "evaluated": "2026-01-01 00:00 UTC", "evaluation_seconds": 5.0,
    }
    return row


def test_results_render_table4_in_both_forms_and_an_ood_section_per_shifted_set():
    cards = {name: types.SimpleNamespace(dataset="mnist", paper={}, is_variational=True,
                                         method="lrt") for name in reproduce.ROWS}
    mnist = _measured_row("lenet5_lrt_mnist", "mnist", "fashion_mnist",
                          aleatoric_normalized=0.004, epistemic_normalized=0.0013)
    mnist["paper"] = {"aleatoric": 0.0096, "epistemic": 0.0026}
    cifar = _measured_row("lenet5_lrt_cifar10", "cifar10", "cifar10_gaussian_noise")
    text = reproduce.render_markdown({"lenet5_lrt_mnist": mnist, "lenet5_lrt_cifar10": cifar},
                                     cards, {})
    table4 = text.split("## Table 4, like for like\n", 1)[1].split("\n## ", 1)[0]
    # Only rows with both forms measured; the ratios are ours over the paper's.
    assert "| lenet5_lrt_mnist | 0.0096 / 0.0026 | 0.2000 / 0.0100 (3.846x) " \
           "| 0.0040 / 0.0013 (0.500x) |" in table4
    assert "lenet5_lrt_cifar10" not in table4
    assert "## Out-of-distribution detection: MNIST models against Fashion-MNIST" in text
    shifted = text.split("## Out-of-distribution detection: CIFAR-10 models against CIFAR-10 "
                         "test + Gaussian noise (std 0.1)\n", 1)[1].split("\n## ", 1)[0]
    assert "covariate shift" in shifted and "| lenet5_lrt_cifar10 | 0.9100 |" in shifted
    assert "lenet5_lrt_mnist" not in shifted


def test_sr_experiment_renders_its_record():
    sr_experiment = benchmark_modules.load("sr_experiment")
    assert set(sr_experiment.EXPERIMENTS) == {"espcn_x3"}

    def sets(psnr, spearman):
        return {name: {"psnr": psnr, "ssim": 0.9, "bicubic_psnr": 30.0, "bicubic_ssim": 0.87,
                       "spearman": spearman, "ause": None if spearman is None else 0.5}
                for name in ("Set5", "Set14")}

    record = {"models": {"espcn_lrt_bsds": {"epochs": 200, "train_seconds": 600.0,
                                            "sets": sets(31.9, 0.42)},
                         "espcn_frequentist_bsds": {"epochs": 200, "train_seconds": 300.0,
                                                    "sets": sets(31.5, None)}},
              "plots": ["benchmarks/results/espcn_x3/sparsification.png"],
              "machine": "a CPU", "evaluated": "2026-01-01 00:00 UTC"}
    text = "\n".join(sr_experiment.markdown(record))
    assert "| `espcn_lrt_bsds` | 200 | 10 min | 31.90 / 0.9000 | 31.90 / 0.9000 " \
           "| +1.90 dB / +1.90 dB | 0.420 / 0.420 | 0.500 / 0.500 |" in text
    assert "| `espcn_frequentist_bsds` | 200 | 5 min |" in text and "| – / – | – / – |" in text
    assert "| bicubic | – | – | 30.00 / 0.8700 |" in text
    assert "[sparsification.png](results/espcn_x3/sparsification.png)" in text
    # The card's [results] table, from the same record.
    lines = sr_experiment.card_results_table(record["models"]["espcn_lrt_bsds"], 400, record)
    assert lines[0] == "[results]" and "200 of the card's 400 epochs" in lines[1]
    results = tomllib.loads("\n".join(lines))["results"]
    assert results["psnr_set5"] == 31.9 and results["ssim_set14"] == 0.9
    assert results["bicubic_psnr_set14"] == 30.0 and results["std_error_spearman_set5"] == 0.42
    assert results["epochs"] == 200 and results["measured_on"] == "a CPU"
    lines = sr_experiment.card_results_table(
        record["models"]["espcn_frequentist_bsds"], 200, record)
    results = tomllib.loads("\n".join(lines))["results"]
    assert "Reduced" not in lines[1] and "std_error_spearman_set5" not in results
    assert "| `espcn_lrt_bsds` >= bicubic + 1.5 dB | +1.90 dB | +1.90 dB | met |" in text
    assert ("| `espcn_lrt_bsds` >= `espcn_frequentist_bsds` at 200 epochs "
            "| 31.90 vs 31.50 dB | 31.90 vs 31.50 dB | met |") in text
    assert "| std-error Spearman >= 0.3 | 0.420 | 0.420 | met |" in text
    # A twin trained for another budget, a small gain and a weak ranking each miss.
    record["models"]["espcn_frequentist_bsds"]["epochs"] = 40
    record["models"]["espcn_lrt_bsds"]["sets"] = sets(31.0, 0.25)
    text = "\n".join(sr_experiment.markdown(record))
    assert "| +1.00 dB | +1.00 dB | missed |" in text
    assert "at 200 epochs (twin: 40) | 31.00 vs 31.50 dB | 31.00 vs 31.50 dB | missed |" in text
    assert "| std-error Spearman >= 0.3 | 0.250 | 0.250 | missed |" in text


def test_recipe_study_section_embeds_the_tables_and_the_conclusions(tmp_path):
    (tmp_path / "recipe_study_a_card.md").write_text(
        "# Recipe study: a_card, 20 epochs\n\nintro\n\n| variant |\n|---|\n| reference |\n")
    (tmp_path / "recipe_study_a_card.png").write_bytes(b"png")
    assert reproduce.recipe_study_lines(str(tmp_path / "empty")) == []
    lines = reproduce.recipe_study_lines(str(tmp_path))
    assert lines[:5] == ["## The training recipe, chosen on validation data", "",
                         "### a_card, 20 epochs", "", "intro"]
    assert "| reference |" in lines and any("recipe_study_a_card.png" in line for line in lines)
    assert "### What the cards took from it" not in lines
    (tmp_path / reproduce.RECIPE_CONCLUSIONS).write_text("beta 0.01 won.\n")
    assert reproduce.recipe_study_lines(str(tmp_path))[-4:] == [
        "### What the cards took from it", "", "beta 0.01 won.", ""]


def test_table7_rows_compare_the_pruned_row_with_its_parent_and_the_budget():
    def row(name, accuracy, parameters, paper=None):
        return {"row": name, "epochs": 3, "non_zero_parameters": parameters,
                "paper": {} if paper is None else {"accuracy": paper},
                "metrics": {"accuracy": accuracy, "nll": 1.0, "ece": 0.05}}

    pruned, parent, frequentist = reproduce.PRUNED_ROWS[0]
    rows = {parent: row(parent, 0.70, 4_000, 0.73), frequentist: row(frequentist, 0.68, 2_000),
            pruned: row(pruned, 0.66, 1_990, 0.71)}
    text = "\n".join(reproduce.pruned_row_lines(rows))
    assert f"| {pruned} | 1,990 | 3 | 66.00% | 1.0000 | 0.0500 | 71% |" in text
    assert f"| {frequentist} | 2,000 | 3 | 68.00% |" in text and "| – |" in text
    assert "Pruning cost 4.00 points" in text and "missed by 1.00 points" in text
    assert "parameter count: met" in text
    rows[pruned] = row(pruned, 0.69, 2_001)
    text = "\n".join(reproduce.pruned_row_lines(rows))
    assert "parent: met" in text and "parameter count: missed" in text
    assert "before fine-tuning" not in text
    rows[pruned]["before_fine_tuning"] = {"accuracy": 0.60, "nll": 1.2, "ece": 0.01,
                                          "non_zero_parameters": 2_001}
    text = "\n".join(reproduce.pruned_row_lines(rows))
    assert f"| {parent}, pruned, before fine-tuning | 2,001 | 0 | 60.00% | 1.2000 | 0.0100 | – |" \
        in text
    assert "the parent lost 10.00 points; the 3 epochs of fine-tuning won back 9.00" in text
    del rows[frequentist]
    assert reproduce.pruned_row_lines(rows) == []


def test_sr_experiment_evaluates_a_trained_card_without_retraining_it(tmp_path, monkeypatch):
    sr_experiment = benchmark_modules.load("sr_experiment")
    trained = tmp_path / "model.keras"
    trained.write_bytes(b"")
    card = types.SimpleNamespace(name="espcn_lrt_bsds")
    bz = types.SimpleNamespace(
        zoo=types.SimpleNamespace(model_path=lambda card: str(trained)),
        super_resolution=types.SimpleNamespace(train_card=lambda *a, **k: pytest.fail("trained")))
    args = argparse.Namespace(retrain=False, skip_train=False, epochs=None)
    previous = {"espcn_lrt_bsds": {"epochs": 40, "train_seconds": 12.5, "sets": {"x": 1}}}
    entry = sr_experiment._trained_entry(bz, card, {}, "photos", args, previous)
    assert entry == {"epochs": 40, "train_seconds": 12.5, "sets": {}}
    # A model the record does not know about is not passed off as recorded.
    with pytest.raises(ValueError, match="--retrain"):
        sr_experiment._trained_entry(bz, card, {}, "photos", args, {})
    trained.unlink()
    with pytest.raises(FileNotFoundError, match="--skip-train"):
        sr_experiment._trained_entry(bz, card, {}, "photos",
                                     argparse.Namespace(retrain=False, skip_train=True), {})


def test_targets_say_met_or_missed_and_by_how_much():
    rows = {
        "lenet5_lrt_mnist": {"metrics": {"accuracy": 0.9905, "nll": 0.0316, "ece": 0.004},
                             "ood": {"mutual_information_auroc": 0.9659}},
        "lenet5_frequentist_mnist": {"metrics": {"accuracy": 0.9912, "nll": 0.0292,
                                                 "ece": 0.0027}},
        "lenet5_lrt_cifar10": {"metrics": {"accuracy": 0.70, "nll": 1.0, "ece": 0.02}},
        "lenet5_frequentist_cifar10": {"metrics": {"accuracy": 0.68, "nll": 1.1, "ece": 0.05}},
    }
    text = "\n".join(reproduce.target_lines(rows))
    assert "| lenet5_lrt_mnist | accuracy >= 0.992 | 99.05% | missed by 0.15 points |" in text
    assert "| lenet5_lrt_mnist | NLL <= 0.03 | 0.0316 | missed by 0.0016 |" in text
    assert "| lenet5_lrt_cifar10 | accuracy >= 0.69 | 70.00% | met |" in text
    assert "| alexnet_lrt_cifar10 | accuracy >= 0.73 | not measured | |" in text
    assert ("| lenet5_lrt_cifar10 | lenet5_frequentist_cifar10 | 70 vs 68: met "
            "| 1 vs 1.1: met | 0.02 vs 0.05: met |") in text
    assert "| lenet5_lrt_mnist | lenet5_frequentist_mnist | 99.05 vs 99.12: missed" in text
