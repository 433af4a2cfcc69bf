"""Reproduces the papers' result tables with the zoo's models, and writes RESULTS.md.

Each row is a zoo card (issue 6's entries). For every row asked for with
`--rows`, this script

1. trains the card with `bz.trainer.train` when its artefact
   `saved_models/<card>/model.keras` is missing, or trained for fewer epochs
   than `--epochs` (resuming from its checkpoint), or with `--retrain`;
2. evaluates it on the held-out test split, never used for model selection:
   Monte Carlo averaged predictions (the card's number of samples) on
   untouched test images give accuracy, NLL, ECE, Brier score and the mean
   aleatoric and epistemic uncertainties of Kwon et al. (the paper's
   Table 4); MNIST models are also scored on detecting Fashion-MNIST test
   images as out of distribution (AUROC);
3. writes `bz.evaluation`'s plots (reliability diagram; uncertainty
   histograms, in- and out-of-distribution; accuracy against the number of
   Monte Carlo samples) and `evaluation.json` to `benchmarks/results/<card>/`,
   as `bayes-zoo evaluate CARD --ood ... --output` does;
4. records everything in `benchmarks/results/<card>.json`, writes the
   measured numbers into the `[results]` table of the card
   (`models/<card>.toml`), and rewrites `benchmarks/RESULTS.md` from all the
   recorded rows.

Further experiments (issue 6's further rows) are modules of this folder
(`EXPERIMENT_MODULES`: `gal_experiments.py`, and `pruning_experiment.py` where
it exists), each with a dict `EXPERIMENTS`: name -> `(title, run, markdown)`.
`--rows NAME` runs `run(args)` with this script's arguments, records what it
returns in `benchmarks/results/<NAME>.json` (its plots go to
`benchmarks/results/<NAME>/`), and RESULTS.md's "Further experiments" section
is rendered from the records by `markdown(record)`, in the modules' order.

Rows never run are listed in RESULTS.md as "not run" with the reason given by
`--not-run-reason` (or a default one). Every number in RESULTS.md comes from
a recorded run.

CIFAR-10: when `--data-dir` holds `cifar10-jpeg/cifar10-jpeg.tar.gz` (the
JPEG copy of this machine's shared data) and no CIFAR-10 files of its own,
the archive is extracted once to `--scratch-dir` (outside the repository);
numbers measured on JPEG images are labelled "CIFAR-10 (JPEG q≈75)".

Usage:

    python benchmarks/reproduce.py --rows lenet5_lrt_mnist --data-dir /work/shared/data
    python benchmarks/reproduce.py --rows lenet5_lrt_mnist,gal_lenet_all_mcdropout_mnist \\
        --epochs 10 --train-samples 1 --data-dir /work/shared/data   # trains what is missing
    python benchmarks/reproduce.py --rows alexnet_lrt_cifar10 --skip-train --data-dir DIR
    python benchmarks/reproduce.py --rows alexnet_lrt_cifar10 --not-run-reason "no time"
    python benchmarks/reproduce.py --rows gal_mc_samples --data-dir /work/shared/data
    python benchmarks/reproduce.py --rows gal_training_set_size --iterations 5000 \\
        --data-dir /work/shared/data   # fewer iterations than the default 10,000
    python benchmarks/reproduce.py --rows alexnet_l1_pruning --data-dir /work/shared/data
    python benchmarks/reproduce.py --report-only   # RESULTS.md and [results] from the records
"""

import argparse
import csv
import datetime
import importlib.util
import json
import os
import platform
import re
import statistics
import sys
import tarfile
import tempfile
import time

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_FOLDER = os.path.join(REPOSITORY, "benchmarks", "results")
RESULTS_MARKDOWN = os.path.join(REPOSITORY, "benchmarks", "RESULTS.md")

# Issue 6's entries, in the order RESULTS.md lists them.
ROWS = (
    "lenet5_lrt_mnist",
    "lenet5_lrt_paper_mnist",
    "lenet5_frequentist_mnist",
    "gal_lenet_all_mcdropout_mnist",
    "gal_lenet_ip_mcdropout_mnist",
    "gal_lenet_none_mnist",
    "alexnet_lrt_cifar10",
    "alexnet_lrt_paper_cifar10",
    "alexnet_frequentist_cifar10",
    "alexnet_lrt_l1_cifar10",
    "alexnet_lrt_l1_pruned_cifar10",
    "alexnet_half_lrt_cifar10",
    "alexnet_half_lrt_paper_cifar10",
    "alexnet_half_frequentist_cifar10",
    "lenet5_lrt_cifar10",
    "lenet5_lrt_paper_cifar10",
    "lenet5_frequentist_cifar10",
)
# The further rows: (experiment name, what, why not run). RESULTS.md lists
# an entry as not run until its experiment has a record.
FURTHER_ROWS = (
    ("alexnet_l1_pruning", "AlexNet with L1 pruning (Shridhar et al., Table 7)",
     "not recorded yet (benchmarks/pruning_experiment.py)"),
    ("gal_training_set_size", "Gal: test error against training-set size",
     "not recorded yet (benchmarks/gal_experiments.py)"),
    ("gal_mc_samples", "Gal: test error against the number of MC samples",
     "not recorded yet (benchmarks/gal_experiments.py)"),
    ("espcn_x3", "Bayesian ESPCN x3 against bicubic and the frequentist ESPCN",
     "not recorded yet (benchmarks/sr_experiment.py)"),
    ("dcgan_cifar10", "DCGAN with a Bayesian discriminator against a frequentist one",
     "not recorded yet (benchmarks/gan_experiment.py)"),
)
# Modules of this folder defining EXPERIMENTS (name -> (title, run, markdown)),
# in the order RESULTS.md lists their sections; a missing file is skipped.
EXPERIMENT_MODULES = ("gal_experiments", "pruning_experiment", "sr_experiment", "gan_experiment")
OOD_DATASET = {"mnist": "fashion_mnist"}
# CIFAR-10 has no shipped OOD pair: its test images under additive Gaussian noise
# (pixels in [0, 1], clipped; a fixed seed) are the shifted set. 0.1 is CIFAR-10-C's
# strongest Gaussian-noise level (Hendrycks & Dietterich, severity 5).
SHIFTED_SET = {"cifar10": ("cifar10_gaussian_noise", 0.1)}
CIFAR10_JPEG_ARCHIVE = os.path.join("cifar10-jpeg", "cifar10-jpeg.tar.gz")
JPEG_LABEL = "CIFAR-10 (JPEG q≈75)"
DATASET_LABELS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
                  "cifar10_gaussian_noise": "CIFAR-10 test + Gaussian noise (std 0.1)"}
