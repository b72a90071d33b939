"""Fixtures every stage's tests use: the repository's shipped files, read once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_tools.data.datasets import DEFAULT_DATA_DIR, load_split


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (the folder holding data/, models/ and runs/)."""
    return DEFAULT_DATA_DIR.parent


@pytest.fixture(scope="session")
def validation_split() -> tuple[np.ndarray, np.ndarray]:
    """The shipped validation split: uint8 images [4119, 28, 28] and ByClass labels."""
    return load_split("validation")


@pytest.fixture(scope="session")
def official_test_split() -> tuple[np.ndarray, np.ndarray]:
    """The kept-aside test split (NIST's official emnist-mnist test digits)."""
    return load_split("test")
