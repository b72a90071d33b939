"""Fixtures of the training stage's tests: slices of the shipped splits and the bundled runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_tools.data.datasets import load_split


@pytest.fixture(scope="session")
def train_slice() -> tuple[np.ndarray, np.ndarray]:
    """The first 1,024 shipped training images and labels."""
    images, labels = load_split("train")
    return images[:1024], labels[:1024]


@pytest.fixture(scope="session")
def validation_slice(validation_split) -> tuple[np.ndarray, np.ndarray]:
    """The first 512 shipped validation images and labels."""
    images, labels = validation_split
    return images[:512], labels[:512]


@pytest.fixture(scope="session")
def runs(repo: Path) -> Path:
    """The bundled training runs (``runs/linear``, ``runs/dnn``, ``runs/cnn``)."""
    return repo / "runs"
