"""Model servers for the front-end tests: a gRPC one and a REST one in this process, and front ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from tests.support.grpc_servers import InProcessServer, grpc_server, server_settings
from tests.support.servers import served


@pytest.fixture(scope="session")
def grpc_model_server() -> Iterator[InProcessServer]:
    with grpc_server() as server:
        yield server


@pytest.fixture(scope="session")
def rest_model_server(app: Flask) -> Iterator[str]:
    """The in-process app over real HTTP: a TF Serving-compatible REST model server."""
    with served(app) as url:
        yield url


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