DEFAULT_NOT_RUN_REASON = "not run yet"


# ---------------------------------------------------------------------------
# The further experiments.


def experiments():
    """The further experiments of `EXPERIMENT_MODULES`: dict name -> (title, run, markdown).

    Experiment modules import this script as `reproduce` for its helpers;
    run as a script, it is registered under that name so that they share it.
    A module that fails to import is reported on stderr and skipped, so that
    the other rows still run.
    """
    if __name__ == "__main__":
        sys.modules.setdefault("reproduce", sys.modules[__name__])
    folder = os.path.dirname(os.path.abspath(__file__))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    found = {}
    for module_name in EXPERIMENT_MODULES:
        path = os.path.join(folder, f"{module_name}.py")
        if not os.path.isfile(path):
            continue
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as error:  # noqa: BLE001 - any error of another module
                del sys.modules[module_name]
                print(f"reproduce.py: warning: {path} skipped: it fails to import "
                      f"({type(error).__name__}: {error})", file=sys.stderr)
                continue
        for name, entry in module.EXPERIMENTS.items():
            if name in ROWS or name in found:
                raise ValueError(f"{path}: experiment {name!r} is already a row or experiment")
            found[name] = entry
    return found


def run_experiment(name, args):
    """Runs one further experiment; records and returns its record."""
    title, run, _ = experiments()[name]
    start = time.perf_counter()
    record = dict(run(args))
    record.setdefault("experiment", name)
    record.setdefault("title", title)
    record.setdefault("seconds", round(time.perf_counter() - start, 1))
    _write_json(os.path.join(RESULTS_FOLDER, f"{name}.json"), record)
    return record


# ---------------------------------------------------------------------------
# The machine and the data.


