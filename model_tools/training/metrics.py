"""Classification metrics over the 62 ByClass classes: accuracy (exact and case-insensitive),
per-class precision/recall and the confusion matrix.

Pure numpy, so training, evaluation of ONNX files and SavedModels all score the same way.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, CLASS_GROUPS, NUM_CLASSES, class_group
from model_tools.data.datasets import BYCLASS_TRAIN_LABELS, DEFAULT_DATA_DIR
from model_tools.data.emnist_io import read_idx_labels

#: For each class index, the index of its case-folded character (e.g. 'C' -> 'c', '3' -> '3'):
#: predicting 'c' for a 'C' counts as right in the case-insensitive accuracy.
CASE_FOLDED: np.ndarray = np.array([BYCLASS_LABELS.index(c.lower()) for c in BYCLASS_LABELS], dtype=np.int64)


def confusion_matrix(
    labels: np.ndarray, predictions: np.ndarray, num_classes: int = NUM_CLASSES
) -> np.ndarray:
    """Counts [true class, predicted class], int64 [num_classes, num_classes]."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(f"{labels.shape[0]} labels but {predictions.shape[0]} predictions")
    flat = labels * num_classes + predictions
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Share of exact matches."""
    labels = np.asarray(labels)
    if labels.size == 0:
        raise ValueError("cannot score an empty set of images")
    return float(np.mean(labels == np.asarray(predictions)))


def case_insensitive_accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Share of matches when upper and lower case of the same letter count as the same character."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        raise ValueError("cannot score an empty set of images")
    return float(np.mean(CASE_FOLDED[labels] == CASE_FOLDED[np.asarray(predictions, dtype=np.int64)]))


@functools.cache
def byclass_frequencies(data_dir: str | Path | None = None) -> np.ndarray:
    """Share of each class among NIST's 697,932 ByClass training images (float64 [62], sums to 1).

    Read from the shipped ``data/nist/emnist-byclass-train-labels-idx1-ubyte.gz``: the class mix the
    reference model was trained on and NIST's test set follows (about half digits).
    """
    folder = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    labels = read_idx_labels(folder / BYCLASS_TRAIN_LABELS)
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64)
    if counts.shape != (NUM_CLASSES,) or counts.sum() == 0:
        raise ValueError("the ByClass label file does not hold 62-class labels")
    return counts / counts.sum()


def prior_weighted_accuracy(labels: np.ndarray, predictions: np.ndarray, prior: np.ndarray) -> float | None:
    """Accuracy expected if the classes present were mixed as in ``prior`` instead of as in ``labels``.

    Each image counts prior(c) / share(c) of its class c: per-class accuracies averaged with the prior's
    weights (renormalised over the classes present). None when no present class has prior mass.
    """
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    correct = np.bincount(labels, weights=(labels == np.asarray(predictions)).astype(np.float64),
                          minlength=NUM_CLASSES)
    present = counts > 0
    mass = np.asarray(prior, dtype=np.float64)[present]
    if mass.sum() <= 0:
        return None
    return float(np.sum(mass * correct[present] / counts[present]) / mass.sum())


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> list[float | None]:
    """Element-wise ratio with None where the denominator is 0 (undefined, e.g. a class with no images)."""
    return [float(n / d) if d else None for n, d in zip(numerator, denominator, strict=True)]


def classification_report(
    labels: np.ndarray, predictions: np.ndarray, prior: np.ndarray | None = None
) -> dict[str, Any]:
    """Everything ``evaluate`` prints and ``metrics.json`` stores, JSON-ready.

    Per-class precision is None for a class never predicted, recall None for a class with no images.
    With ``prior`` (e.g. :func:`byclass_frequencies`) it adds the accuracy re-weighted to that class mix.
    """
    matrix = confusion_matrix(labels, predictions)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    correct = np.diag(matrix)
    labels = np.asarray(labels, dtype=np.int64)
    groups: dict[str, dict[str, Any]] = {}
    for group in CLASS_GROUPS:
        members = np.array([class_group(int(c)) == group for c in labels], dtype=bool)
        if members.any():
            groups[group] = {
                "images": int(members.sum()),
                "accuracy": accuracy(labels[members], np.asarray(predictions)[members]),
                "accuracy_case_insensitive": case_insensitive_accuracy(
                    labels[members], np.asarray(predictions)[members]
                ),
            }
    return {
        "images": int(labels.size),
        "accuracy": accuracy(labels, predictions),
        "accuracy_case_insensitive": case_insensitive_accuracy(labels, predictions),
        "accuracy_byclass_mix": (
            prior_weighted_accuracy(labels, predictions, prior) if prior is not None else None
        ),
        "groups": groups,
        "labels": list(BYCLASS_LABELS),
        "support": support.tolist(),
        "precision": _safe_ratio(correct, predicted),
        "recall": _safe_ratio(correct, support),
        "confusion_matrix": matrix.tolist(),
    }


def top_confusions(matrix: np.ndarray, count: int = 10) -> list[tuple[str, str, int]]:
    """The most frequent (true, predicted, count) mistakes, largest first."""
    off_diagonal = np.array(matrix, dtype=np.int64, copy=True)
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(off_diagonal, axis=None)[::-1][:count]
    rows, cols = np.unravel_index(order, off_diagonal.shape)
    return [
        (BYCLASS_LABELS[r], BYCLASS_LABELS[c], int(off_diagonal[r, c]))
        for r, c in zip(rows, cols, strict=True)
        if off_diagonal[r, c] > 0
    ]
