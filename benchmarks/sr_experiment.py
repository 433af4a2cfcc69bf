"""Bayesian ESPCN x3 against bicubic and the frequentist ESPCN, by the literature's protocol.

Run by `benchmarks/reproduce.py --rows espcn_x3 --data-dir DIR` (DIR holds `photos/` or is
it). For each of the cards `espcn_lrt_bsds` (softplus posterior), `espcn_lrt_paper_bsds` (the
paper's alpha * mu^2) and `espcn_frequentist_bsds` it trains the card
(`bz.super_resolution.train_card`, the same photographs, crops, augmentation and epochs; its
`model.keras` goes to `saved_models/<card>/`) where it has no trained model yet or `--retrain`
asks (a card already trained keeps the epochs and training time of the last record), then
scores it on Set5 and Set14 with
`bz.super_resolution.evaluate` (`bz.sr_protocol`: MATLAB-style bicubic degradation, Y, shave
3): PSNR and SSIM, beside bicubic; for the Bayesian model also the Spearman correlation of the
per-pixel predictive std with the absolute error, AUSE, the sparsification curve (a PNG), and
one PNG per test photograph for the first Bayesian card (LR, bicubic, SR, ground truth, std,
error). The test photographs
choose nothing: the number of epochs is the card's (or `--epochs`), fixed in advance.

`EXPERIMENTS` follows the contract of `gal_experiments.py`.
"""

import datetime
import json
import os
import time
import tomllib

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_FOLDER = os.path.join(REPOSITORY, "benchmarks", "results")
NAME = "espcn_x3"
CARDS = ("espcn_lrt_bsds", "espcn_lrt_paper_bsds", "espcn_frequentist_bsds")
TEST_SETS = ("Set5", "Set14")
# The card whose per-photograph PNGs (LR, bicubic, SR, std, error) are written.
PANEL_CARD = CARDS[0]
DPI = 100


def _photo_folder(data_dir):
    if data_dir is None:
        raise FileNotFoundError("espcn_x3 needs --data-dir: a folder holding photos/ "
                                "(CBSD68, skimage, Set5, Set14) or those folders.")
    photos = os.path.join(data_dir, "photos")
    return photos if os.path.isdir(photos) else data_dir


