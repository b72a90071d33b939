"""``explore``: the data exploration as a report (PNG plots + Markdown summary).

Class statistics come from NIST's full ByClass label files shipped in ``data/nist`` (697,932 train and
116,323 test labels); the sample grid comes from the shipped images (``data/train.npz``).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, CLASS_GROUP_RANGES, NUM_CLASSES, char_to_label
from emnist_contract.tensors import IMAGE_SIZE
from model_tools.common.atomic_io import write_text_atomic
from model_tools.common.figures import pyplot, save_figure
from model_tools.common.paths import REPORTS_DIR
from model_tools.data.datasets import (
    BYCLASS_TEST_LABELS,
    BYCLASS_TRAIN_LABELS,
    DEFAULT_DATA_DIR,
    load_split,
)
from model_tools.data.emnist_io import read_idx_labels, read_split_mapping

log = logging.getLogger(__name__)

#: The report's names of the contract's three class groups, and their class indices.
GROUPS: dict[str, slice] = {
    name: slice(CLASS_GROUP_RANGES[group].start, CLASS_GROUP_RANGES[group].stop)
    for name, group in (("digits", "digit"), ("uppercase", "uppercase"), ("lowercase", "lowercase"))
}
GROUP_COLOURS = {"digits": "#4c72b0", "uppercase": "#dd8452", "lowercase": "#55a868"}
FIGURES = {
    "class_distribution": "class_distribution.png",
    "group_shares": "group_shares.png",
    "train_test_shares": "train_test_shares.png",
    "letter_imbalance": "letter_imbalance.png",
    "shipped_distribution": "shipped_distribution.png",
    "sample_grid": "sample_grid.png",
}


@dataclass
class ClassStats:
    """Per-class counts of NIST's full ByClass train and test sets and of the shipped splits."""

    train: np.ndarray
    test: np.ndarray
    shipped: dict[str, np.ndarray]


def class_colours() -> list[str]:
    return [GROUP_COLOURS[group] for group, span in GROUPS.items() for _ in range(span.stop - span.start)]


def group_shares(counts: np.ndarray) -> dict[str, float]:
    """Fraction of the images that are digits, uppercase and lowercase letters."""
    total = counts.sum()
    return {group: float(counts[span].sum() / total) for group, span in GROUPS.items()}


def letter_imbalance(counts: np.ndarray) -> dict[str, object]:
    """How unequal the 52 letter classes are: max/min ratio and the most and least frequent letters."""
    letters = np.arange(GROUPS["uppercase"].start, NUM_CLASSES)
    order = letters[np.argsort(-counts[letters], kind="stable")]
    result: dict[str, object] = {
        "max_min_ratio": float(counts[order[0]] / counts[order[-1]]),
        "most_frequent": [(BYCLASS_LABELS[i], int(counts[i])) for i in order[:5]],
        "least_frequent": [(BYCLASS_LABELS[i], int(counts[i])) for i in order[-5:][::-1]],
        "median": float(np.median(counts[letters])),
    }
    for group in ("uppercase", "lowercase"):
        span = counts[GROUPS[group]]
        result[f"{group}_max_min_ratio"] = float(span.max() / span.min())
    result["largest_over_smallest_class"] = float(counts.max() / counts.min())
    return result


def collect_stats(data_dir: Path) -> ClassStats:
    """Per-class counts from NIST's full label files and from the shipped splits."""
    train = np.bincount(read_idx_labels(data_dir / BYCLASS_TRAIN_LABELS), minlength=NUM_CLASSES)
    test = np.bincount(read_idx_labels(data_dir / BYCLASS_TEST_LABELS), minlength=NUM_CLASSES)
    shipped = {split: np.bincount(load_split(split, data_dir)[1], minlength=NUM_CLASSES)
               for split in ("train", "validation", "test")}
    return ClassStats(train, test, shipped)


