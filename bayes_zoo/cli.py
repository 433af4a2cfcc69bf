"""The `bayes-zoo` command.

```
bayes-zoo list
bayes-zoo train CARD [--epochs N --batch-size N --train-samples K --num-samples T
                      --data-dir DIR --output DIR --seed N --max-steps-per-epoch N
                      --precision auto|float32|bfloat16|float16
                      --strategy default|mirrored|multi-worker]
bayes-zoo evaluate CARD_OR_FILE [--dataset NAME --data-dir DIR --num-samples T --batch-size N
                                 --ood DATASET --ood-data-dir DIR --output DIR --max-examples N]
bayes-zoo demo [--epochs N | --quick] [--output DIR --seed N]
bayes-zoo export CARD_OR_FILE [--version N --num-samples T --output BASE --name NAME]
```

Each subcommand is a function `<name>_command(args)` returning the exit
status, so that later subcommands (export) and richer versions (evaluate's
plots) slot in beside them. Bad input (an unknown card, a missing file or
folder, a bad flag value) ends with a non-zero status and one line on stderr
saying what is wrong and how to fix it.

`--help`, `list`, flag errors and unknown cards never import TensorFlow, so
they answer at once; the commands that need it import it (`_import_tensorflow`)
only once their arguments are checked, without TensorFlow's C++ log lines
unless `--verbose` or `$BAYES_ZOO_VERBOSE` asks for them.

Outputs go under the current folder unless a flag names another (`train`:
`runs/CARD/`, `evaluate`: `evaluation/NAME/`, `export`: `serving/`), never into
the repository the package is installed from; with `$BAYES_ZOO_HOME` set, a
card's `train` and `export` write its artefacts into that zoo home.
"""

import argparse
import json
import os
import shlex
import sys
import tempfile

# Both are light: no TensorFlow (see the module docstring).
from bayes_zoo import demo
from bayes_zoo import precision
from bayes_zoo import zoo

PROG = "bayes-zoo"
# A value other than "" or "0" shows TensorFlow's logging, as --verbose does.
VERBOSE_VARIABLE = "BAYES_ZOO_VERBOSE"
# The default output folders, under the current folder.
TRAIN_OUTPUT = "runs"
EVALUATION_OUTPUT = "evaluation"
EXPORT_OUTPUT = "serving"
# Exit statuses: argparse's 2 for bad flags, 1 for bad values found later,
# 130 (128 + SIGINT) for Ctrl-C, as shells report it.
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# The modules training the application cards (`task` other than
# classification): each has `train_card(document, *, epochs, batch_size,
# data_dir, output_dir, seed, max_steps_per_epoch, verbose)`.
_TASK_TRAINERS = {"super_resolution": "bayes_zoo.tasks.super_resolution.training",
                  "gan": "bayes_zoo.tasks.gan.training"}
# `train` flags only the classification trainer takes: attribute -> flag.
_CLASSIFICATION_ONLY_FLAGS = {"train_samples": "--train-samples", "num_samples": "--num-samples",
                              "precision": "--precision", "strategy": "--strategy"}
# `bz.trainer.STRATEGIES`, which this module cannot import without TensorFlow.
STRATEGIES = ("default", "mirrored", "multi-worker")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: what is wrong, and where help is.

    Abbreviated flags are refused: `--epoch 3` is an error, not `--epochs 3`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _one_line(error):
    return " ".join(str(error).split())


def _wants_tensorflow_logs(args):
    return getattr(args, "verbose", False) or os.environ.get(VERBOSE_VARIABLE, "") not in (
        "", "0")


def _import_tensorflow(args):
    """Imports TensorFlow, without its C++ log lines unless the user asked for them.

    Quiet means `TF_CPP_MIN_LOG_LEVEL=3` where the user has not set it (it
    hides the runtime's lines, e.g. `failed call to cuInit` on a machine
    without a GPU), and hiding what the import writes to file descriptor 2:
    TensorFlow logs its start-up lines (oneDNN, CUDA stubs, CPU features)
    before it reads that level. A failed import shows them.
    """
    if "tensorflow" in sys.modules or _wants_tensorflow_logs(args):
        import tensorflow  # noqa: F401
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0":  # The user's own choice: every line.
        import tensorflow  # noqa: F401
        return
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved_stderr, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)


def _fit_verbosity():
    """Keras' `fit` verbosity: a progress bar on a terminal, one line per epoch in a log."""
    return 1 if sys.stdout.isatty() else 2


