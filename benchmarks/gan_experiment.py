"""DCGAN with a Bayesian discriminator against the frequentist-discriminator DCGAN, at equal budget.

Run by `benchmarks/reproduce.py --rows dcgan_cifar10 --data-dir DIR [--epochs N]`. For each of
the cards `dcgan_bayesian_cifar10` (the paper's alpha * mu^2 posterior),
`dcgan_frequentist_cifar10` and `dcgan_bayesian_softplus_cifar10` (the same networks, data,
optimizers and epochs; only the discriminator's layers differ) it trains the card
(`bz.gan.train_card`; `model.keras` without optimizer state, `history.csv`, `training.png` and
a sample grid per epoch go to `saved_models/<card>/`) where it has no trained model yet or
`--retrain` asks. After every epoch `bz.gan.SampleQuality` measures 2,000 samples against 2,000
held-out CIFAR-10 test images: the Frechet and kernel (KID-style) distances on the penultimate
features of a classifier of the zoo, the classes the samples are predicted as, and the
discriminator's Monte Carlo std of D(x) on the held-out real and on the generated images. At the
end 10,000 samples are measured against the 10,000 test images the same way.

The distances are computed on the features of `FEATURE_CLASSIFIER` (posterior means), not on
Inception's: no Inception weights are available offline, so the numbers compare the two GANs
with each other and are not the literature's FID. Images of another size than the classifier's
32x32 input (the paper's 64x64) are resized to it with antialiasing, and the real images are the
test split resized as the training images are, so both sides see one pipeline.

The test images choose nothing: the epochs are the card's (or `--epochs`), fixed in advance,
and the last epoch's generator is the one measured.

`EXPERIMENTS` follows the contract of `gal_experiments.py`.
"""

import datetime
import json
import os
import time
import tomllib

import numpy as np

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_FOLDER = os.path.join(REPOSITORY, "benchmarks", "results")
NAME = "dcgan_cifar10"
# The Bayesian-D GANs, each judged against the frequentist-D twin: the paper's posterior first
# (the "Bayesian-D GAN"), then the softplus posterior its card argues for.
BAYESIAN_CARDS = ("dcgan_bayesian_cifar10", "dcgan_bayesian_softplus_cifar10")
TWIN = "dcgan_frequentist_cifar10"
CARDS = (BAYESIAN_CARDS[0], TWIN, BAYESIAN_CARDS[1])  # the order they train in
# The zoo's CIFAR-10 classifier with the best validation accuracy when this experiment was
# written (64.2% on its 5,000 held-out training images, its training_log.csv): the features
# come from it. Chosen on validation data, not on the test split.
FEATURE_CLASSIFIER = "alexnet_half_frequentist_cifar10"
EPOCH_IMAGES = 2000       # samples and held-out real images measured after every epoch
FINAL_IMAGES = 10000      # samples measured at the end, against the 10,000 test images
UNCERTAINTY_SAMPLES = 8   # Monte Carlo draws of the discriminator per measurement
SAMPLES_SEED = 1234       # the final samples' latent vectors
DPI = 100


def _test_images(bz, data_dir, image_size):
    """The CIFAR-10 test split as one array in [-1, 1], resized as the GAN's training images."""
    dataset, _ = bz.gan.real_images("cifar10", data_dir=data_dir, image_size=image_size,
                                    batch_size=500, split="test")
    return np.concatenate([np.asarray(batch) for batch in dataset])


def _previous_record():
    path = os.path.join(RESULTS_FOLDER, f"{NAME}.json")
    if not os.path.exists(path):
        return {}
    with open(path) as file:
        return json.load(file).get("models", {})


def _read_history(folder):
    import csv

    with open(os.path.join(folder, "history.csv")) as file:
        rows = list(csv.DictReader(file))
    # Keras' CSVLogger adds a "val_" column of NA for every key when there is no validation.
    keys = [key for key in (rows[0] if rows else ()) if rows[0][key] != "NA"]
    return {key: [float(row[key]) for row in rows] for key in keys}


