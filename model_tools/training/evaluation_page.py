"""The model evaluation page: every model on every split side by side, as one Markdown document.

Per split: exact, case-insensitive and ByClass-mix accuracy, the expected calibration error of the softmax,
how much of the ByClass mix is lost to look-alike characters (0/O/o, 1/I/l, c/C, ...) and how often each
group's members are read as one another, the most frequent mistakes, per-class accuracy, and a reliability
diagram. The page is generated from the models' scores (``eval-report`` in ``model_tools.export.eval_report``
runs the models), never edited by hand, so it always matches the models it names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from model_tools.training.calibration import reliability
from model_tools.training.metrics import CASE_FOLDED, classification_report, top_confusions

#: What each shipped split is, in the page's words (docs/data.md has the details).
SPLIT_TITLES: dict[str, str] = {
    "validation": "real validation images (the shipped pool's held-out part)",
    "synthetic": "held-out fonts (characters drawn from 15 fonts no run trains on)",
    "test": "official test digits (NIST's emnist-mnist test set)",
    "mnist": "MNIST digits (original MNIST, another distribution)",
    "digits-upper": "digits + uppercase stand-in (official test digits, real uppercase, drawn J Q X Y Z)",
}

#: Characters that look alike once cropped to the ink; a group's row counts its images read as another
#: member of the same group.
LOOK_ALIKE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("0", "O", "o"), ("1", "I", "l", "i"), ("2", "Z", "z"), ("5", "S", "s"), ("9", "g", "q"),
    ("C", "c"), ("K", "k"), ("M", "m"), ("P", "p"), ("U", "u"), ("V", "v"), ("W", "w"), ("X", "x"),
    ("Y", "y"), ("J", "j"), ("F", "f"),
)

#: The splits whose predicted classes count for "classes predicted" (as in docs/training.md).
PREDICTED_CLASS_SPLITS = ("validation", "synthetic")

MISTAKES_SHOWN = 8


@dataclass(frozen=True)
class SplitResult:
    """One model on one split: its classification report, the reliability of its top score, and the
    ByClass-mix accuracy it loses to look-alikes and to other mistakes (None without a prior)."""

    report: dict[str, Any]
    calibration: dict[str, Any]
    mix_lost: tuple[float, float] | None = None


def score_split(labels: np.ndarray, scores: np.ndarray, prior: np.ndarray | None) -> SplitResult:
    """The report and the reliability bins of softmax ``scores`` [N, 62] against ``labels``."""
    report = classification_report(labels, np.asarray(scores).argmax(axis=1), prior=prior)
    lost = None if prior is None else mix_lost_to_look_alikes(report["confusion_matrix"], prior)
    return SplitResult(report, reliability(scores, labels), lost)


def mix_lost_to_look_alikes(matrix: np.ndarray, prior: np.ndarray) -> tuple[float, float] | None:
    """(lost to look-alikes, lost otherwise): the share of ByClass-mix accuracy a model loses on images
    read as another member of their look-alike group, and on every other mistake. The two add up to
    1 - the ByClass-mix accuracy; the first is what no reader of the bare character can fully win back,
    since the groups' members are drawn alike. None when no class present has prior mass."""
    matrix = np.asarray(matrix, dtype=np.float64)
    counts = matrix.sum(axis=1)
    present = counts > 0
    weights = np.where(present, np.asarray(prior, dtype=np.float64), 0.0)
    if weights.sum() <= 0:
        return None
    weights /= weights.sum()
    wrong = np.zeros(NUM_CLASSES)
    alike = np.zeros(NUM_CLASSES)
    for index in np.flatnonzero(present):
        wrong[index] = (counts[index] - matrix[index, index]) / counts[index]
    for group in LOOK_ALIKE_GROUPS:
        members = [BYCLASS_LABELS.index(char) for char in group]
        for index in members:
            if present[index]:
                others = [m for m in members if m != index]
                alike[index] = matrix[index, others].sum() / counts[index]
    return float(weights @ alike), float(weights @ (wrong - alike))


