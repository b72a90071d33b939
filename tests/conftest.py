"""Fixtures shared by the whole suite: the app on the bundled model, extra apps, a live HTTP server.

Helpers that are not fixtures (paths, test images, model version writers) are in ``tests/support``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask

from tests.support.apps import build_app, stop_app
from tests.support.model_versions import RecordingFactory
from tests.support.paths import REPO
from webapp.settings import load_settings


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    """The app on the bundled model with the light onnxruntime engine (shared by the session)."""
    application = build_app()
    yield application
    stop_app(application)


@pytest.fixture(scope="session")
def tf_app() -> Iterator[Flask]:
    """The same app with the TensorFlow engine (the default in production)."""
    application = build_app(ENGINE="tensorflow")
    yield application
    stop_app(application)


def _app_factory() -> Iterator[Callable[..., Flask]]:
    made: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        application = build_app(**overrides)
        made.append(application)
        return application

    yield build
    for application in made:
        stop_app(application)


@pytest.fixture
def make_app() -> Iterator[Callable[..., Flask]]:
    """Build extra apps with other settings (``make_app(MAX_INSTANCES=2)``); their cores stop afterwards."""
    yield from _app_factory()


@pytest.fixture(scope="module")
def make_module_app() -> Iterator[Callable[..., Flask]]:
    """``make_app`` for apps a whole test module shares."""
    yield from _app_factory()


@pytest.fixture(scope="session")
def validation_images() -> tuple[np.ndarray, np.ndarray]:
    """The first 512 shipped validation images (uint8 [N,28,28]) and labels."""
    with np.load(REPO / "data" / "validation.npz") as data:
        return data["images"][:512], data["labels"][:512].astype(np.int64)


@pytest.fixture
def factory() -> RecordingFactory:
    """An engine factory that records every engine the lifecycle opens (and whether it closed it)."""
    return RecordingFactory()


@pytest.fixture
def make_core() -> Iterator[Callable[..., Any]]:
    """``make_core(base_path, factory, **settings)``: an unstarted ServerCore for one model (or a config
    file), built from the server's settings (onnxruntime, no polling, no SIGHUP unless overridden); every
    core made is stopped afterwards."""
    from serving_core.server_core import ServerCore

    made: list[Any] = []

    def build(base_path: Path | None = None, engine_factory: Any = None, **overrides: Any) -> Any:
        config = {"ENGINE": "onnxruntime", "FILE_SYSTEM_POLL_SECONDS": 0, "MODEL_RELOAD_ON_SIGHUP": False,
                  "MODEL_SETTLE_SECONDS": 0}
        if base_path is not None:
            config.update(MODEL_BASE_PATH=str(base_path), MODEL_NAME=Path(base_path).name)
        config.update(overrides)
        settings, _ = load_settings(config, environ={})
        core = ServerCore(settings.core_options(), engine_factory=engine_factory)
        made.append(core)
        return core

    yield build
    for core in made:
        core.stop()


@pytest.fixture(scope="session")
def onnx_reference() -> Callable[[np.ndarray], np.ndarray]:
    """The served version's scores computed independently: onnxruntime straight on its model.onnx."""
    import onnxruntime

    from tests.support.paths import served_version_dir

    session = onnxruntime.InferenceSession(str(served_version_dir() / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    (model_input,) = session.get_inputs()
    return lambda images: session.run(None, {model_input.name: np.asarray(images, np.float32)})[0]