def plot_class_distribution(stats: ClassStats, path: Path) -> None:
    plt = pyplot()
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(2, 1, figsize=(14, 7), sharex=True)
    x = np.arange(NUM_CLASSES)
    for ax, counts, name in ((axes[0], stats.train, "train"), (axes[1], stats.test, "test")):
        ax.bar(x, counts, color=class_colours())
        ax.set_yscale("log")
        ax.set_ylabel("images (log scale)")
        ax.set_title(f"EMNIST ByClass {name}: {counts.sum():,} images in {NUM_CLASSES} classes")
        ax.grid(axis="y", alpha=0.3)
    axes[1].set_xticks(x, BYCLASS_LABELS)
    axes[0].legend(handles=[Patch(color=c, label=g) for g, c in GROUP_COLOURS.items()], loc="upper right")
    save_figure(fig, path)


def plot_group_shares(stats: ClassStats, path: Path) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 4))
    sets = {"ByClass train": stats.train, "ByClass test": stats.test,
            "shipped train": stats.shipped["train"], "shipped validation": stats.shipped["validation"]}
    left = np.zeros(len(sets))
    for group, colour in GROUP_COLOURS.items():
        shares = np.array([group_shares(c)[group] for c in sets.values()]) * 100
        bars = ax.barh(list(sets), shares, left=left, color=colour, label=group)
        for bar, share in zip(bars, shares, strict=True):
            if share > 4:
                ax.text(bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height() / 2,
                        f"{share:.1f}%", ha="center", va="center", color="white", fontsize=9)
        left += shares
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of images (%)")
    ax.set_title("Digits vs uppercase vs lowercase")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.3), ncol=3)
    save_figure(fig, path)


def plot_train_test_shares(stats: ClassStats, path: Path) -> None:
    """Each class's share of test minus its share of train, in percentage points."""
    plt = pyplot()
    from matplotlib.patches import Patch

    train_share = stats.train / stats.train.sum() * 100
    test_share = stats.test / stats.test.sum() * 100
    difference = test_share - train_share
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(14, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1.2]})
    x = np.arange(NUM_CLASSES)
    top.bar(x - 0.2, train_share, width=0.4, color=class_colours(), label="train")
    top.bar(x + 0.2, test_share, width=0.4, color=class_colours(), alpha=0.55, hatch="//", label="test")
    top.set_ylabel("share of the set (%)")
    top.set_title("Each class's share of ByClass train (solid) and test (hatched)")
    top.legend(handles=[Patch(color=c, label=g) for g, c in GROUP_COLOURS.items()], loc="upper right")
    top.grid(axis="y", alpha=0.3)
    bottom.bar(x, difference, color=class_colours())
    bottom.axhline(0, color="black", lw=0.8)
    bottom.set_ylabel("test - train\n(percentage points)")
    verdict = "the two sets have the same make-up" if np.abs(difference).max() < 0.5 else "they differ"
    bottom.set_title(f"Difference: at most {np.abs(difference).max():.2f} points; {verdict}")
    bottom.grid(axis="y", alpha=0.3)
    bottom.set_xticks(x, BYCLASS_LABELS)
    save_figure(fig, path)


def plot_letter_imbalance(stats: ClassStats, path: Path) -> None:
    plt = pyplot()
    from matplotlib.patches import Patch

    letters = np.arange(GROUPS["uppercase"].start, NUM_CLASSES)
    order = letters[np.argsort(-stats.train[letters], kind="stable")]
    colours = [GROUP_COLOURS["uppercase" if i < GROUPS["lowercase"].start else "lowercase"] for i in order]
    fig, ax = plt.subplots(figsize=(14, 4.5))
    ax.bar(np.arange(len(order)), stats.train[order], color=colours)
    ax.set_xticks(np.arange(len(order)), [BYCLASS_LABELS[i] for i in order])
    ax.set_ylabel("ByClass train images")
    ratio = stats.train[order[0]] / stats.train[order[-1]]
    ax.set_title(f"The 52 letters sorted by frequency: '{BYCLASS_LABELS[order[0]]}' has {ratio:.0f}x the "
                 f"images of '{BYCLASS_LABELS[order[-1]]}'")
    ax.legend(handles=[Patch(color=GROUP_COLOURS[g], label=g) for g in ("uppercase", "lowercase")])
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


