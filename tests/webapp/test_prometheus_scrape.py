"""The whole model server scraped by a real Prometheus: two gunicorn workers and two gRPC worker processes
take a known load on REST and gRPC, and Prometheus's own query API returns exactly those counts (every
process counted once); a killed worker's live gauges leave the sum while the counts stay; the launcher's
metrics folder is gone after it stops.

Prometheus is Debian's ``prometheus`` package (``make system-packages``), started here on loopback.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import psutil
import pytest
import requests
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from emnist_contract.tensors import NUM_PIXELS
from tests.support.grpc_servers import ModelServerProcess, free_port
from tests.support.metrics_text import samples, total
from tests.support.paths import SERVED_MODEL
from webapp.grpc.tensors import array_to_tensor

pytestmark = pytest.mark.slow

PROMETHEUS = shutil.which("prometheus")
PREDICT_RULE = "/v1/models/<model:name>:predict"
REST_OK, REST_REFUSED, V2_OK, GRPC_OK, GRPC_IMAGES = 24, 3, 5, 12, 2
WAIT_SECONDS = 60.0


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ModelServerProcess]:
    folder = tmp_path_factory.mktemp("scraped")
    with pytest.MonkeyPatch.context() as patch:  # two gunicorn workers; the launcher makes the folder
        patch.setenv("WEB_CONCURRENCY", "2")
        patch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
        process = ModelServerProcess(folder / "server.log", free_port(), free_port(), workers=2)
    with process:
        process.wait_serving()
        wait_until(lambda: live_state_total(process) == 4, "every process has the model AVAILABLE", process)
        yield process


@pytest.fixture(scope="module")
def prometheus(server, tmp_path_factory) -> Iterator[str]:
    if PROMETHEUS is None:
        pytest.skip("Debian's prometheus is not installed (make system-packages installs it)")
    folder = tmp_path_factory.mktemp("prometheus")
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: emnist\n    metrics_path: /monitoring/prometheus/metrics\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{server.rest_port}']\n", encoding="utf-8")
    port = free_port()
    log = (folder / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: ready(url), "Prometheus answers", None)
        yield url
    finally:
        process.terminate()
        process.wait(20)
        log.close()


def wait_until(condition, what: str, server: ModelServerProcess | None) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"not within {WAIT_SECONDS} s: {what}" + (f"\n{server.log()}" if server else ""))


def ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def scrape(server: ModelServerProcess) -> dict:
    """One scrape of the server (a new connection: any worker may answer it)."""
    answer = requests.get(f"http://127.0.0.1:{server.rest_port}/metrics", timeout=10,
                          headers={"Connection": "close"})
    assert answer.status_code == 200
    return samples(answer.text)


def live_state_total(server: ModelServerProcess) -> float:
    try:
        return total(scrape(server), "emnist_model_version_state", model_name=SERVED_MODEL, state="AVAILABLE")
    except requests.ConnectionError:
        return -1


def query(prometheus: str, expression: str) -> float | None:
    """The value of an instant query (None while Prometheus has no sample for it)."""
    answer = requests.get(f"{prometheus}/api/v1/query", params={"query": expression}, timeout=10).json()
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def grpc_predict(target: str) -> None:
    message = predict_pb2.PredictRequest()
    message.model_spec.name = SERVED_MODEL
    message.inputs["images"].CopyFrom(array_to_tensor(np.zeros((GRPC_IMAGES, NUM_PIXELS), np.float32)))
    with grpc.insecure_channel(target) as channel:  # a connection each: SO_REUSEPORT spreads them
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(message, timeout=10)


@pytest.fixture(scope="module")
def loaded(server) -> ModelServerProcess:
    """The known load, each request on a connection of its own."""
    rest = f"http://127.0.0.1:{server.rest_port}"
    image = {"instances": np.zeros((1, NUM_PIXELS)).tolist()}
    close = {"Connection": "close"}
    for _ in range(REST_OK):
        assert requests.post(f"{rest}/v1/models/{SERVED_MODEL}:predict", json=image, headers=close,
                             timeout=10).status_code == 200
    for _ in range(REST_REFUSED):
        assert requests.post(f"{rest}/v1/models/{SERVED_MODEL}:predict", json={"instances": "no"},
                             headers=close, timeout=10).status_code == 400
    v2 = {"inputs": [{"name": "images", "shape": [1, NUM_PIXELS], "datatype": "FP32",
                      "data": [0.0] * NUM_PIXELS}]}
    for _ in range(V2_OK):
        assert requests.post(f"{rest}/v2/models/{SERVED_MODEL}/infer", json=v2, headers=close,
                             timeout=10).status_code == 200
    for _ in range(GRPC_OK):
        grpc_predict(server.target)
    return server


REST_PREDICT = f'protocol="tfserving-rest",route="{PREDICT_RULE}"'
EXPECTED = {
    f'sum(emnist_requests_total{{{REST_PREDICT},code="200"}})': REST_OK,
    f'sum(emnist_requests_total{{{REST_PREDICT},code="400"}})': REST_REFUSED,
    'sum(emnist_requests_total{protocol="v2-rest",code="200"})': V2_OK,
    'sum(emnist_requests_total{protocol="tfserving-grpc",route="Predict",code="OK"})': GRPC_OK,
    f'sum({{__name__=":tensorflow:serving:request_count",model_name="{SERVED_MODEL}",status="OK"}})':
        REST_OK + V2_OK + GRPC_OK,
    f'sum({{__name__=":tensorflow:serving:request_count",model_name="{SERVED_MODEL}",'
    'status="INVALID_ARGUMENT"})': REST_REFUSED,
    'sum({__name__=":tensorflow:serving:request_latency_count",entrypoint="GRPC"})': GRPC_OK,
    'sum({__name__=":tensorflow:serving:request_latency_count",entrypoint="REST"})':
        REST_OK + REST_REFUSED + V2_OK,
    'sum(emnist_request_images_sum{protocol="tfserving-grpc"})': GRPC_OK * GRPC_IMAGES,
    f'sum(emnist_model_version_state{{model_name="{SERVED_MODEL}",state="AVAILABLE"}})': 4,
}


def test_prometheus_sums_every_process_once(loaded, prometheus):
    def answered() -> bool:
        return all(query(prometheus, expression) == value for expression, value in EXPECTED.items())

    deadline = time.monotonic() + WAIT_SECONDS
    while not answered():
        if time.monotonic() > deadline:
            found = {expression: query(prometheus, expression) for expression in EXPECTED}
            raise AssertionError(f"Prometheus's sums {found}, expected {EXPECTED}")
        time.sleep(0.5)


def test_every_worker_answers_the_same_sums(loaded):
    """Whichever gunicorn worker answers a scrape, it reads every process's files (each process writes its
    counts there within a second)."""
    def answered() -> float:
        return total(scrape(loaded), "emnist_requests_total", code="200", route=PREDICT_RULE)

    wait_until(lambda: answered() == REST_OK, "every worker's counts written", loaded)
    assert {answered() for _ in range(8)} == {REST_OK}


def test_a_killed_worker_leaves_the_live_gauges_and_its_counts_stay(loaded):
    before = total(scrape(loaded), "emnist_requests_total", code="200", route=PREDICT_RULE)
    gunicorn = next(child for child in psutil.Process(loaded.process.pid).children()
                    if "gunicorn" in " ".join(child.cmdline()))
    workers = gunicorn.children()
    assert len(workers) == 2
    folder = Path(workers[0].environ()["PROMETHEUS_MULTIPROC_DIR"])
    assert folder.is_dir()
    workers[0].send_signal(signal.SIGKILL)
    # gunicorn starts another worker; the dead one's AVAILABLE no longer counts, the new one's does.
    wait_until(lambda: len([w for w in gunicorn.children() if w.pid != workers[0].pid]) == 2
               and live_state_total(loaded) == 4, "the killed worker replaced", loaded)
    assert total(scrape(loaded), "emnist_requests_total", code="200", route=PREDICT_RULE) == before
    assert loaded.terminate() == 0
    assert not folder.exists()
