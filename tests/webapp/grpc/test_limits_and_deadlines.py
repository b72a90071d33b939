"""RESOURCE_EXHAUSTED (message size, full batch queue), UNAVAILABLE while nothing is loaded (and the REST
answer of the same state unchanged), and client deadlines: a request whose deadline passed is not run."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.support.grpc_servers import grpc_server, health_status, server_settings
from tests.support.paths import SERVED_MODEL

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def predict_request(count: int, name: str = SERVED_MODEL, version: int | None = None):
    from webapp.grpc.tensors import array_to_tensor

    message = predict_pb2.PredictRequest()
    message.model_spec.name = name
    if version is not None:
        message.model_spec.version.value = version
    message.inputs["images"].CopyFrom(array_to_tensor(np.full((count, 784), 0.5, np.float32)))
    return message


def stub_for(target: str) -> tuple[grpc.Channel, object]:
    channel = grpc.insecure_channel(target)
    return channel, prediction_service_pb2_grpc.PredictionServiceStub(channel)


def images_run(server) -> int:
    """Images the server's batcher has run through the model so far."""
    with server.core.manager.acquire(SERVED_MODEL) as pinned:
        return server.core.service.batchers.batcher_for(pinned.engine).images_run


def test_a_message_over_max_content_length_is_resource_exhausted():
    with grpc_server(MAX_CONTENT_LENGTH=20_000) as server:
        channel, stub = stub_for(server.target)
        with channel:
            assert stub.Predict(predict_request(2), 10.0).outputs["scores"]  # 6 KB: within the limit
            with pytest.raises(grpc.RpcError) as caught:
                stub.Predict(predict_request(8), 10.0)  # 25 KB
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "Received message larger than max (25131 vs. 20000)" in caught.value.details()


BATCHING = {"ENABLE_BATCHING": True, "BATCHING_MAX_BATCH_SIZE": 4, "BATCHING_MAX_ENQUEUED": 1,
            "BATCHING_TIMEOUT_MICROS": 600_000}


def test_a_full_batch_queue_is_resource_exhausted_and_an_expired_request_never_runs():
    """A batch not full waits 0.6 s for more requests: meanwhile the queue (4 images) is full, and a request
    whose deadline passes while queued is left out of the batch."""
    with grpc_server(**BATCHING) as server:
        channel, stub = stub_for(server.target)
        with channel:
            waiting = stub.Predict.future(predict_request(3), 10.0)  # queued, the batch waits for more
            time.sleep(0.2)
            with pytest.raises(grpc.RpcError) as caught:
                stub.Predict(predict_request(3), 10.0)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert caught.value.details().startswith("The batch scheduling queue to which this task was "
                                                     "submitted is full")
            assert waiting.result().outputs["scores"]
            assert images_run(server) == 3
            expiring = stub.Predict.future(predict_request(1), 0.25)  # alone: its batch waits 0.6 s
            with pytest.raises(grpc.RpcError) as caught:
                expiring.result()
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            time.sleep(0.7)  # the batch's wait is over: the expired request was dropped, not run
            assert images_run(server) == 3
            assert stub.Predict(predict_request(1), 10.0).outputs["scores"]  # within its deadline: run
            assert images_run(server) == 4


def test_a_request_whose_deadline_passed_in_the_queue_is_not_run():
    """One RPC thread: a request waiting behind a slow one reaches the handler after its deadline."""
    with grpc_server(GRPC_THREADS=1, **BATCHING) as server:
        channel, stub = stub_for(server.target)
        with channel:
            slow = stub.Predict.future(predict_request(3), 10.0)  # holds the only thread for 0.6 s
            time.sleep(0.1)
            late = stub.Predict.future(predict_request(1), 0.3)
            with pytest.raises(grpc.RpcError) as caught:
                late.result()
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert slow.result().outputs["scores"]
            time.sleep(0.3)  # the late request's handler has run by now and refused it
            assert stub.Predict(predict_request(2), 10.0).outputs["scores"]
            assert images_run(server) == 5  # 3 + 2: the late image never reached the model


@pytest.fixture
def nothing_loaded(tmp_path):
    """A configured model whose only version fails to load (an empty version folder)."""
    (tmp_path / SERVED_MODEL / "1").mkdir(parents=True)
    return tmp_path


def test_unavailable_while_no_version_is_loaded_and_not_found_for_unknown_ones(nothing_loaded):
    with grpc_server(MODEL_BASE_PATH=str(nothing_loaded)) as server:
        channel, stub = stub_for(server.target)
        with channel:
            for message in (predict_request(1), predict_request(1, version=1)):
                with pytest.raises(grpc.RpcError) as caught:
                    stub.Predict(message, 10.0)
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            assert caught.value.details() == f"Servable not found for request: Specific({SERVED_MODEL}, 1)"
            with pytest.raises(grpc.RpcError) as caught:
                stub.Predict(predict_request(1, name="other"), 10.0)
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert health_status(server.target) == NOT_SERVING
        assert health_status(server.target, SERVED_MODEL) == NOT_SERVING


def test_the_rest_answer_for_nothing_loaded_is_unchanged(nothing_loaded):
    """REST keeps TF Serving's answer (404, the same body) for the state gRPC calls UNAVAILABLE."""
    from webapp import create_app

    app = create_app({"TESTING": True, **server_settings(MODEL_BASE_PATH=str(nothing_loaded))})
    try:
        response = app.test_client().post(f"/v1/models/{SERVED_MODEL}:predict",
                                          json={"instances": [[0.0] * 784]})
        assert response.status_code == 404
        assert response.data == b'{"error":"Servable not found for request: Latest(emnist)"}'
        assert app.test_client().get("/readyz").status_code == 503
    finally:
        app.extensions["serving_core"].stop()


def test_one_process_has_one_pixel_gate_for_every_rpc():
    """TF Serving's and the V2 service share the process's limits (one gate counts every RPC's decoding)."""
    with grpc_server() as server:
        prediction, inference = server.server.servicers
        assert prediction.limits is inference.limits
        assert prediction.limits.gate is not None