def _plot_sparsification(curves_by_card, path):
    """One panel per test set: each Bayesian card's curve by its std, and its oracle."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.8))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(TEST_SETS))
    for axis, test_set in zip(axes, TEST_SETS):
        for index, (card_name, curves) in enumerate(curves_by_card.items()):
            curve = curves[test_set]
            color = f"C{index}"
            removed = [100 * value for value in curve["removed"]]
            axis.plot(removed, curve["error"], color=color,
                      label=f"{card_name}: by predictive std (AUSE {curve['ause']:.3f}, all pixels)")
            axis.plot(removed, curve["oracle"], "--", color=color,
                      label=f"{card_name}: oracle (by the error itself)")
        axis.set_xlabel("most uncertain pixels removed (%)")
        axis.set_ylabel("mean absolute error left (Y levels, 0..255)")
        axis.set_title(f"{test_set} x3, Bayesian ESPCN")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI)
    return os.path.relpath(path, REPOSITORY)


def _previous_record():
    path = os.path.join(RESULTS_FOLDER, f"{NAME}.json")
    if not os.path.exists(path):
        return {}
    with open(path) as file:
        return json.load(file).get("models", {})


def _trained_entry(bz, card, document, photos, args, previous):
    """Trains the card unless it has a model (and no --retrain); its epochs and train time."""
    model_path = bz.zoo.model_path(card)
    if os.path.exists(model_path) and not args.retrain:
        if card.name not in previous:
            raise ValueError(
                f"{card.name} has a trained model ({os.path.relpath(model_path, REPOSITORY)}) "
                f"but {NAME}.json records no training of it: pass --retrain to train it here.")
        print(f"{card.name}: trained before, {previous[card.name]['epochs']} epochs; "
              "evaluating it (--retrain trains afresh)", flush=True)
        return {key: previous[card.name][key] for key in ("epochs", "train_seconds")} | {
            "sets": {}}
    if args.skip_train:
        raise FileNotFoundError(f"{card.name} has no trained model at {model_path} "
                                "(--skip-train only evaluates)")
    output_dir = os.path.dirname(model_path)
    os.makedirs(output_dir, exist_ok=True)
    print(f"{card.name}: training on {document['data']['train_folders']} ...", flush=True)
    start = time.perf_counter()
    bz.super_resolution.train_card(document, epochs=args.epochs, data_dir=photos,
                                   output_dir=output_dir, verbose=2)
    return {"epochs": args.epochs or document["training"]["epochs"],
            "train_seconds": round(time.perf_counter() - start, 1), "sets": {}}


def card_results_table(entry, card_epochs, record):
    """The `[results]` lines of an ESPCN card, from its entry in the record."""
    from reproduce import _toml_value

    lines = ["[results]"]
    if entry["epochs"] < card_epochs:
        lines.append(f"# Reduced budget (2-core CPU, no GPU): {entry['epochs']} of the card's "
                     f"{card_epochs} epochs; its settings otherwise.")
    lines.append("# Written by benchmarks/sr_experiment.py (reproduce.py --rows espcn_x3):")
    lines.append("# x3 on the Y channel, 3 pixels shaved (bz.sr_protocol); a Bayesian card's "
                 "image is")
    lines.append("# the Monte Carlo mean of its [evaluation] num_samples.")
    values = {}
    for test_set in TEST_SETS:
        scores, suffix = entry["sets"][test_set], test_set.lower()
        values[f"psnr_{suffix}"] = round(scores["psnr"], 3)
        values[f"ssim_{suffix}"] = round(scores["ssim"], 4)
        values[f"bicubic_psnr_{suffix}"] = round(scores["bicubic_psnr"], 3)
        if scores.get("spearman") is not None:
            values[f"std_error_spearman_{suffix}"] = round(scores["spearman"], 3)
    values.update(epochs=entry["epochs"], measured_on=record["machine"],
                  measured=record["evaluated"])
    lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
    return lines


def run(args):
    from reproduce import machine_description
    from reproduce import write_card_results

    import bayes_zoo as bz

    photos = _photo_folder(args.data_dir)
    record = {"models": {}, "plots": []}
    sparsification = {}
    previous = _previous_record()
    card_epochs = {}
    for card_name in CARDS:
        card = bz.zoo.card(card_name)
        with open(card.path, "rb") as file:
            document = tomllib.load(file)
        card_epochs[card.path] = document["training"]["epochs"]
        entry = _trained_entry(bz, card, document, photos, args, previous)
        model = bz.zoo.load_file(bz.zoo.model_path(card), compile=False)
        curves = {}
        for test_set in TEST_SETS:
            names = sorted(os.listdir(os.path.join(photos, test_set)))
            images = bz.super_resolution.read_images(os.path.join(photos, test_set))
            scores = bz.super_resolution.evaluate(
                model, images, upscale_factor=3,
                num_samples=document["evaluation"]["num_samples"], keep_images=True)
            if card.is_variational:
                curves[test_set] = scores["sparsification"]
            if card_name == PANEL_CARD:
                for image_name, maps in zip(names, scores["images"]):
                    stem = os.path.splitext(image_name)[0]
                    path = os.path.join(RESULTS_FOLDER, NAME, f"{test_set}_{stem}.png")
                    bz.plots.super_resolution_panels(
                        maps, path, title=f"{test_set} {stem}, x3: Bayesian ESPCN "
                                          f"({card_name}), Y channel")
                    record["plots"].append(os.path.relpath(path, REPOSITORY))
            entry["sets"][test_set] = {
                key: value for key, value in scores.items() if key not in ("images",)}
            entry["sets"][test_set]["images"] = names
        if curves:
            sparsification[card_name] = curves
        record["models"][card_name] = entry
    record["plots"].insert(0, _plot_sparsification(
        sparsification, os.path.join(RESULTS_FOLDER, NAME, "sparsification.png")))
    record["machine"] = machine_description()
    record["evaluated"] = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")
    for (path, epochs), entry in zip(card_epochs.items(), record["models"].values()):
        write_card_results(path, card_results_table(entry, epochs, record))
    return record


# The targets for the zoo's Bayesian ESPCN: the gain over bicubic on every test set,
# no lower PSNR than the frequentist twin trained as long, and a std-error Spearman of 0.3.
TARGET_GAIN_DB = 1.5
TARGET_SPEARMAN = 0.3


def target_lines(record):
    """The targets for `PANEL_CARD` against bicubic and its frequentist twin, each met or missed."""
    models = record["models"]
    bayesian, frequentist = models.get(PANEL_CARD), models.get("espcn_frequentist_bsds")
    if not bayesian:
        return []

    def verdict(met):
        return "met" if met else "missed"

    lines = ["| target | Set5 | Set14 | |", "|---|---|---|---|"]
    sets = [bayesian["sets"][name] for name in TEST_SETS]
    gains = [entry["psnr"] - entry["bicubic_psnr"] for entry in sets]
    lines.append(f"| `{PANEL_CARD}` >= bicubic + {TARGET_GAIN_DB} dB | "
                 + " | ".join(f"{gain:+.2f} dB" for gain in gains)
                 + f" | {verdict(min(gains) >= TARGET_GAIN_DB)} |")
    if frequentist:
        twins = [frequentist["sets"][name]["psnr"] for name in TEST_SETS]
        same_budget = bayesian["epochs"] == frequentist["epochs"]
        lines.append(
            f"| `{PANEL_CARD}` >= `espcn_frequentist_bsds` at {bayesian['epochs']} epochs"
            f"{'' if same_budget else ' (twin: ' + str(frequentist['epochs']) + ')'} | "
            + " | ".join(f"{entry['psnr']:.2f} vs {twin:.2f} dB"
                         for entry, twin in zip(sets, twins))
            + f" | {verdict(same_budget and all(e['psnr'] >= t for e, t in zip(sets, twins)))} |")
    spearman = [entry["spearman"] for entry in sets]
    lines.append(f"| std-error Spearman >= {TARGET_SPEARMAN} | "
                 + " | ".join(f"{value:.3f}" for value in spearman)
                 + f" | {verdict(min(spearman) >= TARGET_SPEARMAN)} |")
    return lines


def markdown(record):
    lines = [
        "Super-resolution x3 on the Y channel, scored by the literature's protocol "
        "(`bz.sr_protocol`: the RGB photograph degraded with MATLAB-style antialiased bicubic "
        "and rounded to 8 bits, BT.601 studio-swing Y, 3 pixels shaved, PSNR and SSIM). "
        "Literature: bicubic 30.39 / 27.55 dB, ESPCN (Shi et al.) 32.55 / 29.08 dB on Set5 / "
        "Set14. The shared Set14 holds 13 of its 14 photographs (no lenna). Spearman and AUSE "
        "are means over a set's photographs, each scored on its own pixels; the "
        "sparsification plot pools every pixel of a set, so its AUSE differs.",
        "",
        "| model | epochs | train time | Set5 PSNR / SSIM | Set14 PSNR / SSIM "
        "| gain over bicubic (Set5 / Set14) | std-error Spearman (Set5 / Set14) "
        "| AUSE (Set5 / Set14) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    bicubic = None
    for card_name, entry in record["models"].items():
        sets = entry["sets"]

        def pair(key, digits):
            values = [sets[name][key] for name in TEST_SETS]
            return " / ".join("–" if value is None else f"{value:.{digits}f}" for value in values)

        gains = " / ".join(f"{sets[name]['psnr'] - sets[name]['bicubic_psnr']:+.2f} dB"
                           for name in TEST_SETS)
        lines.append(
            f"| `{card_name}` | {entry['epochs']} | {entry['train_seconds'] / 60:.0f} min "
            f"| {sets['Set5']['psnr']:.2f} / {sets['Set5']['ssim']:.4f} "
            f"| {sets['Set14']['psnr']:.2f} / {sets['Set14']['ssim']:.4f} | {gains} "
            f"| {pair('spearman', 3)} | {pair('ause', 3)} |")
        bicubic = sets
    if bicubic is not None:
        lines.append(
            f"| bicubic | – | – | {bicubic['Set5']['bicubic_psnr']:.2f} / "
            f"{bicubic['Set5']['bicubic_ssim']:.4f} | {bicubic['Set14']['bicubic_psnr']:.2f} / "
            f"{bicubic['Set14']['bicubic_ssim']:.4f} | – | – | – |")
    lines += ["", *target_lines(record)]
    lines += ["", f"Machine: {record['machine']}; evaluated {record['evaluated']}.", ""]
    if record["plots"]:
        lines.append("Plots: " + ", ".join(
            f"[{os.path.basename(path)}]({os.path.relpath(path, 'benchmarks')})"
            for path in record["plots"]) + ".")
    return lines


EXPERIMENTS = {
    NAME: ("Bayesian ESPCN x3 against bicubic and the frequentist ESPCN", run, markdown),
}
