"""Hot reload through HTTP: the Flask app and two gunicorn workers switch versions under load."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.load import IMAGES, MAX_SECONDS, SEED_OF_VERSION, LoadRunner, version_of
from tests.support.model_versions import publish, write_onnx_version
from tests.support.paths import REPO


@pytest.fixture(scope="module")
def onnx_versions(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("onnx_versions")
    return {v: write_onnx_version(root / str(v), seed=seed) for v, seed in SEED_OF_VERSION.items()}


def test_flask_app_switches_versions_under_load(tmp_path, onnx_versions):
    """Through the app: TF Serving's REST predict and /predict from several threads while versions change."""
    from webapp import create_app

    base = tmp_path / "models" / "emnist"
    publish(onnx_versions[1], base, 1)
    app = create_app({
        "MODEL_BASE_PATH": str(tmp_path / "models"), "MODEL_NAME": "emnist", "ENGINE": "onnxruntime",
        "FILE_SYSTEM_POLL_SECONDS": 0.05, "MODEL_RELOAD_ON_SIGHUP": False,
        "MODEL_VERSION_POLICY": "latest:2", "MODEL_VERSION_LABELS": "stable=1,canary=2",
    })
    core = app.extensions["serving_core"]
    local = threading.local()
    body = {"instances": IMAGES.tolist()}

    def request() -> tuple[int, np.ndarray]:
        client = getattr(local, "client", None) or app.test_client()
        local.client = client
        local.count = getattr(local, "count", 0) + 1
        if local.count % 2:  # TF Serving's REST API: the scores say which version answered
            answer = client.post("/v1/models/emnist:predict", json=body)
            assert answer.status_code == 200, answer.get_data(as_text=True)
            scores = np.asarray(answer.get_json()["predictions"], np.float32)
            return version_of(scores), scores
        answer = client.post("/predict", json=body)  # the app's own API names the version
        assert answer.status_code == 200, answer.get_data(as_text=True)
        document = answer.get_json()
        assert document["model_spec"]["name"] == "emnist"
        return int(document["model_spec"]["version"]), np.asarray(document["predictions"], np.float32)

    try:
        client = app.test_client()
        # Label "canary" waits for version 2: TF Serving's 400 for an unknown label until then.
        refused = client.post("/v1/models/emnist/labels/canary:predict", json=body)
        assert refused.status_code == 400
        assert refused.get_json() == {"error": "Unrecognized servable version label: canary"}
        with LoadRunner(request) as load:
            load.wait_until_every_thread_saw(1, then_requests=5)
            publish(onnx_versions[2], base, 2)
            load.wait_until_every_thread_saw(2, then_requests=10)
            for answers in load.answers:
                assert set(answers[answers.index(2):]) == {2}
        assert load.failures == []

        status = client.get("/v1/models/emnist").get_json()
        assert status == {"model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
        ]}
        for label, version in (("stable", 1), ("canary", 2)):
            answer = client.post(f"/v1/models/emnist/labels/{label}:predict", json=body)
            assert version_of(np.asarray(answer.get_json()["predictions"])) == version
            assert client.get(f"/v1/models/emnist/labels/{label}").get_json()["model_version_status"][0][
                "version"] == str(version)

        # A corrupt version 3: reported through the status route; "latest:2" now means versions 1 and 2.
        broken = tmp_path / "broken"
        shutil.copytree(onnx_versions[3], broken)
        (broken / "model.onnx").write_bytes(b"\x00" * 64)
        publish(broken, base, 3)
        deadline = time.monotonic() + MAX_SECONDS
        while client.get("/v1/models/emnist/versions/3").status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.01)
        while core.manager.status("emnist", version=3)[0]["state"] != "END" and time.monotonic() < deadline:
            time.sleep(0.01)
        (entry,) = client.get("/v1/models/emnist/versions/3").get_json()["model_version_status"]
        assert entry["state"] == "END" and entry["status"]["error_code"] != "OK"
        assert "model.onnx" in entry["status"]["error_message"]
        answer = client.post("/predict", json=body).get_json()
        assert answer["model_spec"]["version"] == "2"

        # Version 1 removed: unloaded; asking for it is TF Serving's 404.
        shutil.rmtree(base / "1")
        while core.manager.status("emnist", version=1)[0]["state"] != "END" and time.monotonic() < deadline:
            time.sleep(0.01)
        missing = client.post("/v1/models/emnist/versions/1:predict", json=body)
        assert missing.status_code == 404
        assert missing.get_json() == {"error": "Servable not found for request: Specific(emnist, 1)"}
    finally:
        core.stop()