def machine_description():
    """The CPU model (from /proc/cpuinfo) and core count, or the platform's words."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    accelerator = f", {len(gpus)} GPU(s)" if gpus else ", no GPU"
    return f"{cpu}, {os.cpu_count()} cores{accelerator}"


def _has_cifar10_files(folder):
    return any(
        os.path.isdir(os.path.join(folder, name))
        for name in ("cifar-10-batches-py", "cifar10", "cifar-10", "train")
    )


def dataset_folder(dataset, data_dir, scratch_dir):
    """The data_dir to hand `bz.data` for `dataset`, extracting the CIFAR-10 JPEG archive if needed.

    Args:
        dataset: a `bz.data.DATASETS` name.
        data_dir: the folder given with `--data-dir`, or None.
        scratch_dir: where to extract the CIFAR-10 JPEG archive.

    Returns:
        A folder, or `data_dir` unchanged.
    """
    if dataset != "cifar10" or data_dir is None or _has_cifar10_files(data_dir):
        return data_dir
    archive = os.path.join(data_dir, CIFAR10_JPEG_ARCHIVE)
    if not os.path.isfile(archive):
        return data_dir
    target = os.path.join(scratch_dir, "cifar10-jpeg")
    if not all(os.path.isdir(os.path.join(target, split)) for split in ("train", "test")):
        print(f"Extracting {archive} to {target} ...", flush=True)
        os.makedirs(target, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    return target


def _holds_jpeg_test_tree(folder):
    """Whether `folder/test/<class>/` holds JPEG files."""
    test_folder = os.path.join(folder, "test")
    if not os.path.isdir(test_folder):
        return False
    class_folders = sorted(os.listdir(test_folder))
    if not class_folders or not os.path.isdir(os.path.join(test_folder, class_folders[0])):
        return False
    files = os.listdir(os.path.join(test_folder, class_folders[0]))
    return any(name.lower().endswith((".jpg", ".jpeg")) for name in files)


def dataset_label(dataset, data_dir):
    """How RESULTS.md names the dataset a row was measured on (`data_dir` as given to bz.data)."""
    if dataset == "cifar10" and data_dir is not None and any(
        _holds_jpeg_test_tree(os.path.join(data_dir, name)) for name in ("", "cifar10", "cifar-10")
    ):
        return JPEG_LABEL
    return DATASET_LABELS.get(dataset, dataset)


# ---------------------------------------------------------------------------
# Training and evaluation.


def _training_log(folder):
    path = os.path.join(folder, "training_log.csv")
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def train_command(card, trained):
    """The `bayes-zoo train` command equivalent to the run recorded in `metrics.json`."""
    command = f"bayes-zoo train {card.name} --epochs {trained['epochs']}"
    if trained["train_samples"] != card.model.get("train_samples", 1):
        command += f" --train-samples {trained['train_samples']}"
    if trained["batch_size"] != card.training.batch_size:
        command += f" --batch-size {trained['batch_size']}"
    if trained.get("seed", 0):
        command += f" --seed {trained['seed']}"
    if trained.get("max_steps_per_epoch"):
        command += f" --max-steps-per-epoch {trained['max_steps_per_epoch']}"
    source = trained.get("data_source", "")
    if trained["dataset"] != "digits":
        folder = os.path.dirname(source) if source.endswith((".npz", ".gz")) else source
        folder = folder.split("{", 1)[0].rstrip("/") or "DATA_DIR"
        # bz.data also finds a dataset in a subfolder named after it.
        if os.path.basename(folder) in ("fashion-mnist", "mnist"):
            folder = os.path.dirname(folder)
        command += f" --data-dir {folder}"
    return command


def shifted_images(images, stddev, seed=0):
    """`images` (pixels in [0, 1]) under additive Gaussian noise of `stddev`, clipped to [0, 1]."""
    import numpy as np

    noise = np.random.default_rng(seed).normal(0.0, stddev, np.shape(images))
    return np.clip(images + noise, 0.0, 1.0).astype(np.float32)


def evaluate_row(card, model, data_dir, output_folder, batch_size):
    """Test metrics, OOD AUROC and plots of one trained zoo model, with `bz.evaluation`.

    The same evaluation as `bayes-zoo evaluate CARD --ood fashion_mnist
    --output DIR` (MNIST) or `bayes-zoo evaluate CARD --output DIR`; its
    figures and `evaluation.json` go to `output_folder`.

    Returns:
        A dict: `metrics`, `ood` (None for datasets without an OOD pair),
        `plots` (paths relative to the repository), `seconds`.
    """
    import numpy as np

    import bayes_zoo as bz
    from bayes_zoo import evaluation

    start = time.perf_counter()
    test = evaluation.load_test_split(card.dataset, model, data_dir=data_dir)
    ood_dataset = OOD_DATASET.get(card.dataset)
    ood_images = ood_source = None
    if ood_dataset is not None:
        ood_split = evaluation.load_test_split(ood_dataset, model, data_dir=data_dir,
                                                  out_of_distribution=True)
        ood_images, ood_source = ood_split.images, ood_split.source
    elif card.dataset in SHIFTED_SET:
        ood_dataset, stddev = SHIFTED_SET[card.dataset]
        ood_images = shifted_images(test.images, stddev)
        ood_source = f"{test.source} with additive Gaussian noise (std {stddev}, seed 0), clipped"
    print(f"{card.name}: {len(test.labels)} test images"
          + (f" and {len(ood_images)} {ood_dataset} images" if ood_images is not None else "")
          + f", {card.evaluation.num_samples} Monte Carlo samples ...", flush=True)
    results = evaluation.evaluate(
        model,
        (test.images, test.labels),
        num_samples=card.evaluation.num_samples,
        ood_data=ood_images,
        output_dir=output_folder,
        batch_size=batch_size,
        title=f"{card.name}: {dataset_label(card.dataset, data_dir)}, held-out test split",
        metadata={"card": card.name, "test_source": test.source, "ood_source": ood_source},
        verbose=1,
    )
    metrics = {key: results[key] for key in (
        "accuracy", "nll", "ece", "brier", "aleatoric", "epistemic", "predictive_entropy",
        "mutual_information", "num_examples", "num_samples")}
    if "epistemic" in card.paper:
        # Table 4's other form: the reference code's normalised softplus outputs.
        normalized = bz.predict_with_uncertainty(
            model, test.images, num_samples=card.evaluation.num_samples,
            batch_size=batch_size, mode="normalized", seed=0)
        metrics["aleatoric_normalized"] = float(np.mean(normalized.aleatoric))
        metrics["epistemic_normalized"] = float(np.mean(normalized.epistemic))
    ood = None
    if results["ood"] is not None:
        ood = {"dataset": ood_dataset, "num_examples": results["ood"]["num_examples"]}
        for score, detection in results["ood"]["detection"].items():
            ood.update({f"{score}_{key}": value for key, value in detection.items()})
    plots = [os.path.join(output_folder, name) for name in results["files"].values()
             if name.endswith(".png")]
    # Only the figures and the numbers are kept in the repository: the
    # accuracy-coverage CSV has a row per test example (its summary is in
    # evaluation.json).
    os.remove(os.path.join(output_folder, evaluation.COVERAGE_FILE))
    return {
        "metrics": metrics,
        "ood": ood,
        "plots": [os.path.relpath(path, REPOSITORY) for path in plots],
        "seconds": round(time.perf_counter() - start, 1),
    }


def run_row(name, args):
    """Trains (if needed) and evaluates one row; records and returns its result dict."""
    import bayes_zoo as bz

    card = bz.zoo.card(name)
    data_dir = dataset_folder(card.dataset, args.data_dir, args.scratch_dir)
    artefact_folder = os.path.dirname(bz.zoo.model_path(card))
    metrics_path = os.path.join(artefact_folder, "metrics.json")
    trained_epochs = 0
    if os.path.isfile(bz.zoo.model_path(card)) and os.path.isfile(metrics_path):
        with open(metrics_path) as file:
            trained_epochs = json.load(file)["epochs"]
    if not args.skip_train and (args.retrain or not trained_epochs
                                or (args.epochs or 0) > trained_epochs):
        # The trainer resumes from the folder's last checkpoint when it can.
        bz.trainer.train(card, epochs=args.epochs, train_samples=args.train_samples,
                         data_dir=data_dir, output_dir=artefact_folder,
                         resume=not args.retrain)
    elif not trained_epochs:
        raise FileNotFoundError(
            f"Row {name}: no trained model {bz.zoo.model_path(card)} and --skip-train was "
            "given. Fix: drop --skip-train to train it.")
    with open(metrics_path) as file:
        trained = json.load(file)
    model = bz.zoo.load(card, compile=False)
    evaluation = evaluate_row(card, model, data_dir, os.path.join(RESULTS_FOLDER, name),
                              args.batch_size)
    epoch_seconds = [float(row["seconds"]) for row in _training_log(artefact_folder)]
    row = {
        "row": name,
        "dataset": card.dataset,
        "dataset_label": dataset_label(card.dataset, data_dir),
        "paper": card.paper,
        "metrics": evaluation["metrics"],
        "ood": evaluation["ood"],
        "plots": evaluation["plots"],
        "epochs": trained["epochs"],
        "card_epochs": card.training.epochs,
        "train_samples": trained["train_samples"],
        "card_train_samples": card.model.get("train_samples", 1),
        "batch_size": trained["batch_size"],
        "train_seconds": trained["train_seconds"],
        # The trainer's own test evaluation (metrics.json): other Monte Carlo draws.
        "trainer_metrics": {key: trained[key] for key in ("accuracy", "nll", "ece",
                                                          "num_samples")},
        "median_epoch_seconds": (round(statistics.median(epoch_seconds), 1)
                                 if epoch_seconds else None),
        "evaluation_seconds": evaluation["seconds"],
        "machine": machine_description(),
        "train_command": train_command(card, trained),
        # What a sparse copy stores: a mean and a spread per non-zero variational weight.
        "non_zero_parameters": bz.pruning.count_parameters(model)["non_zero_parameters"],
        "pruned_from": trained.get("pruned_from"),
        "reproduce_command": _reproduce_command(name, trained, card, args.data_dir),
        "evaluated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if card.pruning is not None:
        row["before_fine_tuning"] = before_fine_tuning(card, data_dir, args.batch_size)
    _write_json(os.path.join(RESULTS_FOLDER, f"{name}.json"), row)
    write_card_results(card.path, results_table(row))
    return row


def before_fine_tuning(card, data_dir, batch_size):
    """A `[pruning]` row's parent, pruned to the row's budget and not trained since: test metrics.

    The pruned row starts from this model, so the two tell apart what the
    parent's training (Table 7's L1 norm) and the fine-tuning after pruning
    each contribute. The same test split and Monte Carlo samples as the row.

    Returns:
        A dict: `accuracy`, `nll`, `ece`, `non_zero_parameters`.
    """
    import bayes_zoo as bz
    from bayes_zoo import evaluation

    start = bz.trainer.pruning_start(card)
    parent = bz.zoo.load_file(start.model_file, compile=False)
    bz.pruning.prune_to_budget(parent, start.target_parameters, card.pruning.criterion)
    test = evaluation.load_test_split(card.dataset, parent, data_dir=data_dir)
    print(f"{card.name}: its parent pruned to {start.target_parameters:,} parameters, before "
          f"fine-tuning, on {len(test.labels)} test images ...", flush=True)
    result = bz.predict_with_uncertainty(parent, test.images,
                                         num_samples=card.evaluation.num_samples,
                                         batch_size=batch_size, seed=0)
    numbers = evaluation.evaluate_predictions(test.labels, result, num_bins=15)
    return {**{key: float(numbers[key]) for key in ("accuracy", "nll", "ece")},
            "non_zero_parameters": bz.pruning.count_parameters(parent)["non_zero_parameters"]}


def _reproduce_command(name, trained, card, data_dir):
    command = f"python benchmarks/reproduce.py --rows {name} --epochs {trained['epochs']}"
    if trained["train_samples"] != card.model.get("train_samples", 1):
        command += f" --train-samples {trained['train_samples']}"
    if data_dir is not None:
        command += f" --data-dir {data_dir}"
    return command


def _write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as file:
        json.dump(value, file, indent=2, sort_keys=True, ensure_ascii=False)
        file.write("\n")


# ---------------------------------------------------------------------------
# The card's [results] table.


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    # A JSON string is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=False)


def _significant(value):
    """`value` to 4 significant digits (small uncertainties stay visible)."""
    return float(f"{value:.4g}")


def results_table(row):
    """The lines of a card's `[results]` table for a recorded row."""
    metrics = row["metrics"]
    lines = ["[results]"]
    reductions = []
    if row["epochs"] < row["card_epochs"]:
        reductions.append(f"{row['epochs']} of the card's {row['card_epochs']} epochs")
    if row["train_samples"] != row["card_train_samples"]:
        samples = row["train_samples"]
        reductions.append(f"{samples} weight sample{'s' if samples > 1 else ''} per training "
                          f"step, not {row['card_train_samples']}")
    if reductions:
        lines.append("# Reduced budget on a shared 2-core CPU without GPU (benchmarks/RESULTS.md):")
        lines.extend(f"# {reduction};" for reduction in reductions)
        lines.append("# the card's settings otherwise.")
    lines.append("# Written by benchmarks/reproduce.py: the held-out test split, Monte Carlo "
                 f"average of {metrics['num_samples']}" + (";" if row["ood"] else "."))
    if row["ood"]:
        lines.append(f"# ood_auroc_{row['ood']['dataset']}: AUROC of the predictive entropy.")
    values = {"dataset": row["dataset_label"]}
    values.update({key: _significant(metrics[key]) for key in (
        "accuracy", "nll", "ece", "brier", "aleatoric", "epistemic", "mutual_information",
        "aleatoric_normalized", "epistemic_normalized") if key in metrics})
    if row["ood"]:
        ood = row["ood"]
        values[f"ood_auroc_{ood['dataset']}"] = _significant(ood["predictive_entropy_auroc"])
    values.update({
        "num_samples": metrics["num_samples"],
        "epochs": row["epochs"],
        "train_samples": row["train_samples"],
        "train_seconds": round(row["train_seconds"]),
        "machine": row["machine"],
        "command": row["train_command"],
        "measured": row["evaluated"],
    })
    lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
    return lines