def look_alike_confusions(matrix: np.ndarray, group: Sequence[str]) -> tuple[int, int]:
    """(images of the group's classes read as another member of the group, images of the group)."""
    members = [BYCLASS_LABELS.index(char) for char in group]
    block = np.asarray(matrix)[np.ix_(members, members)]
    return int(block.sum() - np.trace(block)), int(np.asarray(matrix)[members].sum())


def subset_accuracy(matrix: np.ndarray, classes: Sequence[str]) -> tuple[float, float, int] | None:
    """(exact, case-insensitive, images) over the images of ``classes`` alone; None if the split has none."""
    matrix = np.asarray(matrix)
    rows = [BYCLASS_LABELS.index(char) for char in classes]
    images = int(matrix[rows].sum())
    if not images:
        return None
    exact = sum(int(matrix[r, r]) for r in rows)
    folded = sum(int(matrix[r, CASE_FOLDED[r] == CASE_FOLDED].sum()) for r in rows)
    return exact / images, folded / images, images


def classes_predicted(results: Mapping[str, SplitResult]) -> list[str] | None:
    """The classes a model answered at least once on the real validation images and the held-out fonts;
    None when neither split was scored."""
    scored = [results[s] for s in PREDICTED_CLASS_SPLITS if s in results]
    if not scored:
        return None
    predicted = sum(np.asarray(r.report["confusion_matrix"]).sum(axis=0) for r in scored)
    return [BYCLASS_LABELS[i] for i in range(NUM_CLASSES) if predicted[i] > 0]


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f} %"


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def _summary_table(split: str, results: Mapping[str, Mapping[str, SplitResult]]) -> list[str]:
    lines = ["| model | images | exact | case-insensitive | ByClass mix | ECE | mean top score |",
             "|---|---|---|---|---|---|---|"]
    for name, splits in results.items():
        if split in splits:
            r, c = splits[split].report, splits[split].calibration
            lines.append(f"| {name} | {r['images']:,} | {_pct(r['accuracy'])} | "
                         f"{_pct(r['accuracy_case_insensitive'])} | {_pct(r['accuracy_byclass_mix'])} | "
                         f"{_pct(c['expected_calibration_error'])} | {_pct(c['mean_confidence'])} |")
    return lines


def _subset_table(split: str, results: Mapping[str, Mapping[str, SplitResult]],
                  classes: Sequence[str]) -> list[str]:
    rows = []
    for name, splits in results.items():
        if split not in splits:
            continue
        scored = subset_accuracy(splits[split].report["confusion_matrix"], classes)
        if scored is not None:
            rows.append(f"| {name} | {scored[2]:,} | {_pct(scored[0])} | {_pct(scored[1])} |")
    if not rows:
        return []
    return [f"The letters no real training image shows, taught by fonts alone ({' '.join(classes)}):", "",
            "| model | images | exact | case-insensitive |", "|---|---|---|---|", *rows, ""]


def _look_alike_table(split: str, results: Mapping[str, Mapping[str, SplitResult]]) -> list[str]:
    names = [name for name, splits in results.items() if split in splits]
    rows = []
    for group in LOOK_ALIKE_GROUPS:
        cells = []
        for name in names:
            confused, images = look_alike_confusions(results[name][split].report["confusion_matrix"], group)
            cells.append(f"{confused / images * 100:.1f} % ({confused}/{images})" if images else "–")
        if any(cell != "–" for cell in cells):
            rows.append(f"| {'/'.join(group)} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    return ["Look-alike characters: share of the group's images read as another member of the group.", "",
            "| group | " + " | ".join(names) + " |", "|---|" + "---|" * len(names), *rows, ""]


def _mix_lost_table(split: str, results: Mapping[str, Mapping[str, SplitResult]]) -> list[str]:
    rows = [f"| {name} | {_pct(splits[split].report['accuracy_byclass_mix'])} | "
            f"{_points(splits[split].mix_lost[0])} | {_points(splits[split].mix_lost[1])} |"
            for name, splits in results.items() if split in splits and splits[split].mix_lost is not None]
    if not rows:
        return []
    return ["Where the ByClass-mix accuracy goes: points lost on images read as another member of their "
            "look-alike group (the groups below), and on every other mistake.", "",
            "| model | ByClass mix | lost to look-alikes | lost otherwise |", "|---|---|---|---|", *rows, ""]


