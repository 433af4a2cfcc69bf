"""The `bayes-zoo` command, run in-process through `main` (and once as the console script)."""

import json
import os
import subprocess
import sys

import pytest

from bayes_zoo import cli
from bayes_zoo import trainer
from bayes_zoo import zoo


def run(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line(err, *fragments):
    lines = err.splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_list_shows_every_card(capsys):
    status, out, err = run(capsys, "list")
    assert status == 0 and err == ""
    for name in zoo.list():
        assert name in out
    assert "lenet5_lrt_mnist               lenet5        lrt          mnist    98.0%" in out


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["train", "no_such_card"], ["Unknown zoo card 'no_such_card'", "Known cards:",
                                     "lenet5_lrt_mnist", "bayes-zoo list"]),
        (["train", "demo_lrt_digits", "--data-dir", "/no/such/folder"],
         ["no such folder: /no/such/folder", "Fix:"]),
        (["train", "missing_card.toml"], ["No zoo card file missing_card.toml"]),
        (["evaluate", "no_such_model.keras"], ["No model file no_such_model.keras", "Fix:"]),
    ],
)
def test_bad_input_found_at_run_time_exits_1_with_one_line(capsys, argv, fragments):
    status, out, err = run(capsys, *argv)
    assert status == cli.EXIT_ERROR
    assert_one_line(err, f"bayes-zoo {argv[0]}: error:", *fragments)


def test_untrained_model_names_the_train_command(capsys, tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    card = zoo.card("lenet5_lrt_mnist")
    (tmp_path / "models" / "lenet5_lrt_mnist.toml").write_text(open(card.path).read())
    monkeypatch.setenv(zoo.HOME_VARIABLE, str(tmp_path))
    status, out, err = run(capsys, "evaluate", "lenet5_lrt_mnist")
    assert status == cli.EXIT_ERROR
    assert_one_line(err, "is not trained",
                    "`bayes-zoo train lenet5_lrt_mnist --data-dir FOLDER_WITH_MNIST`")


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "demo_lrt_digits", "--epochs", "0"], "argument --epochs: expected a positive"),
        (["train", "demo_lrt_digits", "--batch-size", "many"], "argument --batch-size"),
        (["train", "demo_lrt_digits", "--seed", "-1"], "argument --seed: expected a non-negative"),
        (["train", "demo_lrt_digits", "--epoch", "3"], "unrecognized arguments: --epoch 3"),
        (["train"], "the following arguments are required: card"),
        (["demo", "--quick", "--epochs", "3"], "not allowed with argument --quick"),
        (["evaluate", "x.keras", "--dataset", "imagenet"], "argument --dataset: invalid choice"),
        (["fly"], "argument COMMAND: invalid choice: 'fly'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_bad_flags_exit_2_with_one_line(capsys, argv, fragment):
    status, out, err = run(capsys, *argv)
    assert status == cli.EXIT_USAGE
    assert_one_line(err, fragment, "--help`)")


def test_help_exits_0(capsys):
    status, out, err = run(capsys, "train", "--help")
    assert status == 0 and "--max-steps-per-epoch" in out


def test_interrupted_train_says_how_to_resume(capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train", interrupted)
    status, out, err = run(capsys, "train", "demo_lrt_digits")
    assert status == cli.EXIT_INTERRUPTED
    assert_one_line(err, "interrupted", "Run the same command again to resume")


def test_train_then_evaluate_the_written_model(capsys, tmp_path):
    output = tmp_path / "run"
    status, out, err = run(capsys, "train", "demo_lrt_digits", "--epochs", "1",
                           "--max-steps-per-epoch", "2", "--output", str(output))
    assert status == 0, err
    assert "Training 1 epochs" in out and "Test accuracy" in out
    with open(output / trainer.METRICS_FILE) as file:
        metrics = json.load(file)

    status, out, err = run(capsys, "evaluate", str(output / trainer.MODEL_FILE),
                           "--num-samples", "5")
    assert status == 0, err
    assert "on the digits test split (359 examples, 5 Monte Carlo samples)" in out
    accuracy = float(next(line for line in out.splitlines() if "accuracy" in line).split()[-1])
    # 5 fresh Monte Carlo draws against the trainer's 25: close, not equal.
    assert accuracy == pytest.approx(metrics["accuracy"], abs=0.1)


def test_console_script_reports_an_unknown_card():
    script = os.path.join(os.path.dirname(sys.executable), "bayes-zoo")
    command = [script] if os.path.isfile(script) else [sys.executable, "-m", "bayes_zoo.cli"]
    completed = subprocess.run(command + ["train", "no_such_card"], capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == cli.EXIT_ERROR
    # TensorFlow's C++ runtime logs a few lines of its own at import, whatever
    # TF_CPP_MIN_LOG_LEVEL says; ours is the one line starting with the prog.
    ours = [line for line in completed.stderr.splitlines() if line.startswith("bayes-zoo")]
    assert len(ours) == 1 and "Unknown zoo card 'no_such_card'" in ours[0]
    assert "Traceback" not in completed.stderr
