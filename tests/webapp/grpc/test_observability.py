"""Observing gRPC calls: x-request-id taken or made and returned in the trailing metadata (answers and
refusals, the token check's included), known RPCs counted in the metrics, one access-log line per RPC."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from emnist_contract.tensors import NUM_PIXELS
from serving_core import metrics
from tests.support.grpc_servers import InProcessServer, grpc_server
from tests.support.metrics_text import samples, total
from tests.support.paths import SERVED_MODEL
from webapp.grpc.tensors import array_to_tensor
from webapp.grpc.v2 import open_inference_grpc_pb2 as pb
from webapp.grpc.v2 import open_inference_grpc_pb2_grpc as pb_grpc
from webapp.log_format import JsonFormatter, RequestIdFilter

HEX_ID = re.compile(r"[0-9a-f]{32}\Z")
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"


@pytest.fixture(scope="module")
def observed() -> Iterator[InProcessServer]:
    with grpc_server(ACCESS_LOG=True, MAX_INSTANCES=4) as server:
        yield server


@pytest.fixture(scope="module")
def channel(observed) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(observed.target) as opened:
        yield opened


def predict_request(images: int = 1, name: str = SERVED_MODEL) -> predict_pb2.PredictRequest:
    message = predict_pb2.PredictRequest()
    message.model_spec.name = name
    message.inputs["images"].CopyFrom(array_to_tensor(np.zeros((images, NUM_PIXELS), np.float32)))
    return message


def infer_request() -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=SERVED_MODEL)
    request.inputs.add(name="images", datatype="FP32", shape=[2, NUM_PIXELS])
    request.raw_input_contents.append(np.zeros(2 * NUM_PIXELS, "<f4").tobytes())
    return request


def trailing_id(metadata) -> str:
    return dict(metadata)["x-request-id"]


def test_the_request_id_is_returned_in_the_trailing_metadata(channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    _, call = stub.Predict.with_call(predict_request(), metadata=(("x-request-id", "grpc-7"),), timeout=10)
    assert trailing_id(call.trailing_metadata()) == "grpc-7"
    _, call = stub.Predict.with_call(predict_request(), timeout=10)
    assert HEX_ID.match(trailing_id(call.trailing_metadata()))
    with pytest.raises(grpc.RpcError) as refused:
        stub.Predict(predict_request(name="nope"), metadata=(("x-request-id", "grpc-8"),), timeout=10)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert trailing_id(refused.value.trailing_metadata()) == "grpc-8"


def test_known_rpcs_are_counted(channel):
    prediction = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    inference = pb_grpc.GRPCInferenceServiceStub(channel)
    before = samples(metrics.exposition())
    for _ in range(3):
        prediction.Predict(predict_request(), timeout=10)
    with pytest.raises(grpc.RpcError):
        prediction.Predict(predict_request(images=5), timeout=10)  # over MAX_INSTANCES
    inference.ModelInfer(infer_request(), timeout=10)
    inference.ServerLive(pb.ServerLiveRequest(), timeout=10)
    after = samples(metrics.exposition())

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("emnist_requests_total", protocol="tfserving-grpc", route="Predict", code="OK") == 3
    assert grew("emnist_requests_total", protocol="tfserving-grpc", route="Predict",
                code="INVALID_ARGUMENT") == 1
    assert grew("emnist_requests_total", protocol="v2-grpc", route="ModelInfer", code="OK") == 1
    assert grew("emnist_requests_total", protocol="v2-grpc", route="ServerLive", code="OK") == 1
    assert grew(":tensorflow:serving:request_count", model_name=SERVED_MODEL, status="OK") == 4
    assert grew(":tensorflow:serving:request_count", model_name=SERVED_MODEL, status="INVALID_ARGUMENT") == 1
    assert grew(":tensorflow:serving:request_latency_count", model_name=SERVED_MODEL, API="Predict",
                entrypoint="GRPC") == 5
    assert grew("emnist_request_images_sum", protocol="v2-grpc") == 2
    assert grew("emnist_refusals_total", limit="MAX_INSTANCES") == 1


def test_one_access_line_per_rpc_with_its_request_id(channel):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    logging.getLogger("emnist.access").setLevel(logging.INFO)
    try:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            predict_request(), metadata=(("x-request-id", "grpc-log-1"),), timeout=10)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line.get("event") == "access"]
    assert len(access) == 1
    line = access[0]
    assert (line["method"], line["route"], line["status"], line["request_id"]) == (
        PREDICT_METHOD, "Predict", "OK", "grpc-log-1")
    assert line["model"] == SERVED_MODEL and isinstance(line["version"], int) and line["bytes"] > 0
    assert line["protocol"] == "tfserving-grpc"


def test_a_refused_token_is_observed_too():
    with grpc_server(API_TOKENS="secret", START_REGISTRY=False) as server, \
            grpc.insecure_channel(server.target) as opened:
        before = total(samples(metrics.exposition()), "emnist_requests_total", code="UNAUTHENTICATED")
        with pytest.raises(grpc.RpcError) as refused:
            prediction_service_pb2_grpc.PredictionServiceStub(opened).Predict(
                predict_request(), metadata=(("x-request-id", "no-token"),), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert trailing_id(refused.value.trailing_metadata()) == "no-token"
        after = total(samples(metrics.exposition()), "emnist_requests_total", code="UNAUTHENTICATED")
    assert after - before == 1