def write_card_results(card_path, table_lines):
    """Replaces the `[results]` table of the card file, leaving every other line as it is.

    `table_lines` starts with `[results]` (`results_table` gives a classification row's; the
    application experiments write their own). A card without a `[results]` table (never
    trained) gets one, before its `[artefacts]` table if it has one, else at its end.
    """
    with open(card_path) as file:
        lines = file.read().splitlines()
    if "[results]" not in lines:
        while lines and not lines[-1].strip():
            lines.pop()
        at = lines.index("[artefacts]") if "[artefacts]" in lines else len(lines)
        lines[at:at] = [""] * bool(at and lines[at - 1].strip()) + ["[results]", ""]
    start = lines.index("[results]")
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"^\[[^\]]+\]", lines[i])),
               len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    lines[start:end] = table_lines
    with open(card_path, "w") as file:
        file.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------
# RESULTS.md.


def _load_rows():
    rows = {}
    if os.path.isdir(RESULTS_FOLDER):
        for entry in sorted(os.listdir(RESULTS_FOLDER)):
            if entry.endswith(".json"):
                with open(os.path.join(RESULTS_FOLDER, entry)) as file:
                    rows[entry[:-5]] = json.load(file)
    return rows


def _percent(value):
    return "–" if value is None else f"{100 * value:.2f}%"


