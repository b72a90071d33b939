"""ModelService (GetModelStatus, HandleReloadConfigRequest) and grpc.health.v1, with the stock clients."""

from __future__ import annotations

import time

import grpc
import numpy as np
import orjson
import pytest
from grpc_health.v1 import health_pb2
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tests.support.grpc_servers import grpc_server, health_status
from tests.support.model_versions import expected_scores, publish, write_onnx_version
from tests.support.paths import SERVED_MODEL, served_version_dir

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
IMAGES = np.random.default_rng(3).random((2, 784), dtype=np.float32)


def status_request(name: str, version: int | None = None):
    message = get_model_status_pb2.GetModelStatusRequest()
    message.model_spec.name = name
    if version is not None:
        message.model_spec.version.value = version
    return message


def as_rest(response) -> list[dict]:
    """A GetModelStatusResponse in the REST route's JSON form (TF Serving's own printer options)."""
    from google.protobuf import json_format

    return json_format.MessageToDict(response, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)["model_version_status"]


def test_model_status_gives_the_rest_routes_states(models, app):
    response = models.GetModelStatus(status_request(SERVED_MODEL), 10.0)
    (entry,) = response.model_version_status
    assert entry.version == int(served_version_dir().name)
    assert entry.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    rest = orjson.loads(app.test_client().get(f"/v1/models/{SERVED_MODEL}").data)["model_version_status"]
    assert as_rest(response) == rest


@pytest.mark.parametrize(("message", "code", "details"), [
    (status_request(SERVED_MODEL, 7), grpc.StatusCode.NOT_FOUND, "Could not find version 7 of model emnist"),
    (status_request("nope"), grpc.StatusCode.NOT_FOUND, "Could not find any versions of model nope"),
    (get_model_status_pb2.GetModelStatusRequest(), grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec"),
])
def test_model_status_refusals(models, message, code, details):
    with pytest.raises(grpc.RpcError) as caught:
        models.GetModelStatus(message, 10.0)
    assert (caught.value.code(), caught.value.details()) == (code, details)


def test_health_reports_the_server_both_services_and_each_model(served):
    for service in ("", "tensorflow.serving.PredictionService", "tensorflow.serving.ModelService",
                    SERVED_MODEL):
        assert health_status(served.target, service) == SERVING, service
    with pytest.raises(grpc.RpcError) as caught:
        health_status(served.target, "nope")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_turns_not_serving_at_shutdown(tmp_path):
    with grpc_server() as server:
        assert health_status(server.target) == SERVING
        server.server.health.shutdown()  # what stop() does first, before refusing new RPCs
        assert health_status(server.target) == NOT_SERVING
        assert health_status(server.target, SERVED_MODEL) == NOT_SERVING


@pytest.fixture(scope="module")
def two_models(tmp_path_factory) -> dict[str, int]:
    """Two small ONNX models, ``alpha`` and ``beta``, each with version 1; name -> the seed of its weights."""
    root = tmp_path_factory.mktemp("models")
    seeds = {"alpha": 11, "beta": 12}
    for name, seed in seeds.items():
        publish(write_onnx_version(tmp_path_factory.mktemp(name) / "1", seed=seed), root / name, 1)
    seeds["root"] = root
    return seeds


def config_request(root, names: list[str]):
    message = model_management_pb2.ReloadConfigRequest()
    for name in names:
        message.config.model_config_list.config.add(name=name, base_path=str(root / name),
                                                    model_platform="tensorflow")
    return message


def predict(channel, name: str) -> np.ndarray:
    from serving_core.payloads.limits import ServerLimits
    from serving_core.payloads.tensor_protos import tensor_to_array
    from webapp.grpc.tensors import array_to_tensor

    answers = ServerLimits(max_instances=1024, max_image_pixels=0).budget()
    message = predict_pb2.PredictRequest()
    message.model_spec.name = name
    message.inputs["images"].CopyFrom(array_to_tensor(IMAGES))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return tensor_to_array(stub.Predict(message, 10.0).outputs["scores"], answers)


def wait_for_health(target: str, service: str, wanted: int, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if health_status(target, service) == wanted:
                return
        except grpc.RpcError:
            pass  # not known yet
        assert time.monotonic() < deadline, f"health of {service!r} never became {wanted}"
        time.sleep(0.05)


def test_reload_config_replaces_the_running_one(two_models):
    root = two_models["root"]
    with grpc_server(MODEL_BASE_PATH=str(root), MODEL_NAME="alpha") as server, \
            grpc.insecure_channel(server.target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        np.testing.assert_allclose(predict(channel, "alpha"), expected_scores(11, IMAGES), atol=1e-5)
        response = stub.HandleReloadConfigRequest(config_request(root, ["beta"]), 30.0)
        assert response.status.error_code == 0
        np.testing.assert_allclose(predict(channel, "beta"), expected_scores(12, IMAGES), atol=1e-5)
        with pytest.raises(grpc.RpcError) as caught:
            predict(channel, "alpha")
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert health_status(server.target, "beta") == SERVING  # updated by the reload itself
        assert health_status(server.target, "alpha") == UNKNOWN
        assert health_status(server.target) == SERVING


@pytest.mark.parametrize(("message", "details"), [
    (model_management_pb2.ReloadConfigRequest(), "ServerModelConfig type not supported by "
     "HandleReloadConfigRequest. Only ModelConfigList is currently supported"),
    (config_request(__import__("pathlib").Path("/models"), ["a", "a"]),
     "model_config_list.config[1]: duplicate model name 'a'"),
])
def test_invalid_reloads_are_refused_and_change_nothing(models, prediction, message, details):
    with pytest.raises(grpc.RpcError) as caught:
        models.HandleReloadConfigRequest(message, 10.0)
    assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, details)
    assert models.GetModelStatus(status_request(SERVED_MODEL), 10.0).model_version_status
