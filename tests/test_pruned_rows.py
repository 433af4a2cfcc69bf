"""A `[pruning]` card: its run starts from a parent row's trained model, pruned to a budget."""

import os
import shutil

import benchmark_modules
import numpy as np
import pytest

import bayes_zoo as bz
from bayes_zoo import trainer
from bayes_zoo import zoo

PRUNING = """
[pruning]
parent = "demo_lrt_digits"
parameters_of = "demo_frequentist_digits"
"""


def _zoo_home(tmp_path, pruning=PRUNING):
    """A zoo home with the digits demo, its frequentist twin, and a card pruning the demo."""
    models = tmp_path / "models"
    models.mkdir()
    demo = zoo.card("demo_lrt_digits").path
    shutil.copy(demo, models / "demo_lrt_digits.toml")
    with open(demo) as file:
        text = file.read()
    start, end = text.index("[prior]"), text.index("[data]")
    frequentist = (text[:start] + text[end:]).replace('method = "lrt"', 'method = "frequentist"')
    (models / "demo_frequentist_digits.toml").write_text(
        frequentist.replace("demo_lrt_digits", "demo_frequentist_digits"))
    pruned = text.replace("[model]", pruning.lstrip() + "\n[model]", 1)
    (models / "demo_pruned_digits.toml").write_text(
        pruned.replace("saved_models/demo_lrt_digits", "saved_models/demo_pruned_digits"))
    return tmp_path


def test_pruning_tables_are_checked(tmp_path):
    home = _zoo_home(tmp_path)
    card = zoo.card("demo_pruned_digits", root=home)
    assert card.pruning == bz.zoo.card_schema.PruningConfig(
        parent="demo_lrt_digits", parameters_of="demo_frequentist_digits", criterion="l1")
    bad = {
        'parent = "nowhere"': "parent names 'nowhere', which is no card",
        'criterion = "random"': "criterion must be one of",
        'colour = "red"': "unknown key",
    }
    for line, message in bad.items():
        text = (home / "models" / "demo_pruned_digits.toml").read_text()
        key = line.split(" = ")[0]
        kept = [row for row in text.splitlines() if not row.startswith(key + " ")]
        text = "\n".join(kept).replace("[pruning]", f"[pruning]\n{line}", 1)
        path = tmp_path / f"bad_{key}.toml"
        path.write_text(text)
        # The bad card lives outside models/: its parent lookup is by its own folder.
        shutil.copy(home / "models" / "demo_lrt_digits.toml", tmp_path)
        shutil.copy(home / "models" / "demo_frequentist_digits.toml", tmp_path)
        with pytest.raises(ValueError, match=message):
            zoo.read_card(str(path))
    frequentist = (home / "models" / "demo_frequentist_digits.toml").read_text()
    (tmp_path / "freq_pruned.toml").write_text(
        frequentist.replace("[model]", PRUNING.lstrip() + "\n[model]", 1))
    with pytest.raises(ValueError, match="variational method"):
        zoo.read_card(str(tmp_path / "freq_pruned.toml"))


def test_a_pruned_row_needs_its_parent_trained_first(tmp_path):
    home = _zoo_home(tmp_path)
    with pytest.raises(FileNotFoundError, match="bayes-zoo train demo_lrt_digits"):
        trainer.pruning_start(zoo.card("demo_pruned_digits", root=home))
    from bayes_zoo.tasks.classification import trainer as task_trainer

    with pytest.raises(ValueError, match="needs `pruning_start`"):
        task_trainer.train(zoo.card("demo_pruned_digits", root=home),
                           output_dir=str(tmp_path / "run"), verbose=0)


def test_a_pruned_row_prunes_its_trained_parent_to_the_budget_and_keeps_it_pruned(tmp_path):
    home = _zoo_home(tmp_path)
    parent_card = zoo.card("demo_lrt_digits", root=home)
    options = dict(max_steps_per_epoch=2, num_samples=2, verbose=0)
    parent = trainer.train(parent_card, epochs=1, output_dir=str(home / "saved_models" /
                                                                 "demo_lrt_digits"), **options)
    card = zoo.card("demo_pruned_digits", root=home)
    start = trainer.pruning_start(card)
    twin = zoo.card("demo_frequentist_digits", root=home).build_model(num_train_examples=1)
    assert start.target_parameters == twin.count_params()
    assert start.model_file == os.path.join(str(home), "saved_models", "demo_lrt_digits",
                                            "model.keras")

    run = trainer.train(card, epochs=1, output_dir=str(tmp_path / "pruned"), **options)
    budget = start.target_parameters
    counts = bz.pruning.count_parameters(run.model)
    assert counts["non_zero_parameters"] <= budget
    # Not far below it either: the per-layer rounding costs a few weights at most.
    assert counts["non_zero_parameters"] >= budget - 2 * 10
    assert run.metrics["non_zero_parameters"] == counts["non_zero_parameters"]
    assert run.metrics["pruned_from"] == "demo_lrt_digits"
    assert counts["non_zero_parameters"] < bz.pruning.count_parameters(
        parent.model)["non_zero_parameters"]

    # The smallest parent means went, the largest stayed, and training kept them at zero.
    saved = bz.zoo.load_file(str(tmp_path / "pruned" / "model.keras"), compile=False)
    for layer, parent_layer in zip(bz.pruning._variational_layers(saved),
                                   bz.pruning._variational_layers(parent.model)):
        mask = np.asarray(layer.kernel_mask) != 0
        parent_means = np.abs(bz.pruning.kernel_means(parent_layer))
        assert not mask.all() and mask.any()
        assert parent_means[~mask].max() <= parent_means[mask].min() + 1e-7
        assert np.all(bz.pruning.kernel_means(layer)[~mask] == 0.0)

    # reproduce.py's "before fine-tuning" row: the parent with the same masks, not trained since.
    before = benchmark_modules.load("reproduce").before_fine_tuning(card, None, 64)
    assert before["non_zero_parameters"] == counts["non_zero_parameters"]
    assert 0.0 <= before["accuracy"] <= 1.0 and before["nll"] > 0


def test_prune_to_budget_meets_the_budget_exactly_or_just_under():
    import keras

    inputs = keras.Input((12,))
    x = bz.layers.DenseLocalReparameterization(30, activation="relu")(inputs)
    model = keras.Model(inputs, bz.layers.DenseLocalReparameterization(7)(x))
    before = bz.pruning.count_parameters(model)["non_zero_parameters"]
    for target in (before, before - 1, 500, 200):
        _, report = bz.pruning.prune_to_budget(model, target)
        after = bz.pruning.count_parameters(model)["non_zero_parameters"]
        assert target - 4 <= after <= target
        assert "to " in report.criterion and report.non_zero_after <= report.non_zero_before
    with pytest.raises(ValueError, match="criterion"):
        bz.pruning.prune_to_budget(model, 10, criterion="random")
    with pytest.raises(ValueError, match="target_parameters"):
        bz.pruning.prune_to_budget(model, 0)