def _number(value, digits=4):
    """Fixed point, or 3 significant digits for a value too small for `digits` decimals."""
    if value is None:
        return "–"
    if value != 0 and abs(value) < 10 ** -(digits - 1):
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def _duration(seconds):
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def _further_sections(rows, further):
    """The "Further experiments" lines, and the (what, reason) of those not recorded."""
    lines, not_run = [], []
    described = {name: (what, reason) for name, what, reason in FURTHER_ROWS}
    for name, (title, _, markdown) in further.items():
        record = rows.get(name, {})
        if record and "not_run" not in record:
            lines += [f"### {title}", "", *markdown(record), ""]
        else:
            what, reason = described.get(name, (title, DEFAULT_NOT_RUN_REASON))
            not_run.append((what, record.get("not_run", reason)))
    for name, what, reason in FURTHER_ROWS:
        if name not in further:
            not_run.append((what, rows.get(name, {}).get("not_run", reason)))
    if lines:
        lines = ["## Further experiments", "",
                 "Issue 6's further rows, each written by its experiment module from its "
                 "record `benchmarks/results/<experiment>.json`.", "", *lines]
    return lines, not_run


# The classification zoo's targets (issue 12), on the held-out test split:
# (row, what, key in the record, ">=" or "<=", threshold). "ood:" reads the row's OOD record.
TARGETS = (
    ("alexnet_lrt_cifar10", "accuracy", "accuracy", ">=", 0.73),
    ("alexnet_half_lrt_cifar10", "accuracy", "accuracy", ">=", 0.79),
    ("lenet5_lrt_cifar10", "accuracy", "accuracy", ">=", 0.69),
    ("lenet5_lrt_mnist", "accuracy", "accuracy", ">=", 0.992),
    ("lenet5_lrt_mnist", "NLL", "nll", "<=", 0.03),
    ("lenet5_lrt_mnist", "Fashion-MNIST AUROC by mutual information",
     "ood:mutual_information_auroc", ">=", 0.97),
    ("gal_lenet_all_mcdropout_mnist", "accuracy", "accuracy", ">=", 0.995),
)
# Each Bayesian row against its frequentist twin: at or above its accuracy, below its ECE and NLL.
TWINS = (
    ("lenet5_lrt_cifar10", "lenet5_frequentist_cifar10"),
    ("lenet5_lrt_mnist", "lenet5_frequentist_mnist"),
    ("alexnet_lrt_cifar10", "alexnet_frequentist_cifar10"),
    ("alexnet_half_lrt_cifar10", "alexnet_half_frequentist_cifar10"),
)


def _target_value(row, key):
    if key.startswith("ood:"):
        return (row.get("ood") or {}).get(key[4:])
    return row["metrics"].get(key)


def target_lines(rows):
    """RESULTS.md's targets section: each target met or missed, and by how much."""
    out = ["## Targets", "",
           "The classification zoo's targets, on the held-out test split. Where one is missed, "
           "the recipe study above says what the validation runs found.", "",
           "| row | target | measured | |", "|---|---|---|---|"]
    for name, what, key, sense, threshold in TARGETS:
        row = rows.get(name, {})
        value = _target_value(row, key) if "metrics" in row else None
        if value is None:
            out.append(f"| {name} | {what} {sense} {threshold:g} | not measured | |")
            continue
        met = value >= threshold if sense == ">=" else value <= threshold
        gap = abs(value - threshold)
        verdict = "met" if met else (f"missed by {100 * gap:.2f} points" if key == "accuracy"
                                     else f"missed by {gap:.4f}")
        shown = f"{100 * value:.2f}%" if key == "accuracy" else f"{value:.4f}"
        out.append(f"| {name} | {what} {sense} {threshold:g} | {shown} | {verdict} |")
    out += ["", "| Bayesian row | frequentist twin | accuracy | NLL | ECE |",
            "|---|---|---|---|---|"]
    for bayesian, frequentist in TWINS:
        if "metrics" not in rows.get(bayesian, {}) or "metrics" not in rows.get(frequentist, {}):
            out.append(f"| {bayesian} | {frequentist} | not both measured | | |")
            continue
        ours, theirs = rows[bayesian]["metrics"], rows[frequentist]["metrics"]

        def compared(key, higher_is_better):
            better = ours[key] >= theirs[key] if higher_is_better else ours[key] < theirs[key]
            scale = 100 if key == "accuracy" else 1
            return (f"{ours[key] * scale:.4g} vs {theirs[key] * scale:.4g}: "
                    f"{'met' if better else 'missed'}")

        out.append(f"| {bayesian} | {frequentist} | {compared('accuracy', True)} "
                   f"| {compared('nll', False)} | {compared('ece', False)} |")
    return out + [""]


# Table 7 as zoo rows: (pruned row, its parent, the frequentist budget); the pruned row
# is to stay within PRUNED_TARGET_POINTS of its parent's accuracy.
PRUNED_ROWS = (("alexnet_lrt_l1_pruned_cifar10", "alexnet_lrt_l1_cifar10",
                "alexnet_frequentist_cifar10"),)
PRUNED_TARGET_POINTS = 3.0


def _non_zero_parameters(row):
    """A row's stored numbers (`bz.pruning.count_parameters`), from its record or its model."""
    if row.get("non_zero_parameters") is not None:
        return row["non_zero_parameters"]
    import bayes_zoo as bz

    return bz.pruning.count_parameters(
        bz.zoo.load(row["row"], compile=False))["non_zero_parameters"]


