"""The `bayes-zoo` command, run in-process through `main` (and once as the console script)."""

import json
import os
import re
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

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
    assert re.search(r"lenet5_lrt_mnist +lenet5 +lrt +mnist +98.0%", out)
    # The applications' cards report no accuracy.
    line = next(line for line in out.splitlines() if line.startswith("espcn_lrt_bsds "))
    assert line.split() == ["espcn_lrt_bsds", "espcn", "lrt", "bsds", "-", "-",
                            line.split()[-2], "super_resolution"]


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


def test_train_writes_under_the_current_folder_by_default(capsys, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(trainer, "train", lambda card, **kwargs: calls.append(kwargs))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(zoo.HOME_VARIABLE, raising=False)
    assert run(capsys, "train", "demo_lrt_digits")[0] == 0
    assert calls[-1]["output_dir"] == os.path.join("runs", "demo_lrt_digits")
    # Where stdout is no terminal (a log, a pipe), Keras prints one line per epoch.
    assert calls[-1]["verbose"] == 2
    # Asked for, the zoo's own artefact folder.
    artefact = os.path.dirname(zoo.model_path("demo_lrt_digits"))
    assert run(capsys, "train", "demo_lrt_digits", "--output", artefact)[0] == 0
    assert calls[-1]["output_dir"] == artefact


def test_train_writes_into_a_zoo_home_the_user_named(capsys, tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    shutil.copy(zoo.card("demo_lrt_digits").path, tmp_path / "models")
    monkeypatch.setenv(zoo.HOME_VARIABLE, str(tmp_path))
    calls = []
    monkeypatch.setattr(trainer, "train", lambda card, **kwargs: calls.append(kwargs))
    assert run(capsys, "train", "demo_lrt_digits")[0] == 0
    assert calls[-1]["output_dir"] == str(tmp_path / "saved_models" / "demo_lrt_digits")


def test_repository_zoo_messages_name_the_output_folder(capsys, monkeypatch):
    # Training writes under the current folder, so the fix of a missing zoo
    # artefact says where to write it.
    monkeypatch.delenv(zoo.HOME_VARIABLE, raising=False)
    card = zoo.card("demo_lrt_digits")
    folder = os.path.dirname(zoo.model_path(card))
    assert zoo.train_command(card, folder) == f"bayes-zoo train demo_lrt_digits --output {folder}"


def test_train_then_evaluate_the_written_model(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # evaluate writes ./evaluation/run/
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
    assert_one_line(completed.stderr, "bayes-zoo train: error:",
                    "Unknown zoo card 'no_such_card'")


# ---------------------------------------------------------------------------
# bayes-zoo evaluate: the table, the files, the OOD data, bad input.


@pytest.fixture(scope="module")
def untrained_demo_model(tmp_path_factory):
    """The demo card's LeNet-5, untrained, saved as a .keras file without metrics.json."""
    path = tmp_path_factory.mktemp("untrained") / "model.keras"
    zoo.card("demo_lrt_digits").build_model(num_train_examples=1293, seed=0).save(path)
    return str(path)


def write_mnist_npz(folder, num_test=40):
    """A stand-in mnist.npz (random strokes) of 28x28 images, as keras' file lays it out."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "mnist.npz",
             x_train=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
             y_train=np.arange(10, dtype=np.uint8),
             x_test=rng.integers(0, 256, (num_test, 28, 28), dtype=np.uint8),
             y_test=np.arange(num_test, dtype=np.uint8) % 10)


def table_rows(out):
    """The printed table's rows, from its header to the line naming the files written."""
    lines = out.splitlines()
    start = lines.index(next(line for line in lines if line.split() == ["metric", "value"]))
    rows = {}
    for line in lines[start + 1:]:
        if line.startswith("Wrote "):
            break
        label, value = line.rsplit(None, 1)
        rows[label] = value
    return rows


def test_evaluate_prints_one_table_and_writes_plots_and_json(capsys, tmp_path,
                                                             untrained_demo_model):
    write_mnist_npz(tmp_path / "ood")
    output = tmp_path / "evaluation"
    status, out, err = run(capsys, "evaluate", untrained_demo_model, "--dataset", "digits",
                           "--num-samples", "3", "--ood", "mnist", "--ood-data-dir",
                           str(tmp_path / "ood"), "--max-examples", "100",
                           "--output", str(output))
    assert status == 0, err
    assert "on the digits test split (100 examples, 3 Monte Carlo samples); " \
           "out-of-distribution: mnist (40 examples)" in out
    assert "Test data: 100 examples" in out and "100/100" in out  # progress

    with open(output / "evaluation.json") as file:
        results = json.load(file)
    rows = table_rows(out)
    assert list(rows)[:7] == ["accuracy", "NLL (nats)", "ECE (15 bins)", "Brier score",
                              "mean aleatoric (Kwon)", "mean epistemic (Kwon)",
                              "mean mutual information (nats)"]
    assert rows["accuracy"] == f"{results['accuracy']:.4f}"
    assert rows["NLL (nats)"] == f"{results['nll']:.4f}"
    for score, name in (("predictive_entropy", "predictive entropy"),
                        ("epistemic", "epistemic (Kwon)")):
        detection = results["ood"]["detection"][score]
        assert rows[f"OOD AUROC, {name}"] == f"{detection['auroc']:.4f}"
        assert rows[f"OOD AUPR, {name}"] == f"{detection['aupr']:.4f}"
        assert rows[f"OOD FPR@95%TPR, {name}"] == f"{detection['fpr_at_95_tpr']:.4f}"

    assert results["command"] == (
        f"bayes-zoo evaluate {untrained_demo_model} --dataset digits --num-samples 3 "
        f"--batch-size 128 --output {output} --ood mnist --ood-data-dir {tmp_path / 'ood'} "
        "--max-examples 100")
    assert results["dataset"] == "digits" and "scikit-learn" in results["data_source"]
    assert results["model"] == untrained_demo_model and results["card"] is None
    assert "a fixed random 100" in results["data_source"]
    assert results["ood_dataset"] == "mnist"
    assert results["ood_data_source"] == str(tmp_path / "ood" / "mnist.npz")
    assert (results["num_examples"], results["num_samples"]) == (100, 3)
    assert results["ood"]["num_examples"] == 40
    assert results["machine"]["cpu_count"] == os.cpu_count()
    for name in results["files"].values():
        assert (output / name).is_file()
        if name.endswith(".png"):
            with open(output / name, "rb") as file:
                assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    assert f"to {output}" in out.splitlines()[-1]


def test_evaluate_writes_under_the_current_folder_by_default(capsys, tmp_path, monkeypatch,
                                                            untrained_demo_model):
    run_folder = tmp_path / "runs" / "my_run"
    run_folder.mkdir(parents=True)
    model_file = run_folder / "model.keras"
    shutil.copy(untrained_demo_model, model_file)
    # The trainer's metrics.json names the dataset.
    (run_folder / trainer.METRICS_FILE).write_text(json.dumps({"dataset": "digits"}))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    status, out, err = run(capsys, "evaluate", str(model_file), "--num-samples", "2",
                           "--max-examples", "20")
    assert status == 0, err
    assert "OOD" not in out
    # Named after the run's folder, as a trainer's model.keras is.
    assert sorted(os.listdir(work)) == ["evaluation"]
    assert not (run_folder / "evaluation").exists()
    with open(work / "evaluation" / "my_run" / "evaluation.json") as file:
        results = json.load(file)
    assert results["ood"] is None and results["ood_dataset"] is None
    assert "--dataset digits" in results["command"]


@pytest.mark.parametrize(
    "argv, fragments",
    [
        ([], ["Cannot tell which dataset", "Fix: pass --dataset"]),
        (["--dataset", "digits", "--ood", "digits"], ["--ood digits is the test dataset"]),
        (["--dataset", "digits", "--ood", "mnist", "--ood-data-dir", "EMPTY"],
         ["Dataset 'mnist' not found", "Fix:"]),
        (["--dataset", "digits", "--output", "FILE"], ["is a file. Fix: pass a folder"]),
        (["--dataset", "digits", "--data-dir", "FILE"], ["must be a folder, not a file",
                                                         "Fix: pass the folder that holds it"]),
    ],
)
def test_evaluate_bad_input_exits_1_with_one_line(capsys, tmp_path, untrained_demo_model,
                                                  argv, fragments):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("")
    argv = [{"EMPTY": str(tmp_path / "empty"), "FILE": str(tmp_path / "file")}.get(a, a)
            for a in argv]
    status, out, err = run(capsys, "evaluate", untrained_demo_model, *argv)
    assert status == cli.EXIT_ERROR
    assert_one_line(err, "bayes-zoo evaluate: error:", *fragments)


def test_evaluate_refuses_a_dataset_the_model_was_not_trained_on(capsys, tmp_path):
    inputs = keras.Input((32, 32, 1))
    outputs = keras.layers.Dense(5)(keras.layers.Flatten()(inputs))
    keras.Model(inputs, outputs).save(tmp_path / "five_classes.keras")
    status, out, err = run(capsys, "evaluate", str(tmp_path / "five_classes.keras"),
                           "--dataset", "digits")
    assert status == cli.EXIT_ERROR
    assert_one_line(err, "predicts 5 classes", "Fix: evaluate on the dataset the model was "
                                               "trained on (--dataset)")


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--max-examples", "0"], "argument --max-examples: expected a positive integer"),
        (["--ood", "imagenet"], "argument --ood: invalid choice: 'imagenet'"),
        (["--num-samples", "-3"], "argument --num-samples: expected a positive integer"),
    ],
)
def test_evaluate_bad_flags_exit_2_with_one_line(capsys, argv, fragment):
    status, out, err = run(capsys, "evaluate", "model.keras", *argv)
    assert status == cli.EXIT_USAGE
    assert_one_line(err, fragment)


def write_photographs(folder, count, size, seed):
    """`count` random RGB PNGs of `size` x `size` pixels in `folder`."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        (folder / f"photo_{index}.png").write_bytes(tf.io.encode_png(pixels).numpy())


def test_train_super_resolution_card_writes_its_model(capsys, tmp_path):
    card = zoo.card("espcn_lrt_bsds")
    photographs = tmp_path / "photographs"
    for index, folder in enumerate(card.data.train_folders):
        write_photographs(photographs / folder, 2, 60, seed=10 + index)
    for index, folder in enumerate(card.data.test_folders):
        write_photographs(photographs / folder, 1, 24, seed=index + 1)
    output = tmp_path / "run"
    status, out, err = run(capsys, "train", "espcn_lrt_bsds", "--epochs", "1",
                           "--batch-size", "16", "--max-steps-per-epoch", "2",
                           "--data-dir", str(photographs), "--output", str(output))
    assert status == 0, err
    assert "Training espcn_lrt_bsds (super_resolution)" in out
    for folder in card.data.test_folders:
        psnr = next(line for line in out.splitlines() if line.split()[:1] == [f"{folder}_psnr"])
        assert np.isfinite(float(psnr.split()[-1]))
    model = keras.models.load_model(output / "model.keras")
    assert model(np.zeros([1, 4, 4, 1], np.float32)).shape == (1, 12, 12, 1)
    assert os.path.isfile(output / "history.csv")


@pytest.mark.parametrize(
    "card, flag",
    [
        ("dcgan_bayesian_cifar10", "--train-samples"),
        ("dcgan_bayesian_cifar10", "--num-samples"),
        ("espcn_frequentist_bsds", "--train-samples"),
    ],
)
def test_application_card_refuses_classification_flags(capsys, card, flag):
    status, out, err = run(capsys, "train", card, flag, "2")
    assert status == cli.EXIT_ERROR
    assert_one_line(err, f"bayes-zoo train: error: {flag} does not apply to {card}",
                    "classification cards", "Fix:")


def test_super_resolution_card_without_data_dir_says_how_to_fix(capsys, tmp_path):
    status, out, err = run(capsys, "train", "espcn_lrt_bsds", "--output", str(tmp_path))
    assert status == cli.EXIT_ERROR
    assert_one_line(err, "bayes-zoo train: error:", "--data-dir")


def test_evaluate_refuses_an_application_card_in_one_line(capsys, tmp_path, monkeypatch):
    from bayes_zoo.architectures import espcn

    (tmp_path / "models").mkdir()
    shutil.copy(zoo.card("espcn_lrt_bsds").path, tmp_path / "models")
    monkeypatch.setenv(zoo.HOME_VARIABLE, str(tmp_path))
    path = tmp_path / "saved_models" / "espcn_lrt_bsds" / "model.keras"
    path.parent.mkdir(parents=True)
    espcn(method="lrt", num_train_examples=10).save(path)
    assert cli.main(["evaluate", "espcn_lrt_bsds"]) != 0
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "super_resolution card" in error