def _default_output(card, folder):
    """A card's output: its artefact folder in a $BAYES_ZOO_HOME zoo, else folder/CARD."""
    if zoo.home_source() != "package":
        return os.path.dirname(zoo.model_path(card))
    return os.path.join(folder, card.name)


# ---------------------------------------------------------------------------
# Subcommands.


def list_command(args):
    """Prints the zoo's cards: what each is, the paper's accuracy, and whether it is trained.

    Cards without an accuracy (the applications, untrained cards) show "-".
    """
    rows = [("card", "architecture", "method", "dataset", "paper", "measured", "trained",
             "task")]
    for card in zoo.cards():
        paper = card.paper.get("accuracy")
        measured = card.results.get("accuracy")
        rows.append((
            card.name,
            card.architecture,
            card.method,
            card.dataset,
            "-" if paper is None else f"{paper:.1%}",
            "-" if measured is None else f"{measured:.1%}",
            "yes" if os.path.isfile(zoo.model_path(card)) else "no",
            card.task,
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"Cards are in {os.path.join(zoo.home(), 'models')}; "
          f"`{PROG} train CARD` trains one.")
    return 0


def _train_application_card(args, card):
    """Trains a super-resolution or GAN card with its task's `train_card`; prints its metrics."""
    for attribute, flag in _CLASSIFICATION_ONLY_FLAGS.items():
        if getattr(args, attribute) is not None:
            raise ValueError(
                f"{flag} does not apply to {card.name}, a {card.task} card (only to "
                "classification cards). Fix: leave it out."
            )
    # Its trainer starts afresh: no "run again to resume" hint on Ctrl-C.
    args.resumable = False
    output_dir = args.output or _default_output(card, TRAIN_OUTPUT)
    _import_tensorflow(args)
    import importlib

    task_trainer = importlib.import_module(_TASK_TRAINERS[card.task])
    print(f"Training {card.name} ({card.task}) into {output_dir}...", flush=True)
    metrics = task_trainer.train_card(
        card.document,
        epochs=args.epochs,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        output_dir=output_dir,
        seed=args.seed,
        max_steps_per_epoch=args.max_steps_per_epoch,
        verbose=_fit_verbosity(),
    )
    print(f"{card.name}, final metrics:")
    width = max(len(key) for key in metrics)
    for key, value in metrics.items():
        print(f"  {key.ljust(width)}  {value:.4f}")
    print(f"Wrote {os.path.join(output_dir, 'model.keras')}")


def train_command(args):
    """Trains a card with the trainer of its task.

    Classification cards train with `bz.trainer` (resuming an interrupted run
    in the same output folder); super-resolution and GAN cards with their
    module's `train_card`.
    """
    card = zoo.card(args.card)
    if card.task != "classification":
        _train_application_card(args, card)
        return 0
    _import_tensorflow(args)
    from bayes_zoo import trainer

    trainer.train(
        card,
        epochs=args.epochs,
        batch_size=args.batch_size,
        train_samples=args.train_samples,
        num_samples=args.num_samples,
        data_dir=args.data_dir,
        output_dir=args.output or _default_output(card, TRAIN_OUTPUT),
        seed=args.seed,
        max_steps_per_epoch=args.max_steps_per_epoch,
        verbose=_fit_verbosity(),
        precision=args.precision,
        strategy=args.strategy,
    )
    return 0


def _evaluation_target(args):
    """The model to evaluate, its name and file, its card (or None), and its dataset (or None).

    A card names its dataset; for a .keras file, the trainer's metrics.json
    beside it does (or the card it names).
    """
    target = args.target
    if target.endswith(".keras"):
        if not os.path.isfile(target):
            raise FileNotFoundError(
                f"No model file {target}. Fix: pass a .keras file or a card name.")
        _import_tensorflow(args)
        from bayes_zoo import trainer

        metrics_file = os.path.join(os.path.dirname(target), trainer.METRICS_FILE)
        trained = {}
        if os.path.isfile(metrics_file):
            with open(metrics_file) as file:
                trained = json.load(file)
        card = None
        try:
            if trained.get("card") in zoo.list():
                card = zoo.card(trained["card"])
        except FileNotFoundError:  # No zoo home here: metrics.json or --dataset says it.
            card = None
        dataset = trained.get("dataset") or (card.dataset if card else None)
        # Evaluation and export train nothing: no optimizer to build (and no
        # warning that a `save_for_inference` file holds no state for it).
        model = zoo.load_file(target, compile=False, card=card)
        return model, target, target, card, dataset
    card = zoo.card(target)
    if os.path.isfile(zoo.model_path(card)):
        _import_tensorflow(args)
    return zoo.load(card, compile=False), card.name, zoo.model_path(card), card, card.dataset


def _evaluate_command_line(args, dataset, num_samples, output):
    """The command that repeats this evaluation, every setting spelled out."""
    words = [PROG, "evaluate", args.target, "--dataset", dataset,
             "--num-samples", str(num_samples), "--batch-size", str(args.batch_size),
             "--output", output]
    for flag, value in (("--data-dir", args.data_dir), ("--ood", args.ood),
                        ("--ood-data-dir", args.ood_data_dir),
                        ("--max-examples", args.max_examples)):
        if value is not None:
            words += [flag, str(value)]
    return shlex.join(words)


def evaluate_command(args):
    """Evaluates a trained model on its test split (and OOD data): a table, plots and a JSON."""
    model, name, path, card, trained_on = _evaluation_target(args)
    if card is not None and card.task != "classification":
        raise ValueError(
            f"bayes-zoo evaluate measures classifiers; {card.name} is a {card.task} card. "
            f"Fix: its training run ({PROG} train {card.name}) prints and saves its metrics."
        )
    dataset = args.dataset or trained_on
    if dataset is None:
        raise ValueError(
            f"Cannot tell which dataset {name} was trained on. Fix: pass --dataset, one of "
            f"{', '.join(zoo.CLASSIFICATION_DATASETS)}."
        )
    if args.ood is not None and args.ood == dataset:
        raise ValueError(
            f"--ood {args.ood} is the test dataset itself. Fix: pass another dataset as "
            "out-of-distribution data (e.g. fashion_mnist for an MNIST model)."
        )
    num_samples = args.num_samples or (card.evaluation.num_samples if card else 25)
    output = args.output or os.path.join(EVALUATION_OUTPUT, _model_name(path, card))
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"--output {output} is a file. Fix: pass a folder.")
    from bayes_zoo import evaluation

    test = evaluation.load_test_split(dataset, model, data_dir=args.data_dir,
                                      max_examples=args.max_examples)
    ood = None
    if args.ood is not None:
        ood = evaluation.load_test_split(
            args.ood, model, data_dir=args.ood_data_dir or args.data_dir,
            max_examples=args.max_examples, out_of_distribution=True)
    metadata = {
        "command": _evaluate_command_line(args, dataset, num_samples, output),
        "model": name,
        "card": card.name if card else None,
        "dataset": dataset,
        "data_source": test.source,
        "ood_dataset": args.ood,
        "ood_data_source": ood.source if ood else None,
    }
    print(f"Evaluating {name} on the {dataset} test split from {test.source}"
          + (f", with {args.ood} from {ood.source} as out-of-distribution data" if ood else "")
          + ".", flush=True)
    results = evaluation.evaluate(
        model, (test.images, test.labels), num_samples=num_samples,
        ood_data=None if ood is None else ood.images, output_dir=output,
        batch_size=args.batch_size, metadata=metadata, verbose=1,
        title=f"{card.name if card else name} on {dataset} (T={num_samples})",
        in_name=f"{dataset} test", ood_name=args.ood,
    )
    print(f"{name} on the {dataset} test split ({results['num_examples']} examples, "
          f"{num_samples} Monte Carlo samples)"
          + (f"; out-of-distribution: {args.ood} ({results['ood']['num_examples']} examples)"
             if ood else "") + ":")
    print(evaluation.summary_table(results))
    print(f"Wrote {', '.join(results['files'].values())} to {output}")
    return 0