# A worker's log line (wsgi.py's format carries the pid) saying it made a version AVAILABLE.
LOADED = (r"\[(\d+)\] INFO serving_core.lifecycle.manager: "
          r"successfully loaded servable version \{{name: emnist version: {version}\}}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_gunicorn_workers_converge_and_reload_on_sighup(tmp_path, onnx_versions):
    """Two gunicorn workers, each with its own serving core polling the same folder, all answer version 2;
    SIGHUP to a worker re-reads the model config file (which is otherwise read once)."""
    import psutil
    import requests
    base = tmp_path / "models" / "emnist"
    publish(onnx_versions[1], base, 1)
    config = tmp_path / "models.config"
    model = 'name: "emnist" base_path: "models/emnist" model_platform: "tensorflow"'
    config.write_text(f"model_config_list {{ config {{ {model} }} }}")
    port = free_port()
    repo = REPO
    env = dict(os.environ, EMNIST_MODEL_CONFIG_FILE=str(config), EMNIST_MODEL_NAME="emnist",
               EMNIST_ENGINE="onnxruntime", EMNIST_FILE_SYSTEM_POLL_SECONDS="0.2", WEB_CONCURRENCY="2",
               GUNICORN_ACCESSLOG="/dev/null")
    log_path = tmp_path / "gunicorn.log"
    log_file = open(log_path, "w")  # noqa: SIM115 - closed in finally, after the server stops
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(repo / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=repo, env=env, stdout=log_file, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    body = {"instances": IMAGES.tolist()}
    try:
        # Both workers must have booted (each loads version 1 itself) before anything changes: a worker
        # booting late would read the new files at start instead of through polling and SIGHUP.
        deadline = time.monotonic() + 60
        while len(set(re.findall(LOADED.format(version=1), log_path.read_text()))) < 2:
            assert server.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the gunicorn workers did not both load version 1"
            time.sleep(0.1)
        assert requests.get(f"{url}/readyz", timeout=5).status_code == 200
        local = threading.local()

        def request() -> tuple[int, np.ndarray]:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            answer = session.post(f"{url}/predict", json=body, timeout=10)
            answer.raise_for_status()
            document = answer.json()
            return int(document["model_spec"]["version"]), np.asarray(document["predictions"], np.float32)

        with LoadRunner(request) as load:
            load.wait_until_every_thread_saw(1, then_requests=5)
            published = time.monotonic()
            publish(onnx_versions[2], base, 2)
            load.wait_until_every_thread_saw(2, then_requests=25)
            switch_seconds = time.monotonic() - published
        assert load.failures == []
        assert {answer for answers in load.answers for answer in answers[-25:]} == {2}
        print(f"{load.count()} requests, every client on version 2 within {switch_seconds:.2f} s")

        # A label added to the config file is not seen (no config polling) until SIGHUP reaches the workers.
        labelled = f'{model} version_labels {{ key: "canary" value: 2 }}'
        config.write_text(f"model_config_list {{ config {{ {labelled} }} }}")
        canary = f"{url}/v1/models/emnist/labels/canary:predict"
        time.sleep(0.5)
        assert {requests.post(canary, json=body, timeout=10).status_code for _ in range(10)} == {400}
        workers = psutil.Process(server.pid).children()
        assert len(workers) == 2
        for worker in workers:
            os.kill(worker.pid, signal.SIGHUP)
        deadline = time.monotonic() + MAX_SECONDS
        answers: list[int] = []
        while time.monotonic() < deadline and answers[-30:] != [200] * 30:
            answers.append(requests.post(canary, json=body, timeout=10).status_code)  # fresh connections
        assert answers[-30:] == [200] * 30, answers
        assert version_of(np.asarray(requests.post(canary, json=body, timeout=10).json()["predictions"])) == 2
        assert [worker.is_running() for worker in workers] == [True, True]  # SIGHUP did not kill them
    finally:
        server.terminate()
        server.wait(30)
        log_file.close()
    log_text = log_path.read_text()
    # Each worker process loaded version 2 itself (the log format carries the worker's pid).
    assert len(set(re.findall(LOADED.format(version=2), log_text))) == 2, log_text[-3000:]
    assert len(set(re.findall(r"\[(\d+)\] INFO serving_core.lifecycle.watcher: SIGHUP", log_text))) == 2


