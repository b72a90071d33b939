"""Several classifiers answering as one: the mean of their softmax scores.

Averaging the class probabilities of networks trained apart (other seeds, other recipes) is the simplest
ensemble and usually more accurate and better calibrated than any member; it is what ``eval-report``
scores for a model named ``a.onnx+b.onnx`` and the soft target ``train --teacher`` distils into one
network. The members are any :class:`~model_tools.training.evaluate.Predictor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model_tools.training.evaluate import Predictor, check_input, check_output

#: Joins the members' paths in one model name: ``a.onnx+b.onnx``.
MEMBER_SEPARATOR = "+"


def ensemble_members(text: str | Path) -> list[Path]:
    """The member paths of ``a+b[+c...]``; ValueError for an empty member or a single one."""
    parts = str(text).split(MEMBER_SEPARATOR)
    if len(parts) < 2 or any(not part.strip() for part in parts):
        raise ValueError(f"{text}: an ensemble names two or more models joined by "
                         f"{MEMBER_SEPARATOR!r} (a.onnx{MEMBER_SEPARATOR}b.onnx)")
    return [Path(part.strip()) for part in parts]


class EnsemblePredictor:
    """The mean of its members' softmax scores (each member's scores already sum to 1 per image)."""

    kind = "ensemble"

    def __init__(self, members: Sequence[Predictor], source: Path | None = None) -> None:
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
        self.members = list(members)
        self.source = source or Path(MEMBER_SEPARATOR.join(str(m.source) for m in self.members))

    def predict(self, images: np.ndarray) -> np.ndarray:
        images = check_input(images)
        total = np.zeros((len(images), 0), np.float64)
        for index, member in enumerate(self.members):
            scores = np.asarray(member.predict(images), np.float64)
            total = scores if index == 0 else total + scores
        return check_output((total / len(self.members)).astype(np.float32), len(images), self.source)