def plot_shipped_distribution(stats: ClassStats, path: Path) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(14, 4))
    x = np.arange(NUM_CLASSES)
    ax.bar(x - 0.2, stats.shipped["train"], width=0.4, label="shipped train", color="#4c72b0")
    ax.bar(x + 0.2, stats.shipped["validation"], width=0.4, label="shipped validation", color="#c44e52")
    for i in np.flatnonzero(stats.shipped["train"] + stats.shipped["validation"] == 0):
        ax.text(i, 5, "none", rotation=90, ha="center", va="bottom", fontsize=8, color="#c44e52")
    ax.set_xticks(x, BYCLASS_LABELS)
    ax.set_ylabel("images")
    ax.set_title("Shipped data per class (train and stratified validation); 'none' = no real examples")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


def plot_sample_grid(images: np.ndarray, labels: np.ndarray, path: Path, per_class: int,
                     seed: int) -> None:
    plt = pyplot()

    rng = np.random.default_rng(seed)
    side, gap = IMAGE_SIZE, 2  # one image, and the space between rows
    columns = 4  # groups of classes side by side, so the figure is not a class per row
    rows = int(np.ceil(NUM_CLASSES / columns))
    tile = np.zeros((rows * (side + gap), columns * (per_class * side + side + gap)), dtype=np.uint8)
    fig, ax = plt.subplots(figsize=(columns * (per_class * 0.42 + 0.45), rows * 0.45))
    for label in range(NUM_CLASSES):
        row, column = label % rows, label // rows
        top, left = row * (side + gap), column * (per_class * side + side + gap) + side
        members = np.flatnonzero(labels == label)
        chosen = rng.choice(members, size=min(per_class, members.size), replace=False)
        for k, index in enumerate(chosen):
            tile[top:top + side, left + k * side:left + (k + 1) * side] = images[index]
        ax.text(left - side // 2, top + side // 2, BYCLASS_LABELS[label], ha="center", va="center",
                fontsize=11, color="white", fontweight="bold")
        if members.size == 0:
            ax.text(left + per_class * side // 2, top + side // 2, "no examples", ha="center", va="center",
                    fontsize=10, color="#ff6060")
    ax.imshow(tile, cmap="gray", interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"{per_class} random shipped training images per class (upright, as the models see them)")
    save_figure(fig, path)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def merged_letters(data_dir: Path) -> list[str]:
    """Letters NIST's ByMerge split merges (their lowercase form is absent from its mapping)."""
    present = set(read_split_mapping(data_dir / "nist" / "emnist-bymerge-mapping.txt").values())
    return [c.upper() for c in BYCLASS_LABELS[36:] if c not in present]


def lookalike_uppercase_shares(counts: np.ndarray, letters: list[str]) -> dict[str, float]:
    """For each letter whose cases look alike: the fraction of its images that are uppercase."""
    shares = {}
    for letter in letters:
        upper, lower = counts[char_to_label(letter.upper())], counts[char_to_label(letter.lower())]
        shares[letter.lower()] = float(upper / (upper + lower))
    return shares


