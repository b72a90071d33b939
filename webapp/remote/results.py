"""What a model server answered, in the same terms from either protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from webapp.remote.errors import bad_gateway


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


def untrained_classes_of(url: str, value: Any) -> tuple[str, ...]:
    """A model server's list of untrained classes, checked to be strings."""
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise bad_gateway(url, "answered model_info whose classes are not a list of labels")
    return tuple(value)