def _train(bz, card, document, data_dir, args, classifier, heldout):
    """Trains one card with a SampleQuality callback; its entry for the record."""
    output_dir = os.path.dirname(bz.zoo.model_path(card))
    quality = bz.gan.SampleQuality(classifier, heldout, num_images=len(heldout),
                                   uncertainty_samples=UNCERTAINTY_SAMPLES)
    print(f"{card.name}: training ({args.epochs or document['training']['epochs']} epochs, "
          f"{len(heldout)} samples measured after each) ...", flush=True)
    start = time.perf_counter()
    bz.gan.train_card(document, epochs=args.epochs, data_dir=data_dir, output_dir=output_dir,
                      max_steps_per_epoch=getattr(args, "max_steps_per_epoch", None),
                      callbacks=[quality], verbose=2)
    history = _read_history(output_dir)
    return {
        "epochs": len(history.get("epoch", [])),
        "max_steps_per_epoch": getattr(args, "max_steps_per_epoch", None),
        "train_seconds": round(time.perf_counter() - start, 1),
        "history": {key: values for key, values in history.items() if key != "epoch"},
        "class_histograms": quality.class_histograms,
    }


def _trained_entry(bz, card, document, data_dir, args, classifier, heldout, previous):
    model_path = bz.zoo.model_path(card)
    if os.path.exists(model_path) and not args.retrain:
        if card.name not in previous:
            raise ValueError(
                f"{card.name} has a trained model ({os.path.relpath(model_path, REPOSITORY)}) "
                f"but {NAME}.json records no training of it: pass --retrain to train it here.")
        print(f"{card.name}: trained before, {previous[card.name]['epochs']} epochs; "
              "measuring it (--retrain trains afresh)", flush=True)
        return {key: value for key, value in previous[card.name].items() if key != "final"}
    if args.skip_train:
        raise FileNotFoundError(f"{card.name} has no trained model at {model_path} "
                                "(--skip-train only measures)")
    return _train(bz, card, document, data_dir, args, classifier, heldout)


def _uncertainty_and_stderr(bz, discriminator, images, batch_size=256):
    """D's mean Monte Carlo std over the images, and the standard error of that mean.

    The standard error covers both the spread over images and the noise of the draws (each
    image's std comes from its own draws), so two means closer than it are not told apart.
    """
    from bayes_zoo.layers.stochastic_layer import stochastic_layers

    if not stochastic_layers(discriminator):
        return 0.0, 0.0  # as bz.gan.heldout_uncertainty: a deterministic D is certain
    stddevs = np.concatenate([
        np.asarray(bz.architectures.discriminator_uncertainty(
            discriminator, images[start:start + batch_size], UNCERTAINTY_SAMPLES)[1])
        for start in range(0, len(images), batch_size)])
    return float(stddevs.mean()), float(stddevs.std(ddof=1) / np.sqrt(len(stddevs)))


def _final_measurement(bz, gan, classifier, test_images, num_images):
    latent = np.random.default_rng(SAMPLES_SEED).standard_normal(
        (num_images, gan.latent_dim)).astype(np.float32)
    generated = np.concatenate([
        np.asarray(gan.generator(latent[start:start + 500], training=False))
        for start in range(0, num_images, 500)])
    final = bz.gan.sample_quality(classifier, test_images, generated)
    for key, images in (("d_uncertainty_heldout_real", test_images),
                        ("d_uncertainty_generated", generated)):
        final[key], final[f"{key}_stderr"] = _uncertainty_and_stderr(
            bz, gan.discriminator, images)
    final["num_images"] = num_images
    return final, generated[:64]


