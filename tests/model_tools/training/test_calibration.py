"""Reliability bins and expected calibration error against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from model_tools.training.calibration import reliability


def _scores(top: list[float], argmax: list[int], classes: int = 3) -> np.ndarray:
    """Rows whose largest entry is ``top[i]`` at column ``argmax[i]``, the rest shared evenly."""
    rows = []
    for value, column in zip(top, argmax, strict=True):
        row = np.full(classes, (1 - value) / (classes - 1))
        row[column] = value
        rows.append(row)
    return np.array(rows)


def test_bins_and_ece_by_hand() -> None:
    # Two bins: (0, 0.5] and (0.5, 1]. Bin 1: confidences 0.4, 0.5, one right -> acc 0.5, conf 0.45.
    # Bin 2: confidences 0.9, 0.7, 0.8, all right -> acc 1, conf 0.8. ECE = (2*0.05 + 3*0.2) / 5 = 0.14.
    scores = _scores([0.4, 0.5, 0.9, 0.7, 0.8], [0, 1, 2, 0, 1])
    labels = np.array([0, 2, 2, 0, 1])
    result = reliability(scores, labels, bins=2)
    assert result["images"] == [2, 3]
    assert result["confidence"] == pytest.approx([0.45, 0.8])
    assert result["accuracy"] == pytest.approx([0.5, 1.0])
    assert result["expected_calibration_error"] == pytest.approx(0.14)
    assert result["accuracy_overall"] == pytest.approx(0.8)
    assert result["mean_confidence"] == pytest.approx(0.66)


def test_empty_bins_weigh_nothing_and_confidence_one_lands_in_the_last_bin() -> None:
    scores = _scores([1.0, 1.0], [0, 1])
    result = reliability(scores, np.array([0, 0]), bins=4)
    assert result["images"] == [0, 0, 0, 2]
    assert result["confidence"][:3] == [None, None, None]
    assert result["accuracy"][3] == pytest.approx(0.5)
    assert result["expected_calibration_error"] == pytest.approx(0.5)


def test_a_calibrated_model_has_a_small_ece() -> None:
    rng = np.random.default_rng(0)
    top = rng.uniform(0.5, 1.0, size=20000)
    labels = np.where(rng.uniform(size=top.size) < top, 0, 1)  # right with probability = confidence
    result = reliability(_scores(top.tolist(), [0] * top.size), labels)
    assert result["expected_calibration_error"] < 0.02
    overconfident = reliability(_scores(np.minimum(top + 0.2, 1.0).tolist(), [0] * top.size), labels)
    assert overconfident["expected_calibration_error"] > 0.1


def test_refusals() -> None:
    with pytest.raises(ValueError, match="no images"):
        reliability(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="expected scores"):
        reliability(np.zeros((2, 3)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="bins"):
        reliability(np.ones((1, 3)) / 3, np.zeros(1, dtype=int), bins=0)
