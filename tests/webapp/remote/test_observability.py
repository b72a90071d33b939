"""The front end forwards each request's id to the model servers it calls (gRPC metadata, REST header), so
the model server's lines of that work carry the client's id; its calls are counted by server and outcome."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import numpy as np
import pytest

from emnist_contract.tensors import NUM_PIXELS
from serving_core import metrics
from tests.support.grpc_servers import grpc_server
from tests.support.metrics_text import samples, total
from tests.support.paths import SERVED_MODEL
from tests.support.servers import served
from webapp.log_format import JsonFormatter, RequestIdFilter

PREDICT = f"/v1/models/{SERVED_MODEL}:predict"
BODY = {"instances": np.zeros((1, NUM_PIXELS)).tolist()}


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """The access-log lines written meanwhile, as JSON (the front end's and the model servers': one
    process)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("emnist.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)


def lines_of(access_log: io.StringIO, request_id: str) -> list[dict]:
    return [line for line in map(json.loads, access_log.getvalue().splitlines())
            if line["request_id"] == request_id]


def test_the_grpc_model_server_sees_the_front_ends_request_id(front_end, access_log):
    with grpc_server(ACCESS_LOG=True) as model_server:
        url = f"grpc://{model_server.target}"
        client = front_end(url, ACCESS_LOG=True).test_client()
        before = total(samples(metrics.exposition()), "emnist_remote_calls_total", server=url, outcome="OK")
        answer = client.post(PREDICT, json=BODY, headers={"X-Request-ID": "forwarded-grpc"})
        assert answer.status_code == 200 and answer.headers["X-Request-ID"] == "forwarded-grpc"
        lines = lines_of(access_log, "forwarded-grpc")
        after = total(samples(metrics.exposition()), "emnist_remote_calls_total", server=url, outcome="OK")
    protocols = [line["protocol"] for line in lines]
    assert "tfserving-rest" in protocols  # the front end's own line
    assert "tfserving-grpc" in protocols  # the model server's: its RPCs carry the same id
    assert after - before >= 1


def test_the_rest_model_server_sees_the_front_ends_request_id(front_end, make_app, access_log):
    with served(make_app(ACCESS_LOG=True)) as url:
        client = front_end(url, ACCESS_LOG=True).test_client()
        answer = client.post(PREDICT, json=BODY, headers={"X-Request-ID": "forwarded-rest"})
        assert answer.status_code == 200
        lines = lines_of(access_log, "forwarded-rest")
    front = next(line for line in lines if line["path"] == PREDICT)
    assert front["model"] == SERVED_MODEL and isinstance(front["version"], int)
    pinned = "/v1/models/<model:name>/versions/<int:version>:predict"  # the version the front end chose
    assert any(line["route"] == pinned for line in lines)  # the model server's line


def test_a_failing_model_server_is_counted_by_outcome(front_end):
    url = "grpc://127.0.0.1:1"  # nothing listens there
    client = front_end(url, MODEL_SERVER_RETRIES=0, MODEL_SERVER_TIMEOUT_SECONDS=2).test_client()
    def failures() -> float:
        found = samples(metrics.exposition())
        return total(found, "emnist_remote_calls_total", server=url, outcome="UNAVAILABLE")

    before = failures()
    assert client.post(PREDICT, json=BODY).status_code == 503
    assert failures() - before == 1
