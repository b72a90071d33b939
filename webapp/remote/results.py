"""What a model server answered, in the same terms from either protocol."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Predicted:
    version: int
    signature_name: str
    outputs: dict[str, np.ndarray]


@dataclass(frozen=True)
class Classified:
    version: int
    labels: tuple[str, ...] | None
    scores: np.ndarray
