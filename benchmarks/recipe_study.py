"""The training recipe of the Bayesian CNNs, one factor at a time, measured on validation only.

Issue 12's study: from the reference code's recipe (PyTorch-BayesianCNN: a tempered KL with
beta = 0.1, sigma = softplus(rho) with rho from N(-5, 0.1), prior N(0, 0.1), flips and rotations,
Adam decayed linearly to 0, one weight sample per step, the epoch with the lowest validation loss
kept, 20% of the training images held out for validation), change one factor at a time:

- kl: the ELBO (1/N), beta = 0.01, Blundell's pi_i, a linear warm-up;
- posterior: sigma^2 = alpha mu^2 from log alpha = -10 (the paper's text), softplus(rho) from -3;
- prior: N(0, 1);
- augment: none, flip + crop;
- schedule: a constant learning rate;
- combined: the one-factor winners together, and the frequentist twin on the same pipeline.

Each run trains `bz.trainer.train` on the card's model and measures accuracy, NLL, ECE and mean
epistemic uncertainty on the VALIDATION split (`evaluation_split="validation"`); the test split is
never read. Runs already in `<output>/runs.jsonl` are skipped, so an interrupted study resumes.
Writes `<output>.md` (a table) and `<output>.png` (the four metrics per variant).

    python benchmarks/recipe_study.py --card lenet5_lrt_cifar10 --epochs 15 \\
        --data-dir /tmp/bayes_zoo_data/cifar10-jpeg
    python benchmarks/recipe_study.py --card demo_lrt_digits --epochs 1 --max-steps 2 --factors kl
"""

import argparse
import csv
import dataclasses
import json
import os
import time

REFERENCE_NAME = "reference"


def _reference(card):
    """The reference code's recipe on `card`'s architecture and dataset."""
    flips = card.dataset not in ("mnist", "svhn_cropped", "digits")
    return dataclasses.replace(
        card,
        model={**card.model, "train_samples": 1},
        prior={"kind": "normal", "mean": 0.0, "stddev": 0.1},
        posterior={"kind": "mean_field_normal", "loc_stddev": 0.1, "rho_mean": -5.0,
                   "rho_stddev": 0.1},
        data=dataclasses.replace(card.data, validation_fraction=0.2,
                                 augment="flip+rotate" if flips else "rotate"),
        training=dataclasses.replace(card.training, optimizer="adam", learning_rate=1e-3,
                                     lr_schedule="linear", kl_schedule="tempered", kl_beta=0.1,
                                     select="val_loss"),
    )


def _variants(card):
    """{factor: [(variant name, card)]}: each changes one thing of the reference."""
    reference = _reference(card)

    def training(**changes):
        return dataclasses.replace(reference, training=dataclasses.replace(
            reference.training, **changes))

    flips = card.dataset not in ("mnist", "svhn_cropped", "digits")
    return {
        "kl": [
            ("kl=elbo", training(kl_schedule="elbo")),
            ("kl=tempered(0.01)", training(kl_schedule="tempered", kl_beta=0.01)),
            ("kl=blundell", training(kl_schedule="blundell")),
            ("kl=warmup", training(kl_schedule="warmup")),
        ],
        "posterior": [
            ("posterior=alpha*mu^2(-10)", dataclasses.replace(reference, posterior={
                "kind": "multiplicative_normal", "log_alpha_init": -10.0, "loc_stddev": 0.1})),
            ("posterior=softplus(rho=-3)", dataclasses.replace(reference, posterior={
                **reference.posterior, "rho_mean": -3.0})),
        ],
        "prior": [
            ("prior=N(0,1)", dataclasses.replace(reference, prior={
                "kind": "normal", "mean": 0.0, "stddev": 1.0})),
        ],
        "augment": [
            ("augment=none", dataclasses.replace(reference, data=dataclasses.replace(
                reference.data, augment=False))),
        ] + ([("augment=flip+crop", dataclasses.replace(reference, data=dataclasses.replace(
            reference.data, augment="flip+crop")))] if flips else []),
        "schedule": [("schedule=constant", training(lr_schedule="constant"))],
        # The winners of the one-factor runs at 20 epochs on LeNet-5 (recipe_study_lenet5_lrt_
        # cifar10.md): beta = 0.01 (best NLL and ECE), a constant rate (+1.9 points). Whether a
        # constant rate still wins once the run is long enough to converge is the question, so
        # both schedules run; the frequentist twin runs on the same pipeline and schedule.
        "combined": [
            ("combined: beta=0.01, constant", training(
                kl_schedule="tempered", kl_beta=0.01, lr_schedule="constant")),
            ("combined: beta=0.01, linear", training(kl_schedule="tempered", kl_beta=0.01)),
            ("frequentist twin, linear", dataclasses.replace(
                reference, method="frequentist", prior={}, posterior={},
                model={key: value for key, value in reference.model.items()
                       if key != "train_samples"},
                training=dataclasses.replace(reference.training, select="val_loss"))),
        ],
    }


def _read_runs(path):
    if not os.path.isfile(path):
        return {}
    with open(path) as file:
        return {run["variant"]: run for run in map(json.loads, file)}


