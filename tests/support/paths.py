"""Where the repository's models and test images are, and which model the app tests serve."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
TEST_IMAGES = REPO / "test_images"
#: The model the app tests serve: the bundled best model.
SERVED_MODEL = "emnist"


def served_version_dir() -> Path:
    """The newest version folder of the served model."""
    versions = [p for p in (MODELS / SERVED_MODEL).iterdir() if p.name.isdigit()]
    return max(versions, key=lambda p: int(p.name))


def labelled_test_images() -> list[tuple[Path, str]]:
    """(PNG path, expected character) for every file in test_images/ (``A_upper_0.png`` -> "A")."""
    return [(path, path.name.split("_")[0]) for path in sorted(TEST_IMAGES.glob("*_*_*.png"))]


def case_twin_test_images() -> list[tuple[Path, str]]:
    """(PNG path, character the model answers) for the letters it knows but reads as the other case.

    ``test_images/case_twins/o_lower_0.png`` is a real lowercase o that the bundled model (fitted to NIST's
    ByClass class mix) reads as "O"; see ``test_images/select_test_images.py``.
    """
    return [(path, path.name.split("_")[0].swapcase())
            for path in sorted((TEST_IMAGES / "case_twins").glob("*_*_*.png"))]


def encode_image(pixels: np.ndarray, image_format: str = "PNG", **options: Any) -> bytes:
    """An array (uint8 [H,W] or [H,W,C]) as image file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format, **options)
    return buffer.getvalue()
