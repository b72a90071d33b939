"""The confidence cue: whether an answer is too uncertain to take at its word.

A softmax score is not a calibrated probability, but two signs of a doubtful answer are cheap and
readable: the top class has a low score, or the runner-up is close behind (a "c" against a "C", an
"O" against a "0"). The page, ``/predict`` and the command line all apply the same two thresholds;
docs/serving-api.md gives how often answers on each side of them are right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: An answer whose top score is below this is uncertain.
LOW_PROBABILITY = 0.5
#: An answer whose top score leads the second by less than this is uncertain.
CLOSE_MARGIN = 0.3
#: Why an answer is uncertain (the codes ``/predict`` answers).
LOW_PROBABILITY_REASON = "low_probability"
CLOSE_RUNNER_UP_REASON = "close_runner_up"


@dataclass(frozen=True)
class Confidence:
    """The cue for one answer: ``uncertain`` and why (a reason code, or ``""`` when confident)."""

    uncertain: bool
    reason: str
    probability: float
    margin: float


def confidence(scores: np.ndarray) -> Confidence:
    """The cue for one row of scores (any number of classes, at least two)."""
    row = np.asarray(scores, dtype=np.float64).ravel()
    if row.size < 2:
        raise ValueError(f"a confidence cue needs at least two scores, got {row.size}")
    second, first = np.partition(row, row.size - 2)[-2:]
    margin = float(first - second)
    if first < LOW_PROBABILITY:
        reason = LOW_PROBABILITY_REASON
    elif margin < CLOSE_MARGIN:
        reason = CLOSE_RUNNER_UP_REASON
    else:
        reason = ""
    return Confidence(bool(reason), reason, float(first), margin)
