"""The front end's answers when model servers fail: 503 when none can answer, 504 on the deadline, 502 when
one answers what it should not; retries on the next server and round robin over several."""

from __future__ import annotations

from collections import Counter
from concurrent import futures

import grpc
import orjson
import pytest

from tests.support.grpc_servers import free_port, grpc_server
from tests.support.paths import SERVED_MODEL
from tests.support.servers import served

PREDICT = f"/v1/models/{SERVED_MODEL}:predict"
BODY = {"instances": [[0.25] * 784]}


def error_of(response) -> str:
    assert response.content_type == "application/json"
    return orjson.loads(response.data)["error"]


@pytest.mark.parametrize("scheme", ["grpc", "http"])
def test_503_when_no_model_server_can_be_reached(front_end, scheme):
    dead = [f"{scheme}://127.0.0.1:{free_port()}", f"{scheme}://127.0.0.1:{free_port()}"]
    client = front_end(*dead, MODEL_SERVER_RETRIES=2).test_client()
    for response in (client.post(PREDICT, json=BODY), client.post("/predict", json=BODY),
                     client.get(f"/v1/models/{SERVED_MODEL}")):
        assert response.status_code == 503
        message = error_of(response)
        assert message.startswith("no model server could answer: ")
        assert all(address in message for address in dead)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and orjson.loads(ready.data)["status"] == "not ready"


def test_a_dead_server_is_skipped_for_the_live_one(front_end, grpc_model_server):
    live = f"grpc://{grpc_model_server.target}"
    client = front_end(f"grpc://127.0.0.1:{free_port()}", live).test_client()
    for _ in range(6):
        response = client.post("/predict", json=BODY)
        assert response.status_code == 200, response.data
        assert orjson.loads(response.data)["model_spec"]["engine"] == live


def test_round_robin_over_several_servers(front_end, grpc_model_server):
    with grpc_server() as second:
        addresses = [f"grpc://{grpc_model_server.target}", f"grpc://{second.target}"]
        client = front_end(*addresses).test_client()
        engines = Counter(orjson.loads(client.post("/predict", json=BODY).data)["model_spec"]["engine"]
                          for _ in range(10))
    assert engines == {addresses[0]: 5, addresses[1]: 5}


def test_504_when_the_deadline_passes(front_end):
    """The model server holds a lone request 2 s in its batcher; the front end waits 0.5 s."""
    with grpc_server(ENABLE_BATCHING=True, BATCHING_TIMEOUT_MICROS=2_000_000) as slow:
        client = front_end(f"grpc://{slow.target}", MODEL_SERVER_TIMEOUT_SECONDS=0.5).test_client()
        response = client.post(PREDICT, json=BODY)
    assert response.status_code == 504
    assert "did not answer within the deadline of 0.5 s" in error_of(response)


class FaultyServicer:
    """A model server whose Predict answers what it should not (the rest is the real service)."""

    def __init__(self, real, fault: str) -> None:
        self.real = real
        self.fault = fault

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def Predict(self, request, context):  # noqa: N802 - the generated servicer's name
        if self.fault == "internal":
            context.abort(grpc.StatusCode.INTERNAL, "the model crashed")
        response = self.real.Predict(request, context)
        scores = response.outputs["scores"]
        scores.tensor_shape.dim[1].size = 31  # half the classes
        scores.tensor_content = scores.tensor_content[: len(scores.tensor_content) // 2]
        return response


@pytest.fixture
def faulty_server(grpc_model_server):
    """A gRPC server in front of the real service, with ``fault`` set by the test."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from webapp.grpc.prediction_service import PredictionServicer
    from webapp.settings import load_settings

    settings, _ = load_settings({}, environ={})
    real = PredictionServicer(grpc_model_server.core.service, settings.server_limits())
    servicer = FaultyServicer(real, "internal")
    server = grpc.server(futures.ThreadPoolExecutor(2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"grpc://127.0.0.1:{port}"
    server.stop(0)


@pytest.mark.parametrize(("fault", "message"), [
    ("internal", "answered INTERNAL: the model crashed"),
    ("malformed", "answered scores of shape [1, 31] for 1 images"),
])
def test_502_when_a_model_server_answers_what_it_should_not(front_end, faulty_server, fault, message):
    servicer, address = faulty_server
    servicer.fault = fault
    response = front_end(address).test_client().post("/predict", json=BODY)
    assert response.status_code == 502
    assert error_of(response) == f"model server {address} {message}"


def test_502_from_a_rest_model_server_error(front_end):
    """A REST model server answering 500 to :predict (its status route is fine)."""
    from werkzeug.wrappers import Request, Response

    status = orjson.dumps({"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                                     "status": {"error_code": "OK", "error_message": ""}}]})

    @Request.application
    def broken(request: Request) -> Response:
        if request.method == "GET":
            return Response(status, content_type="application/json")
        return Response(b'{"error": "out of memory"}', status=500, content_type="application/json")

    with served(broken) as address:
        response = front_end(address).test_client().post("/v1/models/emnist/versions/1:classify",
                                                         json={"examples": [{"images": [0.0] * 784}]})
    assert response.status_code == 502
    assert error_of(response) == f"model server {address} answered UNKNOWN: out of memory"


class SkewedReplicaServicer:
    """Two replicas behind one address while a version rolls out: Predict reaches the one that has the new
    version, the follow-up Classify (the version's labels) the one that does not yet, ``misses`` times."""

    def __init__(self, real, misses: int) -> None:
        self.real = real
        self.misses = misses

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def Classify(self, request, context):  # noqa: N802 - the generated servicer's name
        if self.misses > 0:
            self.misses -= 1
            version = request.model_spec.version.value
            context.abort(grpc.StatusCode.NOT_FOUND,
                          f"Servable not found for request: Specific(emnist, {version})")
        return self.real.Classify(request, context)


@pytest.mark.parametrize(("misses", "status"), [(1, 200), (10, 503)])
def test_a_version_missing_on_the_follow_up_call_is_retried(front_end, grpc_model_server, misses, status):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from webapp.grpc.prediction_service import PredictionServicer
    from webapp.settings import load_settings

    settings, _ = load_settings({}, environ={})
    servicer = SkewedReplicaServicer(PredictionServicer(grpc_model_server.core.service,
                                                        settings.server_limits()), misses)
    server = grpc.server(futures.ThreadPoolExecutor(2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
    address = f"grpc://127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    try:
        response = front_end(address, MODEL_SERVER_RETRIES=2).test_client().post("/predict", json=BODY)
    finally:
        server.stop(0)
    assert response.status_code == status, response.data
    if status == 503:
        assert "a replica behind the same address did not have it" in error_of(response)
