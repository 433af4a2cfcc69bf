"""`bayes-zoo` starts without TensorFlow where it can, and keeps TensorFlow's logging quiet."""

import inspect
import os
import subprocess
import sys

import pytest

import bayes_zoo as bz
from bayes_zoo import zoo

SCRIPT = os.path.join(os.path.dirname(sys.executable), "bayes-zoo")
COMMAND = [SCRIPT] if os.path.isfile(SCRIPT) else [sys.executable, "-m", "bayes_zoo.cli"]


def quiet_environment(**extra):
    """The environment of a user who set none of the logging variables (conftest sets one)."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("TF_CPP_MIN_LOG_LEVEL", "BAYES_ZOO_VERBOSE")}
    return {**environment, **extra}


def run_command(*argv, **extra):
    return subprocess.run(COMMAND + list(argv), capture_output=True, text=True, timeout=300,
                          env=quiet_environment(**extra))


_NO_TENSORFLOW = r"""
import contextlib, io, sys
import bayes_zoo.cli as cli
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    statuses = [cli.main(argv) for argv in (
        ["--help"], ["train", "--help"], ["list"], ["train", "no_such_card"],
        ["train", "demo_lrt_digits", "--epochs", "0"], ["evaluate", "missing.keras"],
        ["export", "no_such_card"])]
import bayes_zoo as bz
cards = bz.zoo.cards()
print(statuses, "tensorflow" in sys.modules, "keras" in sys.modules)
"""


def test_help_list_and_argument_errors_do_not_import_tensorflow():
    completed = subprocess.run([sys.executable, "-c", _NO_TENSORFLOW], capture_output=True,
                               text=True, timeout=120, env=quiet_environment())
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split("]")[-1].split() == ["False", "False"], completed.stdout
    assert completed.stdout.startswith("[0, 0, 0, 1, 2, 1, 1]")


def test_list_prints_nothing_on_stderr():
    completed = run_command("list")
    assert completed.returncode == 0
    assert completed.stderr == ""
    assert "lenet5_lrt_mnist" in completed.stdout


def test_a_failing_train_prints_only_its_own_line():
    # It imports TensorFlow (the data folder is checked when the data loads).
    completed = run_command("train", "demo_lrt_digits", "--data-dir", "/no/such/folder")
    assert completed.returncode == 1
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("bayes-zoo train: error:") and "/no/such/folder" in lines[0]


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_verbose_shows_tensorflows_log_lines(how):
    argv = ["train", "demo_lrt_digits", "--data-dir", "/no/such/folder"]
    if how == "flag":
        completed = run_command(*argv, "--verbose")
    else:
        completed = run_command(*argv, BAYES_ZOO_VERBOSE="1")
    assert completed.returncode == 1
    lines = completed.stderr.splitlines()
    # TensorFlow logs start-up lines at import on every build it ships.
    assert len(lines) > 1, completed.stderr
    assert lines[-1].startswith("bayes-zoo train: error:")


def test_importing_bayes_zoo_after_keras_registers_the_layers():
    script = ("import sys, keras, bayes_zoo; "
              "print('bayes_zoo.layers' in sys.modules, 'bayes_zoo.training' in sys.modules)")
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["True", "True"]


def test_every_public_name_is_importable():
    for name in bz.__all__:
        assert getattr(bz, name) is not None
    assert bz.predict_with_uncertainty is bz.uncertainty.predict_with_uncertainty
    assert set(bz.__all__) <= set(dir(bz))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        bz.nothing  # noqa: B018


def test_the_zoos_light_tables_match_the_library():
    from bayes_zoo import architectures
    from bayes_zoo import data

    assert zoo.METHODS == architectures.METHODS
    assert zoo.VARIATIONAL_METHODS == architectures.VARIATIONAL_METHODS
    assert zoo.CLASSIFICATION_DATASETS == data.DATASETS
    assert set(zoo.BUILDER_PARAMETERS) == set(architectures.NAMES)
    for name, parameters in zoo.BUILDER_PARAMETERS.items():
        assert set(parameters) == set(inspect.signature(architectures.get(name)).parameters), name
