"""EMNIST_API_TOKENS on the gRPC server: every service but health needs ``authorization: Bearer <token>``
metadata, and ends UNAUTHENTICATED without a valid one; called with the stock stubs."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from emnist_contract.tensors import NUM_PIXELS
from tests.support.grpc_servers import InProcessServer, grpc_server, health_status
from tests.support.paths import SERVED_MODEL
from webapp.api_tokens import MISSING_TOKEN, WRONG_TOKEN
from webapp.grpc.v2 import open_inference_grpc_pb2 as v2_pb
from webapp.grpc.v2 import open_inference_grpc_pb2_grpc as v2_grpc

TOKEN = "grpc-token"


@pytest.fixture(scope="module")
def served() -> Iterator[InProcessServer]:
    with grpc_server(API_TOKENS=f"{TOKEN},another") as server:
        yield server


@pytest.fixture(scope="module")
def channel(served: InProcessServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(served.target) as opened:
        yield opened


def predict_request() -> predict_pb2.PredictRequest:
    """One blank image, as float32 [1,784]."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = SERVED_MODEL
    images = request.inputs["images"]
    images.dtype = types_pb2.DT_FLOAT
    images.tensor_shape.dim.add(size=1)
    images.tensor_shape.dim.add(size=NUM_PIXELS)
    images.tensor_content = np.zeros((1, NUM_PIXELS), np.float32).tobytes()
    return request


def calls(channel: grpc.Channel) -> dict[str, tuple]:
    """Each service's RPC with its request: TF Serving's two services and the V2 service."""
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = SERVED_MODEL
    metadata = get_model_metadata_pb2.GetModelMetadataRequest()
    metadata.model_spec.name = SERVED_MODEL
    metadata.metadata_field.append("signature_def")
    prediction = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return {
        "Predict": (prediction.Predict, predict_request()),
        "GetModelMetadata": (prediction.GetModelMetadata, metadata),
        "GetModelStatus": (model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus, status),
        "V2 ServerMetadata": (v2_grpc.GRPCInferenceServiceStub(channel).ServerMetadata,
                              v2_pb.ServerMetadataRequest()),
    }


@pytest.mark.parametrize("rpc", ["Predict", "GetModelMetadata", "GetModelStatus", "V2 ServerMetadata"])
def test_an_rpc_without_a_valid_token_ends_unauthenticated(channel, rpc):
    method, request = calls(channel)[rpc]
    for metadata, message in (((), MISSING_TOKEN), ((("authorization", "Bearer wrong"),), WRONG_TOKEN),
                              ((("authorization", TOKEN),), MISSING_TOKEN)):
        with pytest.raises(grpc.RpcError) as caught:
            method(request, metadata=metadata, timeout=30)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert caught.value.details() == message


@pytest.mark.parametrize("rpc", ["Predict", "GetModelMetadata", "GetModelStatus", "V2 ServerMetadata"])
def test_an_rpc_with_a_token_is_answered(channel, rpc):
    method, request = calls(channel)[rpc]
    for token in (TOKEN, "another"):
        assert method(request, metadata=(("authorization", f"Bearer {token}"),), timeout=30) is not None


def test_the_prediction_comes_back_with_the_token(channel):
    method, request = calls(channel)["Predict"]
    answer = method(request, metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=30)
    assert [dim.size for dim in answer.outputs["scores"].tensor_shape.dim] == [1, 62]


def test_health_stays_open(served):
    assert health_status(served.target) == health_pb2.HealthCheckResponse.SERVING
    assert health_status(served.target, SERVED_MODEL) == health_pb2.HealthCheckResponse.SERVING
