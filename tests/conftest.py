"""Fixtures shared by the whole suite: the app on the bundled model, extra apps, a live HTTP server.

Helpers that are not fixtures (paths, test images, model version writers) are in ``tests/support``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask

from tests.support.model_versions import RecordingFactory
from tests.support.paths import MODELS, REPO, SERVED_MODEL
from webapp.settings import load_settings


def app_config(**overrides: Any) -> dict[str, Any]:
    """Test settings: the repo's models, the light onnxruntime engine, no background polling, no SIGHUP."""
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


def _build_app(**overrides: Any) -> Flask:
    from webapp import create_app

    return create_app(app_config(**overrides))


def _stop(application: Flask) -> None:
    core = application.extensions["serving_core"]
    if core is not None:
        core.stop()
    else:  # a front end to remote model servers
        application.extensions["inference_service"].close()


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    """The app on the bundled model with the light onnxruntime engine (shared by the session)."""
    application = _build_app()
    yield application
    _stop(application)


@pytest.fixture(scope="session")
def tf_app() -> Iterator[Flask]:
    """The same app with the TensorFlow engine (the default in production)."""
    application = _build_app(ENGINE="tensorflow")
    yield application
    _stop(application)


@pytest.fixture
def make_app() -> Iterator[Callable[..., Flask]]:
    """Build extra apps with other settings (``make_app(MAX_INSTANCES=2)``); their cores stop afterwards."""
    made: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        application = _build_app(**overrides)
        made.append(application)
        return application

    yield build
    for application in made:
        _stop(application)


@pytest.fixture
def live_app() -> Iterator[Callable[..., Any]]:
    """``live_app(**overrides)``: a context manager serving the app over real HTTP on 127.0.0.1 (its URL)."""
    from werkzeug.serving import make_server

    @contextmanager
    def serve(**overrides: Any) -> Iterator[str]:
        application = _build_app(**overrides)
        server = make_server("127.0.0.1", 0, application, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join(10)
            _stop(application)

    yield serve


@pytest.fixture
def dead_url() -> str:
    """A loopback predict URL where nothing listens (a port just freed): connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/models/{SERVED_MODEL}:predict"


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
        config = {"ENGINE": "onnxruntime", "FILE_SYSTEM_POLL_SECONDS": 0, "MODEL_RELOAD_ON_SIGHUP": False}
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
