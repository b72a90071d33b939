"""How one gRPC server stops: its gate holds new RPCs (never health checks) until it opens, and a stop
with a drain keeps answering, NOT_SERVING, before it refuses new connections."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
from grpc_health.v1 import health_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from emnist_contract.tensors import NUM_PIXELS
from tests.support.grpc_servers import grpc_server, health_status
from tests.support.paths import SERVED_MODEL

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
DRAIN_SECONDS = 3.0


def predict_request() -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = SERVED_MODEL
    images = request.inputs["images"]
    images.dtype = types_pb2.DT_FLOAT
    images.tensor_shape.dim.add(size=1)
    images.tensor_shape.dim.add(size=NUM_PIXELS)
    images.tensor_content = np.zeros((1, NUM_PIXELS), np.float32).tobytes()
    return request


def test_a_closed_gate_holds_new_rpcs_until_it_opens_but_answers_health_checks():
    with grpc_server() as served, grpc.insecure_channel(served.target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        stub.Predict(predict_request(), timeout=30)
        gate = served.server.gate
        gate.close()
        try:
            held = stub.Predict.future(predict_request(), timeout=30)
            assert health_status(served.target) == SERVING  # probes are never held
            gate.wait_quiet()  # returns once nothing new arrives
            assert not held.done()
        finally:
            gate.open()
        assert [dim.size for dim in held.result().outputs["scores"].tensor_shape.dim] == [1, 62]


def test_a_stop_with_a_drain_answers_not_serving_then_refuses_new_connections():
    with grpc_server() as served:
        stopping = threading.Thread(target=served.server.stop, args=(5.0, DRAIN_SECONDS))
        stopping.start()
        try:
            while health_status(served.target) != NOT_SERVING:  # at once, while still answering
                time.sleep(0.01)
            with grpc.insecure_channel(served.target) as channel:  # a connection made during the drain
                response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                    predict_request(), timeout=30)
                assert response.model_spec.name == SERVED_MODEL
        finally:
            stopping.join(30)
        try:
            health_status(served.target)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
        else:
            raise AssertionError("a new connection was taken after the drain")