def demo_command(args):
    """Trains the demo's Bayesian CNN on bundled digits and shows its uncertainty."""
    _import_tensorflow(args)
    demo.run_demo(epochs=args.epochs, quick=args.quick, output_dir=args.output, seed=args.seed)
    return 0


def _model_name(path, card):
    """A model's name in output paths: its card's, else its file's (model.keras: its folder's)."""
    if card is not None:
        return card.name
    stem = os.path.splitext(os.path.basename(path))[0]
    if stem == "model":  # The trainers' model.keras.
        return os.path.basename(os.path.dirname(os.path.abspath(path)))
    return stem


def export_command(args):
    """Writes BASE/NAME/VERSION/ (a SavedModel with uncertainty) and BASE/models.config."""
    model, _, path, card, _ = _evaluation_target(args)
    from bayes_zoo import export

    name = args.name or _model_name(path, card)
    base = args.output or EXPORT_OUTPUT
    if card is not None and not args.target.endswith(".keras") and args.output is None \
            and zoo.home_source() != "package":
        # A zoo home the user named: the card's artefact folder, BASE/NAME/{version}.
        model_dir = os.path.dirname(zoo.saved_model_path(card, version=1, must_exist=False))
        name = args.name or os.path.basename(model_dir)
        base = os.path.dirname(model_dir)
    num_samples = args.num_samples or (card.evaluation.num_samples if card else 20)
    print(f"Exporting {args.target} as {name!r} ({num_samples} Monte Carlo samples in "
          "serving_default)...", flush=True)
    export_dir = export.export_for_serving(model, base, name, version=args.version,
                                           num_samples=num_samples)
    print(f"Wrote {export_dir} and {os.path.join(base, export.MODELS_CONFIG)}. "
          f"Serve the models of {base} with:\n"
          "  docker run -p 8501:8501 --mount type=bind,"
          f"source={os.path.abspath(base)},target=/models -t tensorflow/serving "
          "--model_config_file=/models/models.config")
    return 0


