"""The confidence cue: low top score, or a close runner-up, makes an answer uncertain."""

from __future__ import annotations

import numpy as np
import pytest

from serving_core.confidence import CLOSE_MARGIN, LOW_PROBABILITY, confidence


def scores(*top: float) -> np.ndarray:
    row = np.zeros(62, dtype=np.float32)
    row[: len(top)] = top
    row[len(top) :] = (1 - sum(top)) / (62 - len(top))
    return np.random.default_rng(0).permutation(row)


@pytest.mark.parametrize(
    ("top", "uncertain", "reason"),
    [
        ((0.97, 0.02), False, ""),
        ((0.45, 0.05), True, "low_probability"),  # below 0.5, whatever the margin
        ((0.49, 0.10), True, "low_probability"),
        ((0.70, 0.29), False, ""),  # 0.41 ahead
        ((0.66, 0.34), False, ""),  # 0.32 ahead
        ((0.62, 0.36), True, "close_runner_up"),  # 0.26 ahead
        ((0.52, 0.47), True, "close_runner_up"),
        ((0.50, 0.15), False, ""),  # at 0.5 and 0.35 ahead
    ],
)
def test_the_two_thresholds(top, uncertain, reason):
    cue = confidence(scores(*top))
    assert (cue.uncertain, cue.reason) == (uncertain, reason)
    assert cue.probability == pytest.approx(top[0])
    assert cue.margin == pytest.approx(top[0] - top[1], abs=1e-6)


def test_the_thresholds_are_the_documented_ones():
    assert (LOW_PROBABILITY, CLOSE_MARGIN) == (0.5, 0.3)


def test_a_tie_at_the_top_is_uncertain_and_one_score_is_refused():
    assert confidence(np.array([0.7, 0.7])).reason == "close_runner_up"
    with pytest.raises(ValueError):
        confidence(np.array([1.0]))
