"""benchmarks/gan_experiment.py end to end, on tiny GAN cards and a tiny CIFAR-10 tree."""

import argparse
import json
import os
import shutil
import tomllib

import benchmark_modules
import numpy as np
import pytest
import tensorflow as tf

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_MODEL = {"image_size": "8", "latent_dim": "4", "ngf": "2", "ndf": "2"}

reproduce = benchmark_modules.load("reproduce")
gan_experiment = benchmark_modules.load("gan_experiment")


def _tiny_card(name):
    """The repository's GAN card with tiny networks, batches and epochs."""
    with open(os.path.join(REPOSITORY, "models", f"{name}.toml")) as file:
        lines = file.read().splitlines()
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip()
        if key in TINY_MODEL:
            line = f"{key} = {TINY_MODEL[key]}"
        elif key == "batch_size":
            line = "batch_size = 4"
        elif key == "epochs":
            line = "epochs = 2"
        elif key == "uncertainty_samples" and not line.strip().endswith("= 0"):
            line = "uncertainty_samples = 2"
        out.append(line)
    return "\n".join(out) + "\n"


@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch):
    home = tmp_path / "zoo"
    (home / "models").mkdir(parents=True)
    for name in gan_experiment.CARDS:
        (home / "models" / f"{name}.toml").write_text(_tiny_card(name))
    classifier = gan_experiment.FEATURE_CLASSIFIER
    shutil.copy(os.path.join(REPOSITORY, "models", f"{classifier}.toml"), home / "models")
    (home / "saved_models" / classifier).mkdir(parents=True)
    shutil.copy(os.path.join(REPOSITORY, "saved_models", classifier, "model.keras"),
                home / "saved_models" / classifier)
    monkeypatch.setenv("BAYES_ZOO_HOME", str(home))
    results = tmp_path / "results"
    monkeypatch.setattr(gan_experiment, "RESULTS_FOLDER", str(results))
    monkeypatch.setattr(gan_experiment, "REPOSITORY", str(tmp_path))
    rng = np.random.default_rng(0)
    classes = "airplane automobile bird cat deer dog frog horse ship truck".split()
    for split in ("train", "test"):
        for name in classes:
            folder = tmp_path / "data" / "cifar10" / split / name
            folder.mkdir(parents=True)
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            tf.io.write_file(str(folder / "0.png"), tf.io.encode_png(pixels))
    return tmp_path


def _args(tmp_path, **overrides):
    return argparse.Namespace(**{"data_dir": str(tmp_path / "data"),
                                 "scratch_dir": str(tmp_path / "scratch"), "epochs": None,
                                 "retrain": False, "skip_train": False,
                                 "max_steps_per_epoch": 2, **overrides})


def test_trains_both_gans_tracks_them_and_measures_them(tiny_zoo):
    record = gan_experiment.run(_args(tiny_zoo))
    assert set(record["models"]) == set(gan_experiment.CARDS)
    for name, entry in record["models"].items():
        assert entry["epochs"] == 2 and entry["max_steps_per_epoch"] == 2
        assert len(entry["history"]["frechet_distance"]) == 2
        assert len(entry["class_histograms"]) == 2
        final = entry["final"]
        assert final["num_images"] == 10 and sum(final["class_histogram"]) == 10
        assert np.isfinite(final["frechet_distance"])
        folder = tiny_zoo / "zoo" / "saved_models" / name
        for artefact in ("model.keras", "history.csv", "training.png",
                         "samples/samples_epoch_002.png"):
            assert (folder / artefact).is_file(), artefact
        # The card's [results] table holds the same final measurement.
        results = tomllib.loads((tiny_zoo / "zoo" / "models" / f"{name}.toml").read_text())[
            "results"]
        assert results["frechet_distance"] == pytest.approx(final["frechet_distance"], rel=1e-3)
        assert results["classes_covered"] == final["classes_covered"] and results["epochs"] == 2
    for name in gan_experiment.BAYESIAN_CARDS:
        final = record["models"][name]["final"]
        assert final["d_uncertainty_generated"] > 0
        assert 0 < final["d_uncertainty_generated_stderr"] < final["d_uncertainty_generated"]
    twin = record["models"][gan_experiment.TWIN]["final"]
    assert twin["d_uncertainty_generated"] == twin["d_uncertainty_generated_stderr"] == 0.0
    for path in record["plots"]:
        assert (tiny_zoo / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = "\n".join(gan_experiment.markdown({**record, "machine": "a CPU"}))
    assert "| `dcgan_bayesian_cifar10` | 2 (2 batches each) |" in text
    assert "not the Inception FID" in text and "no mode collapse" in text
    history = record["models"]["dcgan_bayesian_cifar10"]["history"]["frechet_distance"]
    lowest = int(np.argmin(history))
    assert f"| {history[lowest]:.2f} ({lowest + 1} of 2) |" in text

    # The run wrote its record; a trained card is measured again without training, from it.
    with open(tiny_zoo / "results" / f"{gan_experiment.NAME}.json") as file:
        written = json.load(file)
    assert set(written["models"]) == set(gan_experiment.CARDS)
    assert written["experiment"] == gan_experiment.NAME
    again = gan_experiment.run(_args(tiny_zoo, skip_train=True))
    for name in gan_experiment.CARDS:
        assert again["models"][name]["history"] == record["models"][name]["history"]
        assert again["models"][name]["train_seconds"] == record["models"][name]["train_seconds"]


def test_an_interrupted_run_keeps_the_cards_it_finished(tiny_zoo, monkeypatch):
    train = gan_experiment._train

    def train_only_the_first(bz, card, *rest):
        if card.name != gan_experiment.CARDS[0]:
            raise KeyboardInterrupt
        return train(bz, card, *rest)

    monkeypatch.setattr(gan_experiment, "_train", train_only_the_first)
    with pytest.raises(KeyboardInterrupt):
        gan_experiment.run(_args(tiny_zoo))
    with open(tiny_zoo / "results" / f"{gan_experiment.NAME}.json") as file:
        kept = json.load(file)
    assert set(kept["models"]) == {gan_experiment.CARDS[0]}
    text = "\n".join(gan_experiment.markdown(kept))
    assert (f"Not trained yet: `{gan_experiment.CARDS[1]}`, `{gan_experiment.CARDS[2]}`"
            " (the next `reproduce.py --rows dcgan_cifar10` trains them") in text
    assert "no mode collapse" in text and "Frechet distance <=" not in text
    assert "final" in kept["models"][gan_experiment.CARDS[0]]
    # The next run measures the finished card again and trains only the other.
    monkeypatch.setattr(gan_experiment, "_train", train)
    record = gan_experiment.run(_args(tiny_zoo))
    assert set(record["models"]) == set(gan_experiment.CARDS)
    first = gan_experiment.CARDS[0]
    assert record["models"][first]["history"] == kept["models"][first]["history"]


def test_a_model_the_record_does_not_know_is_not_passed_off(tiny_zoo):
    folder = tiny_zoo / "zoo" / "saved_models" / gan_experiment.CARDS[0]
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"")
    with pytest.raises(ValueError, match="--retrain"):
        gan_experiment.run(_args(tiny_zoo))