def pruned_row_lines(rows):
    """RESULTS.md's Table 7 of zoo rows: a parent, its pruned row, the frequentist budget."""
    out = []
    for pruned, parent, frequentist in PRUNED_ROWS:
        measured = [rows.get(name, {}) for name in (parent, frequentist, pruned)]
        if not all("metrics" in row for row in measured):
            continue
        out += ["## Table 7 as zoo rows: L1 norm, then pruning", "",
                f"Shridhar et al., Table 7: 73% (Bayesian AlexNet), 73% (frequentist), 71% (L1 "
                f"pruned). `{pruned}` is `{parent}` pruned by |μ| to `{frequentist}`'s parameter "
                "count (a mean and a spread per kept weight) through the layers' kernel masks, "
                "then trained on with the pruned weights held at zero. Held-out test split.", "",
                "| row | non-zero parameters | epochs | accuracy | NLL | ECE | paper |",
                "|---|---|---|---|---|---|---|"]
        before = measured[2].get("before_fine_tuning")
        for row in measured:
            metrics = row["metrics"]
            paper = row.get("paper", {}).get("accuracy")
            if row is measured[2] and before:
                out.append(f"| {parent}, pruned, before fine-tuning "
                           f"| {before['non_zero_parameters']:,} | 0 | {before['accuracy']:.2%} "
                           f"| {before['nll']:.4f} | {before['ece']:.4f} | – |")
            out.append(f"| {row['row']} | {_non_zero_parameters(row):,} | {row['epochs']} "
                       f"| {metrics['accuracy']:.2%} | {metrics['nll']:.4f} "
                       f"| {metrics['ece']:.4f} | {'–' if paper is None else f'{paper:.0%}'} |")
        drop = 100 * (measured[0]["metrics"]["accuracy"] - measured[2]["metrics"]["accuracy"])
        within = "met" if drop <= PRUNED_TARGET_POINTS else (
            f"missed by {drop - PRUNED_TARGET_POINTS:.2f} points")
        budget = _non_zero_parameters(measured[2]) <= _non_zero_parameters(measured[1])
        out += ["", f"Pruning cost {drop:.2f} points of accuracy (paper: 2); the target, within "
                    f"{PRUNED_TARGET_POINTS:g} points of the parent: {within}. At most the "
                    f"frequentist AlexNet's parameter count: {'met' if budget else 'missed'}."]
        if before:
            cut = 100 * (measured[0]["metrics"]["accuracy"] - before["accuracy"])
            out.append(f"Pruned and not trained since, the parent lost {cut:.2f} points; the "
                       f"{measured[2]['epochs']} epochs of fine-tuning won back "
                       f"{cut - drop:.2f} of them.")
        out.append("")
    return out


RECIPE_CONCLUSIONS = "recipe_study_conclusions.md"


def recipe_study_lines(folder=RESULTS_FOLDER):
    """RESULTS.md's recipe-study section: each `recipe_study_*.md` table, then the conclusions.

    The tables are written by `benchmarks/recipe_study.py` (validation data
    only); `RECIPE_CONCLUSIONS`, beside them, says what the zoo's cards took
    from them. No study written: no section.
    """
    import glob

    tables = sorted(path for path in glob.glob(os.path.join(folder, "recipe_study_*.md"))
                    if os.path.basename(path) != RECIPE_CONCLUSIONS)
    if not tables:
        return []
    out = ["## The training recipe, chosen on validation data", ""]
    for path in tables:
        with open(path) as file:
            title, *body = file.read().rstrip("\n").split("\n")
        out += ["### " + title.lstrip("# ").replace("Recipe study: ", ""), *body, ""]
        image = os.path.splitext(path)[0] + ".png"
        if os.path.isfile(image):
            out += [f"Plot: [{os.path.basename(image)}]"
                    f"({os.path.relpath(image, os.path.dirname(folder))})", ""]
    conclusions = os.path.join(folder, RECIPE_CONCLUSIONS)
    if os.path.isfile(conclusions):
        with open(conclusions) as file:
            out += ["### What the cards took from it", "", file.read().rstrip("\n"), ""]
    return out


