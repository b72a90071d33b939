"""Model servers for the front-end tests: a gRPC one and a REST one in this process, and front ends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from tests.support.grpc_servers import InProcessServer, grpc_server, server_settings


@pytest.fixture(scope="session")
def grpc_model_server() -> Iterator[InProcessServer]:
    with grpc_server() as server:
        yield server


@pytest.fixture(scope="session")
def rest_model_server(app: Flask) -> Iterator[str]:
    """The in-process app over real HTTP: a TF Serving-compatible REST model server."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def front_end() -> Iterator[Callable[..., Flask]]:
    """``front_end("grpc://host:port", ..., **settings)``: the app with MODEL_SERVER set (closed after)."""
    from webapp import create_app

    made: list[Flask] = []

    def build(*servers: str, **overrides: Any) -> Flask:
        settings = server_settings(MODEL_SERVER=",".join(servers), **overrides)
        application = create_app({"TESTING": True, **settings})
        made.append(application)
        return application

    yield build
    for application in made:
        application.extensions["inference_service"].close()
