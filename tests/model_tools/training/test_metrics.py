"""Metrics over the 62 classes: exact and case-insensitive accuracy, per-class report, class-mix weighting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emnist_contract.labels import char_to_label
from model_tools.data.datasets import DEFAULT_DATA_DIR
from model_tools.data.emnist_io import read_idx_labels
from model_tools.training.metrics import (
    byclass_frequencies,
    case_insensitive_accuracy,
    classification_report,
    confusion_matrix,
    prior_weighted_accuracy,
    top_confusions,
)


def test_case_insensitive_accuracy_folds_only_letter_case() -> None:
    labels = np.array([char_to_label(c) for c in "cCoO0s"])
    predicted = np.array([char_to_label(c) for c in "CcOo0S"])
    assert case_insensitive_accuracy(labels, predicted) == 1.0
    # 'O' for a zero is a different character, not a case difference.
    assert case_insensitive_accuracy(np.array([char_to_label("0")]), np.array([char_to_label("O")])) == 0.0


def test_report_precision_recall_and_matrix() -> None:
    labels = np.array([0, 0, 1, 1, 36])
    predicted = np.array([0, 1, 1, 1, 10])  # 'a' read as 'A'
    report = classification_report(labels, predicted)
    assert report["accuracy"] == pytest.approx(3 / 5)
    assert report["accuracy_case_insensitive"] == pytest.approx(4 / 5)
    assert report["precision"][0] == 1.0 and report["recall"][0] == 0.5
    assert report["precision"][1] == pytest.approx(2 / 3) and report["recall"][1] == 1.0
    assert report["precision"][2] is None and report["recall"][2] is None  # no images, never predicted
    matrix = np.asarray(report["confusion_matrix"])
    assert matrix.shape == (62, 62) and matrix[0, 1] == 1 and matrix[36, 10] == 1
    assert report["groups"] == {
        "digit": {"images": 4, "accuracy": 0.75, "accuracy_case_insensitive": 0.75},
        "lowercase": {"images": 1, "accuracy": 0.0, "accuracy_case_insensitive": 1.0},
    }
    json.dumps(report)  # JSON-ready
    with pytest.raises(ValueError):
        confusion_matrix(np.array([1, 2]), np.array([1]))


def test_top_confusions_are_the_largest_mistakes_first() -> None:
    labels = np.array([0] * 5 + [24] * 2 + [1])
    predicted = np.array([24] * 3 + [0] * 2 + [0] * 2 + [1])  # '0'->'O' three times, 'O'->'0' twice
    assert top_confusions(confusion_matrix(labels, predicted)) == [("0", "O", 3), ("O", "0", 2)]


def test_prior_weighting_averages_per_class_accuracy_with_the_priors_weights() -> None:
    labels = np.array([0, 0, 0, 0, 1])  # class 0: 4 images, 2 right; class 1: 1 image, right
    predicted = np.array([0, 0, 5, 5, 1])
    prior = np.zeros(62)
    prior[0], prior[1], prior[2] = 0.2, 0.6, 0.2  # class 2 has no images: left out, mass renormalised
    assert prior_weighted_accuracy(labels, predicted, prior) == pytest.approx((0.2 * 0.5 + 0.6 * 1.0) / 0.8)
    assert prior_weighted_accuracy(labels, predicted, np.eye(62)[7]) is None


def test_byclass_frequencies_are_nists_training_label_shares() -> None:
    labels = read_idx_labels(DEFAULT_DATA_DIR / "nist" / "emnist-byclass-train-labels-idx1-ubyte.gz")
    shares = byclass_frequencies()
    assert len(labels) == 697_932 and shares.shape == (62,)
    assert shares.sum() == pytest.approx(1.0)
    assert shares[char_to_label("1")] == pytest.approx(np.mean(labels == char_to_label("1")))