def render_summary(stats: ClassStats, merged: list[str]) -> tuple[str, dict[str, object]]:
    """The Markdown report and the figures it quotes (also written as stats.json)."""
    train_shares, test_shares = group_shares(stats.train), group_shares(stats.test)
    imbalance = letter_imbalance(stats.train)
    shipped_total = stats.shipped["train"] + stats.shipped["validation"]
    empty = [BYCLASS_LABELS[i] for i in np.flatnonzero(shipped_total == 0)]
    train_share = stats.train / stats.train.sum()
    test_share = stats.test / stats.test.sum()
    share_gap = np.abs(train_share - test_share)
    figures: dict[str, object] = {
        "byclass_train_images": int(stats.train.sum()),
        "byclass_test_images": int(stats.test.sum()),
        "group_shares_train": train_shares,
        "group_shares_test": test_shares,
        "max_class_share_difference_points": float(share_gap.max() * 100),
        "letter_imbalance": imbalance,
        "shipped": {split: int(c.sum()) for split, c in stats.shipped.items()},
        "shipped_classes_without_examples": empty,
        "byclass_train_counts": {c: int(n) for c, n in zip(BYCLASS_LABELS, stats.train, strict=True)},
        "byclass_test_counts": {c: int(n) for c, n in zip(BYCLASS_LABELS, stats.test, strict=True)},
    }
    most = ", ".join(f"'{c}' {n:,}" for c, n in imbalance["most_frequent"])  # type: ignore[union-attr]
    least = ", ".join(f"'{c}' {n:,}" for c, n in imbalance["least_frequent"])  # type: ignore[union-attr]
    digits_largest = stats.train[:10].argmax()
    lookalikes = lookalike_uppercase_shares(stats.train, merged)
    figures["lookalike_uppercase_shares"] = lookalikes
    top_lookalikes = ", ".join(f"{c} {share:.0%}" for c, share in
                               sorted(lookalikes.items(), key=lambda item: -item[1])[:3])
    lowest = min(lookalikes, key=lookalikes.__getitem__)
    lines = [
        "# EMNIST ByClass: data exploration",
        "",
        "Generated by `python -m model_tools explore`. Class statistics: NIST's full ByClass label files",
        f"({stats.train.sum():,} train, {stats.test.sum():,} test). Samples: the shipped training data.",
        "",
        "## Digits vs uppercase vs lowercase",
        "",
        *_table(["group", "classes", "train images", "train share", "test images", "test share"],
                [[g, str(s.stop - s.start), f"{stats.train[s].sum():,}", f"{train_shares[g]:.1%}",
                  f"{stats.test[s].sum():,}", f"{test_shares[g]:.1%}"] for g, s in GROUPS.items()]),
        "",
        f"Digits are 10 of 62 classes but {train_shares['digits']:.0%} of the images: a classifier that",
        "ignored letters would still look accurate. No class's share differs by more than",
        f"{share_gap.max() * 100:.2f} percentage points between train and test.",
        "",
        "![group shares](group_shares.png)",
        "",
        "## Class distribution",
        "",
        f"Largest class: '{BYCLASS_LABELS[stats.train.argmax()]}' ({stats.train.max():,} train images); "
        f"smallest: '{BYCLASS_LABELS[stats.train.argmin()]}' ({stats.train.min():,}),",
        f"a ratio of {imbalance['largest_over_smallest_class']:.0f}:1. The most frequent digit is "
        f"'{BYCLASS_LABELS[digits_largest]}' ({stats.train[digits_largest]:,}).",
        "",
        "![class distribution](class_distribution.png)",
        "",
        "![train vs test share](train_test_shares.png)",
        "",
        "## Imbalance within the letters",
        "",
        f"- most frequent letters (train): {most}",
        f"- least frequent letters (train): {least}",
        f"- max/min ratio over the 52 letters: {imbalance['max_min_ratio']:.1f}; uppercase only "
        f"{imbalance['uppercase_max_min_ratio']:.1f}, lowercase only "
        f"{imbalance['lowercase_max_min_ratio']:.1f}",
        f"- median letter class: {imbalance['median']:,.0f} train images",
        "",
        f"NIST's ByMerge split merges the {len(lookalikes)} letters whose two cases look alike "
        f"({' '.join(lookalikes)}).",
        f"For {sum(share > 0.5 for share in lookalikes.values())} of them the uppercase form has most "
        f"of the images (e.g. {top_lookalikes}); the most lowercase-heavy is '{lowest}'",
        f"({1 - lookalikes[lowest]:.0%} lowercase). From shape alone a model cannot tell these "
        "cases apart, so exact ByClass",
        "accuracy on them is capped (case-insensitive accuracy shows how much), and without class "
        "weights a model",
        "leans to the frequent case: the reason to try inverse-frequency class weights.",
        "",
        "![letter imbalance](letter_imbalance.png)",
        "",
        "## Shipped data",
        "",
        *_table(["split", "images", "digits", "uppercase", "lowercase"],
                [[split, f"{c.sum():,}", *(f"{c[s].sum():,}" for s in GROUPS.values())]
                 for split, c in stats.shipped.items()]),
        "",
        f"Classes without any shipped example: {' '.join(empty) or 'none'} (shown as 'none' and",
        "'no examples' in the figures).",
        "",
        "![shipped distribution](shipped_distribution.png)",
        "",
        "![sample grid](sample_grid.png)",
        "",
        "## Per-class counts (NIST ByClass)",
        "",
        *_table(["class", "train", "test", "train share", "test share"],
                [[c, f"{stats.train[i]:,}", f"{stats.test[i]:,}", f"{train_share[i]:.2%}",
                  f"{test_share[i]:.2%}"] for i, c in enumerate(BYCLASS_LABELS)]),
        "",
    ]
    return "\n".join(lines), figures