def _points(share: float) -> str:
    return f"{share * 100:.2f}"


def _mistakes(split: str, results: Mapping[str, Mapping[str, SplitResult]]) -> list[str]:
    lines = [f"Most frequent mistakes (true -> predicted: images), top {MISTAKES_SHOWN}:", ""]
    for name, splits in results.items():
        if split in splits:
            pairs = top_confusions(np.asarray(splits[split].report["confusion_matrix"]), MISTAKES_SHOWN)
            listed = ", ".join(f"`{t}`->`{p}` {n}" for t, p, n in pairs) or "none"
            lines.append(f"- {name}: {listed}")
    return [*lines, ""]


def _per_class_table(split: str, results: Mapping[str, Mapping[str, SplitResult]]) -> list[str]:
    names = [name for name, splits in results.items() if split in splits]
    support = np.asarray(results[names[0]][split].report["support"])
    lines = ["Per-class accuracy (recall: share of the class's images read exactly as that class):", "",
             "| class | images | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for index, char in enumerate(BYCLASS_LABELS):
        if support[index]:
            cells = [_pct(results[name][split].report["recall"][index]) for name in names]
            lines.append(f"| `{char}` | {int(support[index]):,} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def render_page(results: Mapping[str, Mapping[str, SplitResult]], sources: Mapping[str, str],
                diagrams: Mapping[str, Path], page: Path, command: str, served: str | None,
                font_only: Sequence[str] = ()) -> str:
    """The Markdown page: ``results[model][split]``, ``sources[model]`` (its file), ``diagrams[split]``
    (the reliability PNG, linked relative to ``page``), the command that wrote it, the served model, and
    the classes only synthetic images teach (``font_only``: their own accuracy on every split that has
    them)."""
    if not results:
        raise ValueError("no models to report")
    splits = [s for s in SPLIT_TITLES if any(s in r for r in results.values())]
    splits += [s for r in results.values() for s in r if s not in splits]
    lines = [
        "# Model evaluation: every version on every split",
        "",
        f"Written by `{command}`; do not edit by hand, run it again. Scores come from each model's ONNX "
        "file in onnxruntime (SavedModel and ONNX agree to 1e-5, see [translation](translation.md)). "
        "*Exact*: the labelled class; *case-insensitive*: c/C, o/O ... count as right ('0' vs 'O' does "
        "not); *ByClass mix*: per-class accuracy weighted by NIST's ByClass class shares; *ECE*: expected "
        "calibration error of the top softmax score (15 equal-width bins; 0 = a score of 0.9 is right "
        "90 % of the time). Splits: [data](data.md); models: [training](training.md).",
        "",
        "| model | file | classes predicted (real validation + held-out fonts) |",
        "|---|---|---|",
    ]
    for name, splits_of_model in results.items():
        predicted = classes_predicted(splits_of_model)
        shown = "–" if predicted is None else f"{len(predicted)} of {NUM_CLASSES}"
        missing = [] if predicted is None else [c for c in BYCLASS_LABELS if c not in predicted]
        if missing:
            shown += f" (never: {' '.join(missing)})"
        marker = " (served)" if name == served else ""
        lines.append(f"| {name}{marker} | `{sources[name]}` | {shown} |")
    lines.append("")
    for split in splits:
        lines += [f"## `{split}`: {SPLIT_TITLES.get(split, split)}", ""]
        lines += _summary_table(split, results)
        lines.append("")
        if split in diagrams:
            lines += [f"![reliability diagram, {split}]({_relative(diagrams[split], page.parent)})", ""]
        if font_only:
            lines += _subset_table(split, results, font_only)
        lines += _mix_lost_table(split, results)
        lines += _look_alike_table(split, results)
        lines += _mistakes(split, results)
        lines += _per_class_table(split, results)
    return "\n".join(lines).rstrip() + "\n"
