"""Fixtures of the client tests: the app served over real HTTP on 127.0.0.1, and what it should answer.

The evaluation and load clients talk HTTP, so their tests need a listening server, not Flask's test
client: werkzeug's threaded server runs the real app (``webapp.create_app``, onnxruntime engine, the
bundled model) on a free port. The answers they are checked against come from onnxruntime run
directly on the served version's ``model.onnx``, never from the app's own code.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.servers import served
from webapp import create_app

#: The bundled model the app serves in these tests.
SERVED_MODEL = "emnist"


@pytest.fixture(scope="session")
def served_model() -> str:
    return SERVED_MODEL


@pytest.fixture(scope="session")
def served_version_dir(repo: Path) -> Path:
    """The newest version of the served model, the one the app answers with."""
    versions = [p for p in (repo / "models" / SERVED_MODEL).iterdir() if p.name.isdigit()]
    return max(versions, key=lambda p: int(p.name))


@pytest.fixture(scope="session")
def base_url(repo: Path) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of the app on the repository's models (no polling, no SIGHUP handler)."""
    app = create_app({
        "TESTING": True,
        "MODEL_BASE_PATH": str(repo / "models"),
        "MODEL_NAME": SERVED_MODEL,
        "ENGINE": "onnxruntime",
        "FILE_SYSTEM_POLL_SECONDS": 0,
        "MODEL_RELOAD_ON_SIGHUP": False,
    })
    with served(app) as url:
        yield url


@pytest.fixture(scope="session")
def predict_url(base_url: str) -> str:
    """The app's TF Serving predict route for the served model."""
    return f"{base_url}/v1/models/{SERVED_MODEL}:predict"


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens (a port just freed): connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/models/{SERVED_MODEL}:predict"


@pytest.fixture(scope="session")
def expected_classes(served_version_dir: Path) -> Callable[[np.ndarray], np.ndarray]:
    """``expected_classes(uint8 images [N, 28, 28])``: the served model's classes, by onnxruntime directly."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(served_version_dir / "model.onnx"), providers=["CPUExecutionProvider"])

    def classes(images: np.ndarray) -> np.ndarray:
        pixels = np.asarray(images, dtype=np.float32).reshape(len(images), 784) / 255.0
        return session.run(["scores"], {"images": pixels})[0].argmax(axis=1)

    return classes