# ---------------------------------------------------------------------------
# The parser.


def build_parser():
    """The `bayes-zoo` argument parser (each subparser's `run` is its command)."""
    parser = _Parser(
        prog=PROG,
        description="Bayesian CNNs of the papers: list, train, evaluate and export the zoo's "
                    "models.",
    )
    verbose_help = (f"show TensorFlow's own log lines (as ${VERBOSE_VARIABLE}=1 does); "
                    "hidden by default")
    parser.add_argument("--verbose", action="store_true", help=verbose_help)
    # `bayes-zoo train CARD --verbose` too; SUPPRESS keeps the main parser's value
    # when the flag comes before the command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                        help=verbose_help)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     parser_class=_Parser)

    listing = commands.add_parser("list", help="the zoo's cards", parents=[common])
    listing.set_defaults(run=list_command)

    train = commands.add_parser(
        "train", parents=[common],
        help="train a card; rerun after an interruption to resume",
        description="Train a zoo card's model with its hyper-parameters, writing checkpoints, "
                    "a CSV log, the trained model and test metrics to the output folder. Run "
                    "it again after an interruption to resume from the last completed epoch. "
                    "Super-resolution and GAN cards train with their task's trainer (no "
                    "resuming; --train-samples and --num-samples are for classification "
                    "cards only).",
    )
    train.add_argument("card", help="a card name (see `bayes-zoo list`) or a .toml card file")
    train.add_argument("--epochs", type=_positive_int, help="total epochs (default: the card's)")
    train.add_argument("--batch-size", type=_positive_int, help="default: the card's")
    train.add_argument("--train-samples", type=_positive_int,
                       help="weight samples per training step (default: the card's)")
    train.add_argument("--num-samples", type=_positive_int,
                       help="Monte Carlo samples of the test evaluation (default: the card's)")
    train.add_argument("--data-dir", help="folder holding the dataset's files or a TFDS copy")
    train.add_argument("--output",
                       help=f"output folder (default: ./{TRAIN_OUTPUT}/CARD, or the card's "
                            f"artefact folder of ${zoo.HOME_VARIABLE}/saved_models when that "
                            "is set); --output saved_models/CARD in the repository writes "
                            "the zoo's own artefact")
    train.add_argument("--seed", type=_non_negative_int, default=0)
    train.add_argument("--precision", choices=precision.PRECISIONS,
                       help="numeric precision of training (default: the card's, float32); "
                            "auto: bfloat16 where the CPU has avx512_bf16/amx_bf16 units or "
                            "a GPU computes it, else float32")
    train.add_argument("--max-steps-per-epoch", type=_positive_int,
                       help="cap on training and validation batches per epoch, for a quick run")
    train.add_argument("--strategy", choices=STRATEGIES,
                       help="tf.distribute strategy (default: none, one device): mirrored "
                            "trains on all local devices; multi-worker on several machines, "
                            "each running this same command, with the cluster and that "
                            "machine's task read from the TF_CONFIG environment variable. "
                            "--batch-size is the global batch, split among them; only the "
                            "chief (worker 0, unless TF_CONFIG names a chief) writes into "
                            "--output")
    train.set_defaults(run=train_command)

    evaluate = commands.add_parser(
        "evaluate", parents=[common],
        help="test accuracy, NLL, ECE, uncertainty and OOD detection of a trained model",
        description="Evaluate a trained model on its dataset's official test split with Monte "
                    "Carlo prediction: print a table of accuracy, NLL, ECE, Brier score, mean "
                    "uncertainties and, with --ood, out-of-distribution detection; write a "
                    "reliability diagram, uncertainty histograms, accuracy against the number "
                    "of samples, an accuracy-coverage CSV and evaluation.json to --output.",
    )
    evaluate.add_argument("target", metavar="CARD_OR_FILE",
                          help="a trained card's name, or a .keras model file")
    evaluate.add_argument("--dataset", choices=zoo.CLASSIFICATION_DATASETS,
                          help="the dataset (default: the card's, or the one in the "
                               "metrics.json beside a model file)")
    evaluate.add_argument("--data-dir", help="folder holding the dataset's files or a TFDS copy")
    evaluate.add_argument("--num-samples", type=_positive_int,
                          help="Monte Carlo samples (default: the card's, else 25)")
    evaluate.add_argument("--ood", metavar="DATASET", choices=zoo.CLASSIFICATION_DATASETS,
                          help="a dataset whose test images are out-of-distribution data "
                               f"(one of {', '.join(zoo.CLASSIFICATION_DATASETS)})")
    evaluate.add_argument("--ood-data-dir",
                          help="folder holding the OOD dataset (default: --data-dir)")
    evaluate.add_argument("--output",
                          help=f"output folder (default: ./{EVALUATION_OUTPUT}/NAME, NAME the "
                               "card's, or the model file's (its folder's for model.keras))")
    evaluate.add_argument("--batch-size", type=_positive_int, default=128)
    evaluate.add_argument("--max-examples", type=_positive_int,
                          help="evaluate a fixed random subset of at most N test (and OOD) "
                               "examples, for a quick run")
    evaluate.set_defaults(run=evaluate_command)

    demo_parser = commands.add_parser(
        "demo", parents=[common],
        help="train a small Bayesian CNN on bundled digits and show its uncertainty",
        description=demo.__doc__.splitlines()[0],
    )
    budget = demo_parser.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=_positive_int, help="default: the demo card's 20")
    budget.add_argument("--quick", action="store_true",
                        help=f"a {demo.QUICK_EPOCHS}-epoch smoke run")
    demo_parser.add_argument("--output", default=demo.DEFAULT_OUTPUT,
                             help=f"output folder (default: ./{demo.DEFAULT_OUTPUT})")
    demo_parser.add_argument("--seed", type=_non_negative_int, default=0)
    demo_parser.set_defaults(run=demo_command)

    export_parser = commands.add_parser(
        "export", parents=[common],
        help="export a trained model for TensorFlow Serving, uncertainty included",
        description="Export a trained model as a SavedModel whose signatures (serving_default, "
                    "predict_with_uncertainty, posterior_mean, and the *_seeded twins that "
                    "take a seed) run the Monte Carlo prediction "
                    "in the graph, to BASE/NAME/VERSION/, and rewrite BASE/models.config, "
                    "TensorFlow Serving's list of the models under BASE.",
    )
    export_parser.add_argument("target", metavar="CARD_OR_FILE",
                               help="a trained card's name, or a .keras model file")
    export_parser.add_argument("--version", type=_positive_int,
                               help="the version folder (default: the next free one)")
    export_parser.add_argument("--num-samples", type=_positive_int,
                               help="Monte Carlo samples of serving_default (default: the "
                                    "card's, or 20)")
    export_parser.add_argument("--output", metavar="BASE",
                               help=f"the folder the server mounts (default: "
                                    f"./{EXPORT_OUTPUT}, or for a card "
                                    f"${zoo.HOME_VARIABLE}/saved_models when that is set)")
    export_parser.add_argument("--name", help="the model's name on the server (default: the "
                                              "card's, or the file's)")
    export_parser.set_defaults(run=export_command)
    return parser


def main(argv=None):
    """Runs `bayes-zoo` with `argv` (default: the command line); returns the exit status.

    Never raises for bad input: argparse errors return 2, errors found later
    (unknown card, missing data, ...) print one line on stderr and return 1.

    Example:

    >>> from bayes_zoo.cli import main
    >>> main(["train", "demo_lrt_digits", "--epochs", "2", "--output", "/tmp/demo"])
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help, or an argparse error already printed.
        return exit_request.code
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, NotADirectoryError) as error:
        print(f"{PROG} {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        resumable = args.command == "train" and getattr(args, "resumable", True)
        hint = (" Run the same command again to resume from the last completed epoch."
                if resumable else "")
        print(f"{PROG} {args.command}: interrupted.{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
