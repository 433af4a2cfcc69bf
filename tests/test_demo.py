"""`bayes-zoo demo` with its small budget flag, and the example script."""

import os
import runpy
import sys

import numpy as np
import pytest

from bayes_zoo import cli
from bayes_zoo import demo

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples",
                       "train_bayesian_cnn_digits.py")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_quick_demo_prints_the_uncertainty_table_and_writes_pngs(capsys, tmp_path):
    status = cli.main(["demo", "--quick", "--output", str(tmp_path)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert f"Training {demo.QUICK_EPOCHS} epochs" in out
    table = out[out.index("inputs"):].splitlines()
    assert table[0].split()[:3] == ["inputs", "n", "accuracy"]
    test_row, rotated_row, noise_row = (line.split() for line in table[1:4])
    assert test_row[:3] == ["test", "digits", "359"]
    assert rotated_row[:3] == ["rotated", "digits", "359"]
    assert noise_row[:4] == ["uniform", "noise", "359", "-"]
    # The table shows the uncertainties the demo computed, not placeholders.
    assert len({float(value) for value in test_row[4:] + rotated_row[4:]}) > 1
    assert "Epistemic uncertainty on rotated digits:" in out
    for name in ("uncertainty_rotated.png", "uncertainty_noise.png", "examples.png"):
        with open(tmp_path / name, "rb") as file:
            assert file.read(8) == PNG_SIGNATURE
    assert (tmp_path / "model.keras").is_file() and (tmp_path / "training_log.csv").is_file()


def test_strange_inputs_rotate_the_digits_and_draw_noise():
    images = np.random.default_rng(0).uniform(size=(3, 4, 4, 1)).astype("float32")
    strange = demo.strange_inputs(images, seed=1)
    # A quarter turn: the top row becomes the left column, read upwards.
    np.testing.assert_array_equal(strange["rotated digits"][:, :, 0, 0],
                                  images[:, 0, ::-1, 0])
    noise = strange["uniform noise"]
    assert noise.shape == images.shape and noise.dtype == np.float32
    assert 0.0 <= noise.min() and noise.max() < 1.0
    np.testing.assert_array_equal(noise, demo.strange_inputs(images, seed=1)["uniform noise"])


def test_format_table_marks_missing_accuracy():
    row = {"n": 2, "accuracy": None, "predictive_entropy": 1.0, "aleatoric": 0.5,
           "epistemic": 0.25, "mutual_information": 0.125}
    line = demo.format_table({"uniform noise": row}).splitlines()[1]
    assert line.split() == ["uniform", "noise", "2", "-", "1.0000", "0.5000", "0.2500", "0.1250"]


def test_run_demo_refuses_both_budgets(tmp_path):
    with pytest.raises(ValueError, match="`epochs` or `quick`"):
        demo.run_demo(epochs=3, quick=True, output_dir=tmp_path)


def test_example_script_trains_and_prints_uncertainty(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [EXAMPLE, "--epochs", "1"])
    runpy.run_path(EXAMPLE, run_name="__main__")
    out = capsys.readouterr().out
    lines = out[out.index("inputs"):].splitlines()
    assert lines[1].split()[:2] == ["test", "digits"]
    assert lines[2].split()[:2] == ["rotated", "digits"]
