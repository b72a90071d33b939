"""One gRPC server over the bundled model for the gRPC tests, and the stock stubs to call it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from tests.support.grpc_servers import InProcessServer, grpc_server


@pytest.fixture(scope="session")
def served() -> Iterator[InProcessServer]:
    """The bundled model (onnxruntime) behind a gRPC server in this process, shared by the session."""
    with grpc_server() as server:
        yield server


@pytest.fixture(scope="session")
def channel(served: InProcessServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(served.target) as opened:
        yield opened


@pytest.fixture(scope="session")
def prediction(channel: grpc.Channel) -> Any:
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="session")
def models(channel: grpc.Channel) -> Any:
    from tensorflow_serving.apis import model_service_pb2_grpc

    return model_service_pb2_grpc.ModelServiceStub(channel)
