"""A real front end (gunicorn, two workers, ``EMNIST_MODEL_SERVER``) and a real model server started after
it: ``/readyz`` answers 200 only once the next requests are answered, whichever worker takes them.

The front end is asked for predictions for a while before the model server starts, so that each worker's
channel has failed to connect a few times (gRPC then waits longer and longer before trying again).
"""

from __future__ import annotations

import http.client
import time

import orjson
import pytest

from tests.support.grpc_servers import ModelServerProcess, free_port
from tests.support.gunicorn import gunicorn_server
from tests.support.paths import SERVED_MODEL

pytestmark = pytest.mark.slow
PREDICT = f"/v1/models/{SERVED_MODEL}:predict"
BODY = orjson.dumps({"instances": [[0.0] * 784]})
HEADERS = {"Content-Type": "application/json"}
FAILING_SECONDS = 8.0
LIVENESS_SECONDS = 90.0


def status(server, method: str, path: str, body: bytes | None = None) -> int | None:
    """The status of one request on a new connection (None: not answered)."""
    try:
        return server.request(method, path, body, HEADERS if body else None, timeout=30)[0]
    except (OSError, http.client.HTTPException):
        return None


def test_readyz_answers_200_only_once_every_worker_taking_connections_reaches_a_model_server(tmp_path):
    grpc_port = free_port()
    env = {"EMNIST_MODEL_SERVER": f"grpc://127.0.0.1:{grpc_port}", "EMNIST_MODEL_SERVER_RETRIES": "1"}
    with gunicorn_server(tmp_path, workers=2, env=env, wait=False) as front_end:
        deadline = time.monotonic() + LIVENESS_SECONDS
        while front_end.log().count("Booting worker") < 2 or status(front_end, "GET", "/healthz") != 200:
            assert time.monotonic() < deadline, front_end.log()
            time.sleep(0.2)
        failing_until = time.monotonic() + FAILING_SECONDS
        while time.monotonic() < failing_until:  # no model server yet: both workers fail to connect
            assert status(front_end, "POST", PREDICT, BODY) == 503
            assert status(front_end, "GET", "/readyz") == 503
            time.sleep(0.2)

        with ModelServerProcess(tmp_path / "model-server.log", grpc_port) as model_server:
            while status(front_end, "GET", "/readyz") != 200:
                assert time.monotonic() < deadline + FAILING_SECONDS, model_server.log()
                time.sleep(0.1)
            answered = [front_end.request("POST", PREDICT, BODY, HEADERS, timeout=30) for _ in range(30)]
    refused = [(code, body[:300]) for code, _, body in answered if code != 200]
    assert refused == [], f"{refused}\n{front_end.log()[-3000:]}"