def render_markdown(rows, cards, further=None):
    """RESULTS.md's text from the recorded rows (dict by name) and the zoo's cards.

    `further`: the further experiments (`experiments()`), rendered from their
    records in `rows`; None or empty lists `FURTHER_ROWS` as not run.
    """
    further_lines, further_not_run = _further_sections(rows, further or {})
    measured = [rows[name] for name in ROWS if "metrics" in rows.get(name, {})]
    machines = sorted({row["machine"] for row in measured})
    out = [
        "# Reproduced results",
        "",
        "Written by `benchmarks/reproduce.py` (do not edit by hand): every number below comes "
        "from a recorded run in `benchmarks/results/<row>.json`; the zoo card "
        "`models/<row>.toml` holds the same numbers in its `[results]` table.",
        "",
        "Measured on the held-out test split (never used for model selection) with Monte "
        "Carlo averaged predictions (the card's number of samples T) on untouched test "
        "images. Paper values: Shridhar et al. Table 1 (accuracy) and Table 4 (mean aleatoric "
        "/ epistemic uncertainty of a Bayesian LeNet-5, Kwon et al.'s decomposition); Gal & "
        "Ghahramani for lenet-all.",
        "",
        "Machine: " + ("; ".join(machines) if machines else "–") + ".",
        "",
    ]
    reduced = [row for row in measured
               if row["epochs"] < row["card_epochs"]
               or row["train_samples"] != row["card_train_samples"]]
    if reduced:
        out += [
            "**Reduced training budget.** No GPU was available: these models were trained on "
            "the CPU above, shared with other jobs, so wall times are inflated and not a "
            "speed benchmark. They train fewer epochs than the papers with the same schedule "
            "(optimizer, learning rate and its schedule, batch size, KL schedule per epoch), "
            "and the variational models draw K weight samples per training step as the "
            "column says, not the papers' 10–25. The numbers are therefore what this budget "
            "reaches, not a faithful reproduction of the papers' 100-epoch runs.",
            "",
        ]
    out += [
        "## Accuracy, calibration and uncertainty",
        "",
        "| row | dataset | paper acc. | acc. | NLL | ECE | Brier | aleatoric (paper / ours) "
        "| epistemic (paper / ours) | epochs (card) | K train | T test | train time | s/epoch |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    not_run = []
    for name in ROWS:
        row = rows.get(name, {})
        card = cards[name]
        if "metrics" not in row:
            not_run.append((name, row.get("not_run", DEFAULT_NOT_RUN_REASON)))
            continue
        metrics, paper = row["metrics"], row["paper"]

        def paired(key):
            ours = _number(metrics[key])
            return f"{paper[key]} / {ours}" if key in paper else f"– / {ours}"

        out.append(
            f"| {name} | {row['dataset_label']} | {_percent(paper.get('accuracy'))} "
            f"| {_percent(metrics['accuracy'])} | {_number(metrics['nll'])} "
            f"| {_number(metrics['ece'])} | {_number(metrics['brier'])} | {paired('aleatoric')} "
            f"| {paired('epistemic')} | {row['epochs']} ({row['card_epochs']}) "
            f"| {row['train_samples'] if card.is_variational or card.method == 'mc_dropout' else '–'} "
            f"| {metrics['num_samples']} | {_duration(row['train_seconds'])} "
            f"| {_number(row['median_epoch_seconds'], 1)} |"
        )
    for name, reason in not_run:
        out.append(f"| {name} | {DATASET_LABELS.get(cards[name].dataset)} "
                   f"| {_percent(cards[name].paper.get('accuracy'))} "
                   f"| not run ({reason}) | | | | | | | | | | |")
    out += [
        "",
        "K train: weight samples per training step (MC dropout: dropout masks). T test: Monte "
        "Carlo samples per test image. s/epoch: median seconds of a training epoch "
        "(`training_log.csv`). Aleatoric and epistemic: means over the test set of the traces "
        "of Kwon et al.'s two covariance terms, as the paper's Table 4. A frequentist model's "
        "epistemic part is zero by construction.",
        "",
    ]
    out += target_lines(rows)
    out += pruned_row_lines(rows)
    out += recipe_study_lines()
    table4_rows = [row for row in measured if "epistemic_normalized" in row["metrics"]]
    if table4_rows:
        out += [
            "## Table 4, like for like",
            "",
            "Mean aleatoric and epistemic uncertainty (Kwon et al.) in both forms: from the "
            "softmax probabilities (the table above), and from the reference code's "
            "normalised softplus outputs (`mode=\"normalized\"`: softplus of the logits "
            "divided by their sum), with the ratio of our epistemic to the paper's.",
            "",
            "| row | paper aleatoric / epistemic | softmax: aleatoric / epistemic (x paper) "
            "| normalised softplus: aleatoric / epistemic (x paper) |",
            "|---|---|---|---|",
        ]
        for row in table4_rows:
            metrics, paper = row["metrics"], row["paper"]

            def form(suffix):
                epistemic = metrics["epistemic" + suffix]
                return (f"{_number(metrics['aleatoric' + suffix])} / {_number(epistemic)} "
                        f"({_number(epistemic / paper['epistemic'], 3)}x)")

            out.append(f"| {row['row']} | {paper['aleatoric']} / {paper['epistemic']} "
                       f"| {form('')} | {form('_normalized')} |")
        out.append("")
    ood_sets = []
    for row in measured:
        if row.get("ood") and row["ood"]["dataset"] not in ood_sets:
            ood_sets.append(row["ood"]["dataset"])
    for ood_set in ood_sets:
        in_set = next(row["dataset"] for row in measured
                      if row.get("ood") and row["ood"]["dataset"] == ood_set)
        in_label, ood_label = DATASET_LABELS[in_set], DATASET_LABELS.get(ood_set, ood_set)
        out += [
            f"## Out-of-distribution detection: {in_label} models against {ood_label}",
            "",
            f"AUROC of telling the {ood_label} images from the {in_label} test images by each "
            "uncertainty score (higher score = more likely OOD; 0.5 is chance)."
            + (" The shifted set is the test images themselves under noise: a covariate "
               "shift, not new classes." if ood_set in dict(SHIFTED_SET.values()) else ""),
            "",
            "| row | predictive entropy | mutual information | epistemic (Kwon) "
            "| FPR at 95% TPR (entropy) |",
            "|---|---|---|---|---|",
        ]
        for row in measured:
            ood = row.get("ood")
            if not ood or ood["dataset"] != ood_set:
                continue
            out.append(
                f"| {row['row']} | {_number(ood['predictive_entropy_auroc'])} "
                f"| {_number(ood['mutual_information_auroc'])} "
                f"| {_number(ood['epistemic_auroc'])} "
                f"| {_number(ood['predictive_entropy_fpr_at_95_tpr'])} |")
        out += ["", "A frequentist model's mutual information and epistemic variance are "
                "zero for every image, so their AUROC is 0.5 by construction.", ""]
    if measured:
        out += ["## Commands", "",
                "Each row's training command (what produced `saved_models/<row>/`), and the "
                "command that retrains (with `--retrain`) or re-evaluates it and rewrites this "
                "file. A CIFAR-10 `--data-dir` under the scratch folder is the JPEG archive of "
                "the shared data, extracted there by this script.", ""]
        for row in measured:
            out += [f"- **{row['row']}** (evaluated {row['evaluated']}, evaluation took "
                    f"{_duration(row['evaluation_seconds'])}):",
                    f"  `{row['train_command']}`; `{row['reproduce_command']}`"]
            trainer_metrics = row.get("trainer_metrics")
            if trainer_metrics:
                out.append(
                    f"  The trainer's own test evaluation at the end of training "
                    f"(`saved_models/{row['row']}/metrics.json`, other Monte Carlo draws, "
                    f"T = {trainer_metrics['num_samples']}): accuracy "
                    f"{_percent(trainer_metrics['accuracy'])}, NLL "
                    f"{_number(trainer_metrics['nll'])}, ECE {_number(trainer_metrics['ece'])}.")
        out += ["", "## SavedModel exports", "",
                "The repository commits each row's `model.keras` only. A TensorFlow Serving "
                "export (a SavedModel whose `serving_default` runs the card's T Monte Carlo "
                "samples in the graph) is built on demand: `bayes-zoo export ROW` writes "
                "`./serving/ROW/1/`, and `bz.zoo.saved_model_path(ROW)` writes "
                "`saved_models/ROW/1/` on first use (git ignores both).", ""]
        out += ["", "## Plots", ""]
        for row in measured:
            links = ", ".join(f"[{os.path.basename(path)}]({os.path.relpath(path, 'benchmarks')})"
                              for path in row["plots"])
            out.append(f"- {row['row']}: {links}")
        out.append("")
    out += further_lines
    out += [
        "## Where the reference implementation's defects bear on the comparison",
        "",
        "The paper's numbers come from its reference PyTorch code, which has three known "
        "defects; this zoo does not share them, so the comparison is not like for like:",
        "",
        "- **KL(p‖q) instead of KL(q‖p).** The reference code's KL term is the divergence of "
        "the posterior from the prior, KL(p‖q), not the ELBO's KL(q‖p). Our layers compute "
        "KL(q‖p). For Gaussians, KL(p‖q) grows like 1/σ_q² as a posterior standard "
        "deviation σ_q shrinks, KL(q‖p) only like −log σ_q, so the two objectives settle on "
        "different posteriors: the epistemic uncertainty (Table 4) and the accuracy need not "
        "match the paper's even with equal training. Our local-reparameterization models' "
        "mean epistemic uncertainty is far below the paper's; besides the KL direction, "
        "their posteriors start narrow (log α = −10, σ² = e^−10 μ²) and were trained for "
        "few epochs with one weight sample per step. Which of these dominates was not "
        "measured. The Table 7 experiment (Further experiments) shows what our KL(q‖p) "
        "with the multiplicative posterior (σ² = αμ²) and the N(0, 0.1) prior does to a "
        "trained AlexNet: its posterior means cluster at |μ| = 0.1/√(1+α), the per-weight "
        "KL's minimiser, and log α barely leaves its initial value, so the KL term rather "
        "than the data places most weights.",
        "- **Validation in training mode.** The reference code validates with the network in "
        "training mode, so its reported accuracies come from the training-time forward pass. "
        "Ours are the accuracies of the Monte Carlo averaged predictive distribution (T "
        "samples, the card's `[evaluation] num_samples`), measured once, at the end, on the "
        "test split; validation (carved from the training split) is only logged.",
        "- **Random flips on test images.** The reference code's test transform applies a "
        "random horizontal flip, so its numbers are measured on randomly flipped test "
        "images. We evaluate on untouched test images; for MNIST digits a flip is a large "
        "distribution shift, for CIFAR-10 a mild one.",
        "",
        "The CIFAR-10 rows are further measured on a JPEG re-encoding of CIFAR-10 (quality "
        "about 75; the only complete copy on this machine), labelled \"CIFAR-10 (JPEG q≈75)\"; "
        "compression artefacts cost some accuracy against the original pixels, for training "
        "and test alike.",
        "",
        "## Not run",
        "",
    ]
    out += ([f"- {name}: not run ({reason})." for name, reason in not_run]
            + [f"- {what}: not run; {reason}." for what, reason in further_not_run]
            or ["- (none)"])
    return "\n".join(out) + "\n"


def write_markdown():
    import bayes_zoo as bz

    cards = {name: bz.zoo.card(name) for name in ROWS}
    with open(RESULTS_MARKDOWN, "w") as file:
        file.write(render_markdown(_load_rows(), cards, experiments()))
    print(f"Wrote {os.path.relpath(RESULTS_MARKDOWN, REPOSITORY)}", flush=True)


# ---------------------------------------------------------------------------
# Command line.


def _known_rows():
    return (*ROWS, *experiments())


def _rows(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in _known_rows()]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown row(s) {', '.join(unknown) or text!r}; rows: {', '.join(_known_rows())}")
    return names


def _positive_int(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--rows", type=_rows, default=[],
                        help="comma-separated rows and further experiments, of: "
                             f"{', '.join(_known_rows())}")
    parser.add_argument("--epochs", type=_positive_int,
                        help="training epochs (default: the card's); a row trained for "
                             "fewer is trained on from its checkpoint")
    parser.add_argument("--train-samples", type=_positive_int,
                        help="weight samples per training step (default: the card's)")
    parser.add_argument("--data-dir", help="folder holding the datasets (bz.data)")
    parser.add_argument("--scratch-dir", default=os.path.join(tempfile.gettempdir(),
                                                              "bayes_zoo_data"),
                        help="where to extract the CIFAR-10 JPEG archive")
    parser.add_argument("--batch-size", type=_positive_int, default=128,
                        help="test images per Monte Carlo graph call")
    training = parser.add_mutually_exclusive_group()
    training.add_argument("--skip-train", action="store_true",
                          help="only evaluate; a row without a trained model is an error")
    training.add_argument("--retrain", action="store_true",
                          help="train afresh even where a trained model exists")
    experiment = parser.add_argument_group("further experiments")
    experiment.add_argument("--repetitions", type=_positive_int,
                            help="gal_mc_samples: repetitions of the Monte Carlo draws "
                                 "(default 5)")
    experiment.add_argument("--max-samples", type=_positive_int,
                            help="gal_mc_samples: the largest number of MC samples T "
                                 "(default 100)")
    experiment.add_argument("--iterations", type=_positive_int,
                            help="gal_training_set_size: training iterations per run "
                                 "(default 10000)")
    experiment.add_argument("--eval-every", type=_positive_int,
                            help="gal_training_set_size: iterations between test-error "
                                 "measurements (default 1000)")
    experiment.add_argument("--max-steps-per-epoch", type=_positive_int,
                            help="dcgan_cifar10: cap on the batches of an epoch, for a quick "
                                 "run (the record says so)")
    parser.add_argument("--not-run-reason",
                        help="record the rows as not run, for this reason, instead of running")
    parser.add_argument("--report-only", action="store_true",
                        help="only rewrite RESULTS.md and the cards' [results] tables from "
                             "the recorded rows")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        print(f"reproduce.py: error: --data-dir {args.data_dir} is not a folder",
              file=sys.stderr)
        return 1
    if args.report_only:
        import bayes_zoo as bz

        for name, row in _load_rows().items():
            if name in ROWS and "metrics" in row:
                write_card_results(bz.zoo.card(name).path, results_table(row))
    else:
        for name in args.rows:
            if args.not_run_reason:
                key = "row" if name in ROWS else "experiment"
                _write_json(os.path.join(RESULTS_FOLDER, f"{name}.json"),
                            {key: name, "not_run": args.not_run_reason})
                continue
            print(f"== {name}", flush=True)
            try:
                if name not in ROWS:
                    record = run_experiment(name, args)
                    print(f"{name}: recorded in "
                          f"{os.path.relpath(RESULTS_FOLDER, REPOSITORY)}/{name}.json "
                          f"({_duration(record['seconds'])})", flush=True)
                    continue
                row = run_row(name, args)
            except (ValueError, FileNotFoundError) as error:
                print(f"reproduce.py: error: {error}", file=sys.stderr)
                return 1
            metrics = row["metrics"]
            print(f"{name}: accuracy {metrics['accuracy']:.2%}, NLL {metrics['nll']:.4f}, "
                  f"ECE {metrics['ece']:.4f}", flush=True)
    write_markdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
