"""Shared fixtures. ``app`` (pytest-flask's fixture) is the deployment app serving the bundled model.

The bundled best model is ``models/emnist``; until it is committed the converted reference model
(``models/reference``) stands in, so every route test runs against a real SavedModel either way.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from PIL import Image

from webapp import create_app

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"
TEST_IMAGES = REPO / "test_images"


def _has_versions(name: str) -> bool:
    folder = MODELS / name
    return folder.is_dir() and any(
        p.name.isdigit() and (p / "saved_model.pb").is_file() for p in folder.iterdir()
    )


#: The model the app tests serve: the bundled best model when it is there.
SERVED_MODEL = "emnist" if _has_versions("emnist") else "reference"


def served_version_dir() -> Path:
    versions = [p for p in (MODELS / SERVED_MODEL).iterdir() if p.name.isdigit()]
    return max(versions, key=lambda p: int(p.name))


def app_config(**overrides: Any) -> dict[str, Any]:
    """Test settings: the repo's models, no background polling, no SIGHUP handler."""
    config = {
        "TESTING": True,
        "MODEL_BASE_PATH": str(MODELS),
        "MODEL_NAME": SERVED_MODEL,
        "ENGINE": "onnxruntime",
        "FILE_SYSTEM_POLL_SECONDS": 0,
        "MODEL_RELOAD_ON_SIGHUP": False,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    """The app on the bundled model with the light onnxruntime engine (shared by the session)."""
    application = create_app(app_config())
    yield application
    application.extensions["model_registry"].stop()


@pytest.fixture(scope="session")
def tf_app() -> Iterator[Flask]:
    """The same app with the TensorFlow engine (the default in production)."""
    application = create_app(app_config(ENGINE="tensorflow"))
    yield application
    application.extensions["model_registry"].stop()


@pytest.fixture
def make_app() -> Iterator[Callable[..., Flask]]:
    """Build extra apps with other settings (``make_app(MAX_INSTANCES=2)``); registries stop afterwards."""
    made: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        application = create_app(app_config(**overrides))
        made.append(application)
        return application

    yield build
    for application in made:
        application.extensions["model_registry"].stop()


def labelled_test_images() -> list[tuple[Path, str]]:
    """(PNG path, expected character) for every file in test_images/ (``A_upper_0.png`` -> "A")."""
    return [(path, path.name.split("_")[0]) for path in sorted(TEST_IMAGES.glob("*_*_*.png"))]


def case_twin_test_images() -> list[tuple[Path, str]]:
    """(PNG path, character the model answers) for the letters it knows but reads as the other case.

    ``test_images/case_twins/c_lower_0.png`` is a real lowercase c that the bundled model (trained with
    ByClass-mix class weights) reads as "C"; see ``test_images/select_test_images.py``.
    """
    return [(path, path.name.split("_")[0].swapcase())
            for path in sorted((TEST_IMAGES / "case_twins").glob("*_*_*.png"))]


@pytest.fixture(scope="session")
def validation_images() -> tuple[np.ndarray, np.ndarray]:
    """The first 512 shipped validation images (uint8 [N,28,28]) and labels."""
    from model_tools.data.datasets import load_split

    images, labels = load_split("validation")
    return images[:512], labels[:512]


def encode_image(pixels: np.ndarray, image_format: str = "PNG", **options: Any) -> bytes:
    """An array (uint8 [H,W] or [H,W,C]) as image file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format, **options)
    return buffer.getvalue()
