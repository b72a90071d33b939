"""The images, built and run: each target serves a mounted model folder over REST and gRPC, picks up a
version published into the mount, reports healthy, runs as its own user and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import time
import urllib.request

import grpc
import numpy as np
import pytest

from bench.containers import Container, image_config, publish_tree
from tests.support.paths import served_version_dir
from tf_serving_protos.tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tf_serving_protos.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

pytestmark = pytest.mark.container

#: SIGTERM to exit: within Kubernetes' default terminationGracePeriodSeconds (and SageMaker's 30 s).
GRACE_SECONDS = 30
MODEL = "emnist"


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def grpc_predict(target: str, images: np.ndarray, version: int | None = None) -> tuple[np.ndarray, int]:
    """TF Serving's Predict over gRPC with the generated stubs alone: (scores, the version that answered)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    if version is not None:
        request.model_spec.version.value = version
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, tensor_content=images.astype("<f4").tobytes(),
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in images.shape]))
    request.inputs["images"].CopyFrom(tensor)
    with grpc.insecure_channel(target) as channel:
        answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    scores = answer.outputs["scores"]
    shape = [dim.size for dim in scores.tensor_shape.dim]
    values = np.frombuffer(scores.tensor_content, "<f4") if scores.tensor_content else np.asarray(
        scores.float_val, np.float32)
    return values.reshape(shape), answer.model_spec.version.value


def wait_version(container: Container, version: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    states: list = []
    while time.monotonic() < deadline:
        states = get_json(container.url(8000, f"/v1/models/{MODEL}"))["model_version_status"]
        if any(state["version"] == str(version) and state["state"] == "AVAILABLE" for state in states):
            return
        time.sleep(0.5)
    raise AssertionError(f"version {version} never became AVAILABLE: {states}\n{container.logs()}")


@pytest.fixture
def images(validation_images) -> np.ndarray:
    pixels, _ = validation_images
    return pixels[:6].reshape(6, 784).astype(np.float32) / 255.0


def test_image_config_follows_the_contract(image):
    config = image_config(image)
    assert config["User"] == "10001:10001"
    # SIGHUP ignored from before tini starts the server (the server installs its reload handler itself).
    assert config["Entrypoint"][:4] == ["/usr/bin/env", "--ignore-signal=HUP", "/usr/bin/tini", "--"]
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert {"8000/tcp", "8500/tcp", "8080/tcp"} <= set(config["ExposedPorts"])
    environment = dict(item.split("=", 1) for item in config["Env"])
    assert environment["MODEL_BASE_PATH"] == "/models"
    assert environment["MODEL_NAME"] == MODEL


def test_serves_a_mounted_model_and_its_new_versions(image, tmp_path, images, onnx_reference):
    mount = tmp_path / "models"
    publish_tree(served_version_dir(), mount / MODEL / "1")
    mount.chmod(0o755)
    container = Container(image, env={"WEB_CONCURRENCY": "1", "EMNIST_GRPC_WORKERS": "1",
                                      "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0.5"},
                          volumes=[f"{mount}:/models:ro"]).start()
    try:
        ready = json.loads(container.wait_http(8000, "/readyz"))
        assert ready == {"status": "ready", "model": MODEL, "version": "1"}
        assert container.exec("python", "-m", "webapp.container_healthcheck").returncode == 0
        expected = onnx_reference(images)

        rest = post_json(container.url(8000, f"/v1/models/{MODEL}:predict"), {"instances": images.tolist()})
        np.testing.assert_allclose(rest["predictions"], expected, rtol=1e-4, atol=1e-5)
        scores, version = grpc_predict(container.target(8500), images)
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)
        assert version == 1

        # A new version copied into the mount (staged, then renamed, as the converter publishes it).
        staging = mount / MODEL / ".2.tmp"
        publish_tree(served_version_dir(), staging)
        staging.rename(mount / MODEL / "2")
        wait_version(container, 2)
        deadline = time.monotonic() + 60
        while grpc_predict(container.target(8500), images[:1])[1] != 2 and time.monotonic() < deadline:
            time.sleep(0.5)  # the gRPC worker scans the folder on its own
        scores, version = grpc_predict(container.target(8500), images)
        assert version == 2
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)
        assert get_json(container.url(8000, "/readyz"))["version"] == "2"

        # SIGHUP is a reload (a rescan; gunicorn's workers replaced, the old ones drained), not a stop.
        container.signal("HUP")
        deadline = time.monotonic() + 60
        while container.exec("python", "-m", "webapp.container_healthcheck").returncode != 0:
            assert time.monotonic() < deadline and container.running(), container.logs()
            time.sleep(0.5)

        container.signal("TERM")
        assert container.wait_exit(GRACE_SECONDS) == 0, container.logs()
    finally:
        container.remove()


def test_reads_a_tf_serving_model_config_file(image, tmp_path, images, onnx_reference):
    mount = tmp_path / "models"
    publish_tree(served_version_dir(), mount / "letters" / "7")
    (mount / "models.config").write_text(
        'model_config_list { config { name: "letters" base_path: "/models/letters" '
        'model_platform: "tensorflow" } }\n')
    for path in (mount, mount / "models.config"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    container = Container(image, command=["--model_config_file=/models/models.config", "--grpc_workers=1"],
                          env={"WEB_CONCURRENCY": "1", "MODEL_NAME": "letters"},
                          volumes=[f"{mount}:/models:ro"]).start()
    try:
        assert json.loads(container.wait_http(8000, "/readyz"))["version"] == "7"
        rest = post_json(container.url(8000, "/v1/models/letters:predict"), {"instances": images.tolist()})
        np.testing.assert_allclose(rest["predictions"], onnx_reference(images), rtol=1e-4, atol=1e-5)
    finally:
        container.remove()


#: Run by site at every Python start in the container (PYTHONPATH): the first process, the entrypoint,
#: sleeps, as a start on a loaded machine does (imports taking seconds), before any of its code runs.
SLOW_START = """\
import os
import time

if os.environ.pop("EMNIST_TEST_SLOW_START", None):
    time.sleep(float(os.environ.get("EMNIST_TEST_SLOW_START_SECONDS", "4")))
"""


def test_a_sighup_while_the_server_starts_does_not_stop_it(slim_image, tmp_path):
    # A reload asked for as the container starts (a config file published, `podman kill --signal HUP`) must
    # not stop it: SIGHUP's default action ends a process that has no handler for it yet.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_START)
    for path in (site, site / "sitecustomize.py"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    container = Container(slim_image, env={"WEB_CONCURRENCY": "1", "EMNIST_GRPC_WORKERS": "1",
                                           "PYTHONPATH": "/slow-start", "EMNIST_TEST_SLOW_START": "1"},
                          volumes=[f"{site}:/slow-start:ro"]).start()
    try:
        time.sleep(1.5)
        container.signal("HUP")
        ready = json.loads(container.wait_http(8000, "/readyz"))
        assert ready["status"] == "ready"
        assert container.running()
    finally:
        container.remove()
