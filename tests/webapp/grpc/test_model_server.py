"""The whole model server as separate processes (``python -m webapp.model_server``): REST and gRPC from one
command, gRPC worker processes sharing the port, a reload reaching every worker, and a clean SIGTERM."""

from __future__ import annotations

import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import psutil
import pytest
import requests
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc, prediction_service_pb2_grpc

from tests.support.grpc_servers import ModelServerProcess, free_port
from tests.support.model_versions import expected_scores, publish, write_onnx_version
from tests.support.paths import MODELS, SERVED_MODEL

pytestmark = pytest.mark.slow
IMAGES = np.random.default_rng(5).random((2, 784), dtype=np.float32)


def predict(target: str, name: str = SERVED_MODEL, timeout: float = 10.0):
    from serving_core.payloads.limits import ServerLimits
    from serving_core.payloads.tensor_protos import tensor_to_array
    from tf_serving_protos.tensorflow_serving.apis import predict_pb2
    from webapp.grpc.tensors import array_to_tensor

    answers = ServerLimits(max_instances=1024, max_image_pixels=0).budget()
    message = predict_pb2.PredictRequest()
    message.model_spec.name = name
    message.inputs["images"].CopyFrom(array_to_tensor(IMAGES))
    with grpc.insecure_channel(target) as channel:  # a new connection each time
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(message, timeout)
    return tensor_to_array(response.outputs["scores"], answers), response.model_spec.version.value


def alive(process: psutil.Process) -> bool:
    """Whether any thread of the process may still hold its files (its listening socket among them).

    A killed process's main thread can be a zombie while its other threads are still exiting with the
    socket open; only once the launcher has reaped it (the whole thread group is gone) is the socket
    surely closed.
    """
    try:
        process.status()
    except psutil.NoSuchProcess:
        return False
    return True


def grpc_workers(server: ModelServerProcess) -> list[psutil.Process]:
    """The launcher's live gRPC worker processes (its children other than gunicorn)."""
    workers = []
    for child in psutil.Process(server.process.pid).children():
        try:
            if "gunicorn" not in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.NoSuchProcess:  # gone, or a zombie not reaped yet
            continue
    return workers


def listening_on(process: psutil.Process, port: int) -> bool:
    try:
        connections = process.net_connections()
    except psutil.NoSuchProcess:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections)


def wait_for_workers(server: ModelServerProcess, count: int, excluded: int = 0) -> list[psutil.Process]:
    """Wait until ``count`` workers (none of them ``excluded``) listen on the gRPC port."""
    deadline = time.monotonic() + 60
    while True:
        workers = [w for w in grpc_workers(server) if w.pid != excluded]
        if len(workers) == count and all(listening_on(w, server.grpc_port) for w in workers):
            return workers
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)


def rest_ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False  # gunicorn is not listening yet


def test_one_command_serves_rest_and_grpc_from_every_worker_and_sigterm_stops_both(tmp_path):
    """Batching holds a lone request 1.5 s: one REST and one gRPC request are in flight at SIGTERM."""
    grpc_port, rest_port = free_port(), free_port()
    batching = {"ENABLE_BATCHING": True, "BATCHING_TIMEOUT_MICROS": 1_500_000}
    with ModelServerProcess(tmp_path / "server.log", grpc_port, rest_port, workers=2, **batching) as server:
        server.wait_serving()
        workers = wait_for_workers(server, 2)  # SO_REUSEPORT: every worker listens on the one port
        rest_url = f"http://127.0.0.1:{rest_port}"
        deadline = time.monotonic() + 60
        while not rest_ready(rest_url):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)

        with ThreadPoolExecutor(2) as pool:
            grpc_answer = pool.submit(predict, server.target)
            rest_answer = pool.submit(requests.post, f"{rest_url}/v1/models/{SERVED_MODEL}:predict",
                                      json={"instances": IMAGES.tolist()}, timeout=30)
            time.sleep(0.5)  # both are waiting in their batchers now
            started = time.monotonic()
            assert server.terminate() == 0, server.log()
            assert time.monotonic() - started >= 0.5  # it waited for the requests in flight
            scores, _ = grpc_answer.result()
            response = rest_answer.result()
        assert response.status_code == 200, response.text
        np.testing.assert_allclose(np.asarray(response.json()["predictions"], np.float32), scores, atol=1e-6)
        assert not any(alive(worker) for worker in workers)
        for port in (grpc_port, rest_port):
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


def test_a_dead_worker_is_replaced_and_a_reload_reaches_every_worker(tmp_path):
    models = tmp_path / "models"
    publish(write_onnx_version(tmp_path / "beta-1", seed=12), models / "beta", 1)
    grpc_port = free_port()
    with ModelServerProcess(tmp_path / "server.log", grpc_port, workers=2) as server:
        server.wait_serving()
        first, _ = wait_for_workers(server, 2)
        first.kill()
        deadline = time.monotonic() + 30  # generous liveness bounds: the suite may share the cores
        while alive(first):  # until then the kernel may still hand connections to its socket
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert predict(server.target, timeout=30)[0].shape == (2, 62)  # served meanwhile by the other worker
        wait_for_workers(server, 2, excluded=first.pid)  # and the killed one is replaced

        reload = model_management_pb2.ReloadConfigRequest()
        for name, base_path in (("emnist", str(MODELS / "emnist")), ("beta", str(models / "beta"))):
            reload.config.model_config_list.config.add(name=name, base_path=base_path)
        with grpc.insecure_channel(server.target) as channel:
            model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(reload, 30.0)
        deadline = time.monotonic() + 60
        reloaded = r"\[(\d+)\] INFO serving_core.server_core: reloading the model config: emnist, beta"
        # A worker logs the reload when it starts; the new model answers there once it has loaded.
        loaded = r"\[(\d+)\] INFO \S+: successfully loaded servable version \{name: beta version: 1\}"
        while min(len(set(re.findall(line, server.log()))) for line in (reloaded, loaded)) < 2:
            assert time.monotonic() < deadline, f"the reload did not reach both workers:\n{server.log()}"
            time.sleep(0.1)
        for _ in range(8):  # new connections, spread over the workers by the kernel
            scores, version = predict(server.target, "beta")
            np.testing.assert_allclose(scores, expected_scores(12, IMAGES), atol=1e-5)
            assert version == 1


def test_a_port_in_use_is_refused_clearly(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with ModelServerProcess(tmp_path / "server.log", port) as server:
            assert server.process.wait(30) == 1
            assert f"cannot listen on 127.0.0.1:{port} for gRPC" in server.log()


def test_a_worker_that_cannot_start_stops_the_server(tmp_path):
    missing = tmp_path / "missing.config"
    with ModelServerProcess(tmp_path / "server.log", free_port(), MODEL_CONFIG_FILE=str(missing)) as server:
        assert server.process.wait(60) == 1
        log = server.log()
    assert f"cannot read model config file {missing}" in log
    assert "a gRPC worker failed to start" in log