def test_targets_say_met_or_missed():
    def final(frechet, kernel, real, generated, covered):
        return {"frechet_distance": frechet, "kernel_distance": kernel,
                "kernel_distance_std": 0.001, "d_uncertainty_heldout_real": real,
                "d_uncertainty_generated": generated, "classes_covered": covered,
                "class_histogram": [1] * 10, "num_images": 10000}

    record = {"models": {
        "dcgan_bayesian_cifar10": {"final": final(10.0, 0.02, 0.01, 0.03, 10), "history": {
            "d_uncertainty_generated": [0.01, 0.02, 0.03],
            "d_uncertainty_heldout_real": [0.02, 0.01, 0.01]}},
        "dcgan_frequentist_cifar10": {"final": final(12.0, 0.01, 0.0, 0.0, 10)},
        "dcgan_bayesian_softplus_cifar10": {"final": final(13.0, 0.005, 0.02, 0.01, 9)}}}
    text = "\n".join(gan_experiment.target_lines(record))
    paper, softplus = "| `dcgan_bayesian_cifar10` |", "| `dcgan_bayesian_softplus_cifar10` |"
    assert f"{paper} Frechet distance <= frequentist-D's | 10.00 vs 12.00 | met |" in text
    assert f"{paper} kernel distance <= frequentist-D's | 0.0200 vs 0.0100 | missed |" in text
    assert (f"{paper} D's uncertainty higher on generated than on real images | 0.03 vs 0.01 "
            "(higher on generated after 2 of 3 epochs) | met |") in text
    assert (f"{paper} no mode collapse: every class predicted among 10000 samples "
            "| 10 of 10 classes | met |") in text
    assert f"{softplus} Frechet distance <= frequentist-D's | 13.00 vs 12.00 | missed |" in text
    assert f"{softplus} kernel distance <= frequentist-D's | 0.0050 vs 0.0100 | met |" in text
    assert (f"{softplus} D's uncertainty higher on generated than on real images "
            "| 0.01 vs 0.02 | missed |") in text
    assert "9 of 10 classes | missed |" in text
    assert gan_experiment.target_lines({"models": {}}) == []
    del record["models"]["dcgan_frequentist_cifar10"]
    alone = "\n".join(gan_experiment.target_lines(record))
    assert "Frechet" not in alone and "2 of 3 epochs) | met |" in alone


@pytest.mark.parametrize("stderr, verdict", [(0.0005, "missed"), (0.0001, "met")])
def test_uncertainty_target_needs_a_difference_beyond_two_standard_errors(stderr, verdict):
    final = {"d_uncertainty_generated": 0.1881, "d_uncertainty_heldout_real": 0.1877,
             "d_uncertainty_generated_stderr": stderr,
             "d_uncertainty_heldout_real_stderr": stderr,
             "classes_covered": 10, "class_histogram": [1] * 10, "num_images": 10000}
    text = "\n".join(gan_experiment.target_lines(
        {"models": {"dcgan_bayesian_cifar10": {"final": final}}}))
    margin = 2 * np.hypot(stderr, stderr)
    assert ("higher on generated than on real images (by more than 2 standard errors) | "
            f"0.1881 vs 0.1877: +0.0004, 2 SE {margin:.2g} | {verdict} |") in text