def explore(data_dir: Path, out: Path, per_class: int = 8, seed: int = 0) -> dict[str, object]:
    """Write the plots, ``summary.md`` and ``stats.json`` into ``out``; return the figures."""
    from tqdm import tqdm

    stats = collect_stats(data_dir)
    images, labels = load_split("train", data_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = [
        (plot_class_distribution, (stats, out / FIGURES["class_distribution"])),
        (plot_group_shares, (stats, out / FIGURES["group_shares"])),
        (plot_train_test_shares, (stats, out / FIGURES["train_test_shares"])),
        (plot_letter_imbalance, (stats, out / FIGURES["letter_imbalance"])),
        (plot_shipped_distribution, (stats, out / FIGURES["shipped_distribution"])),
        (plot_sample_grid, (images, labels, out / FIGURES["sample_grid"], per_class, seed)),
    ]
    for plot, arguments in tqdm(plots, desc="plots", unit="plot"):
        plot(*arguments)
    summary, figures = render_summary(stats, merged_letters(data_dir))
    for name, text in (("summary.md", summary), ("stats.json", json.dumps(figures, indent=2))):
        write_text_atomic(out / name, text)
    log.info("wrote %s", out)
    return figures


def run(args: argparse.Namespace) -> int:
    if args.samples < 1:
        raise ValueError("--samples must be at least 1")
    figures = explore(Path(args.data_dir), Path(args.out), args.samples, args.seed)
    shares = figures["group_shares_train"]
    imbalance = figures["letter_imbalance"]
    print(f"ByClass train {figures['byclass_train_images']:,} / "
          f"test {figures['byclass_test_images']:,} images")
    print("train shares: " + ", ".join(f"{g} {s:.1%}" for g, s in shares.items()))  # type: ignore[union-attr]
    print(f"letter max/min ratio: {imbalance['max_min_ratio']:.1f}")  # type: ignore[index]
    print(f"report: {Path(args.out) / 'summary.md'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explore",
        help="data exploration report: class distribution, shares, letter imbalance, sample grid",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default=str(REPORTS_DIR / "explore"),
                        help="report folder (default: the project's reports/explore)")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), help="the shipped data folder")
    parser.add_argument("--samples", type=int, default=8, help="sample images per class in the grid")
    parser.add_argument("--seed", type=int, default=0, help="seed choosing the sample images")
    parser.set_defaults(func=run)