def _log_summary(output, variant):
    """From a run's training_log.csv: the last epoch's and the lowest validation NLL."""
    path = os.path.join(output, "runs", variant.replace("/", "_"), "training_log.csv")
    if not os.path.isfile(path):
        return None
    with open(path) as file:
        rows = list(csv.DictReader(file))
    best = min(rows, key=lambda row: float(row["val_nll"]))
    return {"last_val_nll": float(rows[-1]["val_nll"]),
            "last_val_accuracy": float(rows[-1]["val_accuracy"]),
            "best_val_nll_epoch": int(best["epoch"])}


def _table(card_name, runs, epochs, missing, output):
    lines = [
        f"# Recipe study: {card_name}, {epochs} epochs, measured on the validation split",
        "",
        "Written by `benchmarks/recipe_study.py`; one run per variant (seed 0), so differences "
        "under about a point are noise. The first columns measure the kept epoch (Monte Carlo "
        "averages); the last three come from the training log (one weight draw per image, every "
        "epoch), to show what another selection would have kept.",
        "",
        "| variant | accuracy | NLL | ECE | mean epistemic | kept epoch (by) | train s "
        "| last epoch: val NLL, accuracy (1 draw) | epoch of lowest val NLL |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        m = run["metrics"]
        log = _log_summary(output, run["variant"])
        logged = ("| – | – |" if log is None else
                  f"| {log['last_val_nll']:.4f}, {log['last_val_accuracy']:.4f} "
                  f"| {log['best_val_nll_epoch']} |")
        lines.append(
            f"| {run['variant']} | {m['accuracy']:.4f} | {m['nll']:.4f} | {m['ece']:.4f} | "
            f"{m['epistemic']:.5f} | {m['selected_epoch']} ({m['selected_by']}) "
            f"| {m['train_seconds']:.0f} {logged}"
        )
    if missing:
        lines += ["", f"Not run yet: {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def _plot(card_name, dataset, runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [run["variant"] for run in runs]
    metrics = [("accuracy", "accuracy (fraction)"), ("nll", "NLL (nats per example)"),
               ("ece", "ECE (15 bins)"), ("epistemic", "mean epistemic (Kwon)")]
    figure, axes = plt.subplots(1, 4, figsize=(18, 0.45 * len(names) + 2), sharey=True)
    for axis, (key, label) in zip(axes, metrics):
        values = [run["metrics"][key] for run in runs]
        colours = ["tab:orange" if name == REFERENCE_NAME else "tab:blue" for name in names]
        axis.barh(names, values, color=colours)
        axis.set_xlabel(label)
        axis.grid(axis="x", alpha=0.3)
    axes[0].invert_yaxis()
    figure.suptitle(f"Recipe study: {card_name} on {dataset}, validation split "
                    "(orange: the reference code's recipe)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--card", required=True, help="a classification card, e.g. lenet5_lrt_cifar10")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--factors", default="kl,posterior,prior,augment,schedule",
                        help="comma-separated factors to vary (the reference always runs)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="cap the batches per epoch (a smoke run)")
    parser.add_argument("--num-samples", type=int, default=10,
                        help="Monte Carlo samples of the validation metrics")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", action="store_true",
                        help="only write the table and PNG of the runs done so far")
    parser.add_argument("--output", default=None,
                        help="results prefix (default: benchmarks/results/recipe_study_<card>)")
    args = parser.parse_args()

    from bayes_zoo import trainer
    from bayes_zoo import zoo

    card = zoo.card(args.card)
    variants = _variants(card)
    unknown = set(args.factors.split(",")) - set(variants)
    if unknown:
        parser.error(f"unknown factors {sorted(unknown)}; choose from {sorted(variants)}")
    chosen = [(REFERENCE_NAME, _reference(card))] + [
        variant for factor in args.factors.split(",") for variant in variants[factor]]
    output = args.output or os.path.join(os.path.dirname(__file__), "results",
                                         f"recipe_study_{card.name}")
    os.makedirs(output, exist_ok=True)
    log = os.path.join(output, "runs.jsonl")
    done = _read_runs(log)
    for index, (name, variant) in enumerate(chosen, 1):
        if args.report:
            break
        if name in done:
            print(f"[{index}/{len(chosen)}] {name}: done before, skipped", flush=True)
            continue
        print(f"[{index}/{len(chosen)}] {name}: training {args.epochs} epochs...", flush=True)
        start = time.perf_counter()
        run = trainer.train(
            variant, epochs=args.epochs, data_dir=args.data_dir, seed=args.seed,
            output_dir=os.path.join(output, "runs", name.replace("/", "_")),
            max_steps_per_epoch=args.max_steps, num_samples=args.num_samples,
            evaluation_split="validation", verbose=2,
        )
        record = {"variant": name, "epochs": args.epochs, "max_steps": args.max_steps,
                  "metrics": run.metrics, "wall_seconds": round(time.perf_counter() - start, 1)}
        with open(log, "a") as file:
            file.write(json.dumps(record) + "\n")
        done[name] = record
        m = run.metrics
        print(f"    validation accuracy {m['accuracy']:.4f}, NLL {m['nll']:.4f}, "
              f"ECE {m['ece']:.4f}, epistemic {m['epistemic']:.5f}", flush=True)
    runs = [done[name] for name, _ in chosen if name in done]
    missing = [name for name, _ in chosen if name not in done]
    if missing:
        print(f"Not run yet: {', '.join(missing)}")
    with open(f"{output}.md", "w") as file:
        file.write(_table(card.name, runs, args.epochs, missing, output))
    _plot(card.name, card.dataset, runs, f"{output}.png")
    print(f"Wrote {output}.md and {output}.png")


if __name__ == "__main__":
    main()