def _plot(models, epoch_images, path):
    """Distances and D's uncertainty per epoch for both GANs, and the final class histograms."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from bayes_zoo import data

    figure = Figure(figsize=(16, 4))
    FigureCanvasAgg(figure)
    frechet, kernel, uncertainty, classes = figure.subplots(1, 4)
    width = 0.8 / max(len(models), 1)
    for index, (card_name, entry) in enumerate(models.items()):
        history, color = entry["history"], f"C{index}"
        epochs = np.arange(1, len(history["frechet_distance"]) + 1)
        frechet.plot(epochs, history["frechet_distance"], "o-", color=color, label=card_name)
        kernel.plot(epochs, history["kernel_distance"], "o-", color=color, label=card_name)
        uncertainty.plot(epochs, history["d_uncertainty_heldout_real"], "o-", color=color,
                         label=f"{card_name}: held-out real")
        uncertainty.plot(epochs, history["d_uncertainty_generated"], "s--", color=color,
                         label=f"{card_name}: generated")
        counts = entry["final"]["class_histogram"]
        classes.bar(np.arange(len(counts)) + index * width, counts, width, color=color,
                    label=card_name)
    for axis, title, label in (
            (frechet, "Frechet distance to CIFAR-10 test images", "Frechet distance"),
            (kernel, "Kernel distance to CIFAR-10 test images", "MMD^2 (cubic kernel)"),
            (uncertainty, "Discriminator's epistemic uncertainty", "MC std of D(x)")):
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    for axis in (frechet, kernel, uncertainty):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    names = data.dataset_info("cifar10").class_names
    classes.set_xticks(np.arange(len(names)) + width * (len(models) - 1) / 2, names,
                       rotation=45, ha="right", fontsize=8)
    classes.set_xlabel("predicted CIFAR-10 class")
    classes.set_ylabel("generated images")
    classes.set_title("Classes of the final samples", fontsize=10)
    classes.legend(fontsize=7)
    figure.suptitle(f"DCGAN on CIFAR-10: {epoch_images} samples against as many held-out test "
                    f"images per epoch; distances on {FEATURE_CLASSIFIER}'s features "
                    "(not Inception)", fontsize=10)
    figure.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI)
    return os.path.relpath(path, REPOSITORY)


def card_results_table(entry, card_epochs, record):
    """The `[results]` lines of a GAN card, from its entry in the record."""
    from reproduce import _significant
    from reproduce import _toml_value

    final = entry["final"]
    lines = ["[results]"]
    if entry["epochs"] < card_epochs:
        lines.append(f"# Reduced budget (2-core CPU, no GPU): {entry['epochs']} of the card's "
                     f"{card_epochs} epochs; its settings otherwise.")
    lines += [
        "# Written by benchmarks/gan_experiment.py (reproduce.py --rows dcgan_cifar10):",
        f"# {final['num_images']} samples against the CIFAR-10 test images on the features of",
        f"# {record['feature_classifier']} (not Inception); D's std over "
        f"{record['uncertainty_samples']} Monte Carlo draws.",
    ]
    values = {key: _significant(final[key]) for key in (
        "frechet_distance", "kernel_distance", "d_uncertainty_heldout_real",
        "d_uncertainty_generated")}
    values.update(classes_covered=final["classes_covered"], epochs=entry["epochs"],
                  train_seconds=round(entry["train_seconds"]), machine=record["machine"],
                  measured=record["evaluated"])
    lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
    return lines


def _write_record_so_far(record, heldout_count, card_files):
    """Writes the record of the cards measured so far, so that an interrupted run keeps them.

    A later run finds a recorded card's model and measures it again instead of retraining it,
    so the two 25-epoch trainings may also be spread over several sessions. Each card of the
    record also gets its `[results]` table (`card_files`: name -> (path, the card's epochs)).
    """
    from reproduce import _write_json
    from reproduce import machine_description
    from reproduce import write_card_results

    record["epoch_images"] = heldout_count
    plots = [path for path in record["plots"] if not path.endswith("sample_quality.png")]
    record["plots"] = [_plot(record["models"], heldout_count,
                             os.path.join(RESULTS_FOLDER, NAME, "sample_quality.png")), *plots]
    record["machine"] = machine_description()
    record["evaluated"] = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")
    _write_json(os.path.join(RESULTS_FOLDER, f"{NAME}.json"),
                {"experiment": NAME, "title": EXPERIMENTS[NAME][0], **record})
    for card_name, entry in record["models"].items():
        path, card_epochs = card_files[card_name]
        write_card_results(path, card_results_table(entry, card_epochs, record))


def run(args):
    from reproduce import dataset_folder
    from reproduce import dataset_label

    import bayes_zoo as bz

    data_dir = dataset_folder("cifar10", args.data_dir, args.scratch_dir)
    classifier = bz.zoo.load(FEATURE_CLASSIFIER, compile=False)
    previous = _previous_record()
    record = {"models": {}, "plots": [], "feature_classifier": FEATURE_CLASSIFIER,
              "uncertainty_samples": UNCERTAINTY_SAMPLES,
              "dataset_label": dataset_label("cifar10", data_dir)}
    test_images_by_size = {}
    card_files = {}
    for card_name in CARDS:
        card = bz.zoo.card(card_name)
        with open(card.path, "rb") as file:
            document = tomllib.load(file)
        card_files[card_name] = (card.path, document["training"]["epochs"])
        image_size = document["model"]["image_size"]
        if image_size not in test_images_by_size:
            test_images_by_size[image_size] = _test_images(bz, data_dir, image_size)
        test_images = test_images_by_size[image_size]
        heldout = test_images[np.random.default_rng(0).choice(
            len(test_images), min(EPOCH_IMAGES, len(test_images)), replace=False)]
        entry = _trained_entry(bz, card, document, data_dir, args, classifier, heldout, previous)
        gan = bz.zoo.load_file(bz.zoo.model_path(card), compile=False)
        print(f"{card_name}: measuring {min(FINAL_IMAGES, len(test_images))} samples ...",
              flush=True)
        entry["final"], grid = _final_measurement(
            bz, gan, classifier, test_images, min(FINAL_IMAGES, len(test_images)))
        path = os.path.join(RESULTS_FOLDER, NAME, f"{card_name}_samples.png")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        import tensorflow as tf

        tf.io.write_file(path, tf.io.encode_png(bz.gan.image_grid(grid)))
        record["plots"].append(os.path.relpath(path, REPOSITORY))
        record["models"][card_name] = entry
        _write_record_so_far(record, len(heldout), card_files)
    return record


def target_lines(record):
    """The issue's targets for each Bayesian-D GAN, met or missed, from the final measurements.

    The distance targets need the frequentist-D twin; the uncertainty and coverage targets only
    the Bayesian-D GAN itself.
    """
    models = record["models"]
    frequentist = models.get(TWIN, {}).get("final")
    judged = [(name, models[name]["final"], models[name].get("history", {}))
              for name in BAYESIAN_CARDS if models.get(name, {}).get("final")]
    if not judged:
        return []

    def verdict(met):
        return "met" if met else "missed"

    lines = ["| Bayesian-D GAN | target | measured | |", "|---|---|---|---|"]
    for name, bayesian, history in judged:
        if frequentist:
            distance = bayesian["frechet_distance"] <= frequentist["frechet_distance"]
            kid = bayesian["kernel_distance"] <= frequentist["kernel_distance"]
            lines += [
                f"| `{name}` | Frechet distance <= frequentist-D's | "
                f"{bayesian['frechet_distance']:.2f} vs {frequentist['frechet_distance']:.2f} "
                f"| {verdict(distance)} |",
                f"| `{name}` | kernel distance <= frequentist-D's | "
                f"{bayesian['kernel_distance']:.4f} vs {frequentist['kernel_distance']:.4f} "
                f"| {verdict(kid)} |",
            ]
        generated, real = (bayesian["d_uncertainty_generated"],
                           bayesian["d_uncertainty_heldout_real"])
        # Higher means more than two standard errors of the difference higher, where the
        # record has them: a difference inside the measurement's noise is no finding.
        margin = 2.0 * np.hypot(bayesian.get("d_uncertainty_generated_stderr", 0.0),
                                bayesian.get("d_uncertainty_heldout_real_stderr", 0.0))
        uncertain = generated - real > margin
        beyond, measured = "", f"{generated:.3g} vs {real:.3g}"
        if margin:
            beyond = " (by more than 2 standard errors)"
            measured = (f"{generated:.4g} vs {real:.4g}: {generated - real:+.2g}, "
                        f"2 SE {margin:.2g}")
        # How steady the order is over training, from the per-epoch measurements: a final
        # verdict that flips from epoch to epoch says little.
        steady = ""
        if history.get("d_uncertainty_generated"):
            higher = sum(epoch_generated > epoch_real for epoch_generated, epoch_real in zip(
                history["d_uncertainty_generated"], history["d_uncertainty_heldout_real"]))
            steady = (f" (higher on generated after {higher} of "
                      f"{len(history['d_uncertainty_generated'])} epochs)")
        covered = bayesian["classes_covered"] == len(bayesian["class_histogram"])
        lines += [
            f"| `{name}` | D's uncertainty higher on generated than on real images{beyond} "
            f"| {measured}{steady} | {verdict(uncertain)} |",
            f"| `{name}` | no mode collapse: every class predicted among "
            f"{bayesian['num_images']} samples | {bayesian['classes_covered']} of "
            f"{len(bayesian['class_histogram'])} classes | {verdict(covered)} |",
        ]
    return lines


def _lowest_epoch(history):
    """The lowest per-epoch Frechet distance and its epoch: reported, never used to choose.

    It shows a GAN whose training diverged (a discriminator that overpowers its generator)
    beside its last epoch's measurement, which is the one the targets use.
    """
    distances = history["frechet_distance"]
    best = int(np.argmin(distances))
    return f"{distances[best]:.2f} ({best + 1} of {len(distances)})"


def markdown(record):
    num_images = max((entry["final"]["num_images"] for entry in record["models"].values()),
                     default=0)
    lines = [
        f"Sample quality of {num_images} generated images against the "
        f"{record['dataset_label']} test images, on the "
        f"penultimate (posterior-mean) features of `{record['feature_classifier']}`: not the "
        "Inception FID (no Inception weights offline), so the distances compare these GANs "
        "with each other only. D's uncertainty: the Monte Carlo std of D(x) over "
        f"{record['uncertainty_samples']} draws, on the test images and on the samples. The "
        f"per-epoch distances use {record['epoch_images']} samples against as many test images "
        "(not comparable in value with the final 10,000); the last epoch's generator is the "
        "one measured and judged.",
        "",
        "| model | epochs | train time | Frechet distance | kernel distance (MMD^2) "
        "| classes covered | D std on real / generated | per-epoch Frechet: lowest (epoch) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for card_name, entry in record["models"].items():
        final = entry["final"]
        steps = (f" ({entry['max_steps_per_epoch']} batches each)"
                 if entry.get("max_steps_per_epoch") else "")
        lines.append(
            f"| `{card_name}` | {entry['epochs']}{steps} | {entry['train_seconds'] / 60:.0f} min "
            f"| {final['frechet_distance']:.2f} | {final['kernel_distance']:.4f} "
            f"± {final['kernel_distance_std']:.4f} | {final['classes_covered']} "
            f"| {final['d_uncertainty_heldout_real']:.3g} / "
            f"{final['d_uncertainty_generated']:.3g} | {_lowest_epoch(entry['history'])} |")
    missing = [name for name in CARDS if name not in record["models"]]
    if missing:
        lines += ["", "Not trained yet: " + ", ".join(f"`{name}`" for name in missing)
                  + " (the next `reproduce.py --rows dcgan_cifar10` trains "
                  + ("it" if len(missing) == 1 else "them") + " and measures the recorded GANs "
                  "again); the distance targets need the frequentist-D twin."]
    lines += ["", *target_lines(record)]
    lines += ["", f"Machine: {record['machine']}; evaluated {record['evaluated']}.", ""]
    if record["plots"]:
        lines.append("Plots: " + ", ".join(
            f"[{os.path.basename(path)}]({os.path.relpath(path, 'benchmarks')})"
            for path in record["plots"]) + ".")
    return lines


EXPERIMENTS = {
    NAME: ("DCGAN with a Bayesian discriminator against a frequentist one (Shridhar et al., "
           "section 6.2)", run, markdown),
}
