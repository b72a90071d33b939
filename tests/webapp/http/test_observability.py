"""Observing HTTP requests: the metrics count known requests on every REST protocol (fast paths and Flask's
routes), X-Request-ID is taken or made and returned on every answer, the access log (plain and JSON)
and every other line of a request carry its id, and the model lifecycle logs structured events."""

from __future__ import annotations

import io
import json
import logging
import re

import numpy as np
import pytest
from flask import Flask
from graphpipe import convert

from emnist_contract.tensors import NUM_PIXELS
from serving_core.metrics import LATENCY_MICROS_BUCKETS
from tests.support.metrics_text import samples, total
from tests.support.paths import REPO, SERVED_MODEL
from webapp.log_format import JsonFormatter, RequestIdFilter

IMAGE = np.zeros((1, NUM_PIXELS), dtype=np.float32)
PREDICT = f"/v1/models/{SERVED_MODEL}:predict"
PREDICT_RULE = "/v1/models/<model:name>:predict"
HEX_ID = re.compile(r"[0-9a-f]{32}\Z")
LETTER = (REPO / "test_images" / "A_upper_0.png").read_bytes()


@pytest.fixture(scope="module")
def observed_app(make_module_app) -> Flask:
    return make_module_app(ACCESS_LOG=True, MAX_INSTANCES=4)


@pytest.fixture
def client(observed_app):
    return observed_app.test_client()


def scrape(client) -> dict:
    answer = client.get("/monitoring/prometheus/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    return samples(answer.data)


class Lines:
    """The access log's lines as the server's handler would write them, plain and JSON."""

    def __init__(self) -> None:
        self.plain, self.json = io.StringIO(), io.StringIO()
        self.handlers = []
        for stream, formatter in ((self.plain, logging.Formatter("%(message)s%(request_suffix)s")),
                                  (self.json, JsonFormatter())):
            handler = logging.StreamHandler(stream)
            handler.addFilter(RequestIdFilter())
            handler.setFormatter(formatter)
            self.handlers.append(handler)

    def __enter__(self) -> Lines:
        for handler in self.handlers:
            logging.getLogger().addHandler(handler)
        logging.getLogger("emnist.access").setLevel(logging.INFO)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handler in self.handlers:
            logging.getLogger().removeHandler(handler)

    def documents(self) -> list[dict]:
        return [json.loads(line) for line in self.json.getvalue().splitlines()]


def test_known_requests_on_every_rest_protocol_are_counted(client):
    before = scrape(client)
    for _ in range(3):
        assert client.post(PREDICT, json={"instances": IMAGE.tolist()}).status_code == 200
    assert client.post(PREDICT, json={"instances": [[0.0] * 3]}).status_code == 400
    assert client.post("/predict", data=LETTER, content_type="image/png").status_code == 200
    v2 = {"inputs": [{"name": "images", "shape": [2, NUM_PIXELS], "datatype": "FP32",
                      "data": [0.0] * (2 * NUM_PIXELS)}]}
    assert client.post(f"/v2/models/{SERVED_MODEL}/infer", json=v2).status_code == 200
    graphpipe = bytes(convert.serialize_infer_request(
        convert.InferReq(None, [IMAGE], ["images"], ["scores"])))
    assert client.post(f"/graphpipe/{SERVED_MODEL}", data=graphpipe).status_code == 200
    page = {"image": (io.BytesIO(LETTER), "char.png")}
    assert client.post("/", data=page, content_type="multipart/form-data").status_code == 200
    assert client.get(f"/v1/models/{SERVED_MODEL}").status_code == 200
    assert client.get("/no/such/path").status_code == 404
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("emnist_requests_total", protocol="tfserving-rest", route=PREDICT_RULE, code="200") == 3
    assert grew("emnist_requests_total", protocol="tfserving-rest", route=PREDICT_RULE, code="400") == 1
    assert grew("emnist_requests_total", protocol="predict", route="/predict", code="200") == 1
    assert grew("emnist_requests_total", protocol="v2-rest", code="200") == 1
    assert grew("emnist_requests_total", protocol="graphpipe", code="200") == 1
    assert grew("emnist_requests_total", protocol="page", route="/", code="200") == 1
    assert grew("emnist_requests_total", protocol="tfserving-rest", route="/v1/models/<model:name>",
                code="200") == 1
    assert grew("emnist_requests_total", route="unmatched", code="404") == 1
    # TF Serving's own: every inference request by model and status, its latency histogram by API.
    assert grew(":tensorflow:serving:request_count", model_name=SERVED_MODEL, status="OK") == 7
    assert grew(":tensorflow:serving:request_count", model_name=SERVED_MODEL, status="INVALID_ARGUMENT") == 1
    assert grew(":tensorflow:serving:request_latency_count", model_name=SERVED_MODEL, API="Predict",
                entrypoint="REST") == 8
    assert grew(":tensorflow:serving:runtime_latency_count", model_name=SERVED_MODEL) == 7
    assert grew("emnist_request_images_sum", protocol="v2-rest") == 2
    assert grew("emnist_upload_decode_seconds_count") == 2  # the /predict upload and the page's


def test_a_model_no_one_serves_is_no_label_value_and_odd_names_keep_the_text_readable(client):
    """Names a client makes up (a typo, a scanner, a fuzzer's U+2028) make no series of their own: each
    is counted under model_name="" and the scrape still reads line by line."""
    before = scrape(client)
    for name in ("nope", "no\u2028pe", "x\u0085y"):
        path = f"/v1/models/{name}:predict"
        assert client.post(path, json={"instances": IMAGE.tolist()}).status_code == 404
    text = client.get("/metrics").get_data(as_text=True)
    after = samples(text)
    names = {dict(labels).get("model_name") for (name, labels) in after
             if name == ":tensorflow:serving:request_count"}
    assert not {"nope", "no\u2028pe", "x\u0085y"} & names
    assert total(after, ":tensorflow:serving:request_count", model_name="", status="NOT_FOUND") - total(
        before, ":tensorflow:serving:request_count", model_name="", status="NOT_FOUND") == 3


def test_tf_serving_names_buckets_and_types(client):
    text = client.get("/metrics").data.decode()
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert "# TYPE :tensorflow:serving:request_latency histogram" in text
    assert ":tensorflow:serving:request_count_total" not in text
    found = samples(text)
    bounds = sorted({float(dict(labels)["le"]) for name, labels in found
                     if name == ":tensorflow:serving:request_latency_bucket"})
    assert bounds[:-1] == pytest.approx(LATENCY_MICROS_BUCKETS) and bounds[-1] == float("inf")
    assert total(found, "emnist_model_version_state", model_name=SERVED_MODEL, state="AVAILABLE") >= 1
    assert total(found, "emnist_model_loads_total", model_name=SERVED_MODEL, outcome="success") >= 1
    assert total(found, ":tensorflow:serving:model_warmup_latency_count", status="OK") >= 1


def test_refusals_are_counted_by_their_limit(client):
    before = total(scrape(client), "emnist_refusals_total", limit="MAX_INSTANCES")
    answer = client.post(PREDICT, json={"instances": np.zeros((5, NUM_PIXELS)).tolist()})
    assert answer.status_code == 400 and "MAX_INSTANCES" in answer.get_json()["error"]
    assert total(scrape(client), "emnist_refusals_total", limit="MAX_INSTANCES") - before == 1


@pytest.mark.parametrize("method, path, body, status", [
    ("POST", PREDICT, {"instances": IMAGE.tolist()}, 200),  # the fast path
    ("POST", PREDICT, {"instances": "no"}, 400),  # the fast path's refusal
    ("GET", f"/v1/models/{SERVED_MODEL}", None, 200),  # Flask
    ("GET", "/v1/models/nope", None, 404),
    ("GET", "/no/such/path", None, 404),
    ("GET", "/", None, 200),  # the page
    ("GET", "/healthz", None, 200),
])
def test_the_request_id_is_returned_on_every_answer(client, method, path, body, status):
    answer = client.open(path, method=method, json=body, headers={"X-Request-ID": "trace-42"})
    assert answer.status_code == status
    assert answer.headers["X-Request-ID"] == "trace-42"
    made = client.open(path, method=method, json=body)
    assert HEX_ID.match(made.headers["X-Request-ID"])


@pytest.mark.parametrize("given", ["x" * 201, "tab\there"])
def test_an_unusable_request_id_is_replaced(client, given):
    answer = client.get("/healthz", headers={"X-Request-ID": given})
    assert HEX_ID.match(answer.headers["X-Request-ID"])


def test_access_log_lines_carry_the_request_id_plain_and_json(client):
    with Lines() as lines:
        assert client.post(PREDICT, json={"instances": IMAGE.tolist()},
                           headers={"X-Request-ID": "req-plain-1"}).status_code == 200
        assert client.post(PREDICT, json={"instances": "no"},
                           headers={"X-Request-ID": "req-plain-2"}).status_code == 400
    plain = lines.plain.getvalue().splitlines()
    assert len(plain) == 2
    assert plain[0].startswith(f'POST {PREDICT} "{PREDICT_RULE}" 200 ')
    assert f"model={SERVED_MODEL} version=" in plain[0] and plain[0].endswith("[request_id=req-plain-1]")
    assert " 400 " in plain[1] and plain[1].endswith("[request_id=req-plain-2]")
    first, second = lines.documents()
    assert first["event"] == "access" and first["request_id"] == "req-plain-1"
    assert (first["method"], first["path"], first["route"], first["status"]) == (
        "POST", PREDICT, PREDICT_RULE, "200")
    assert first["model"] == SERVED_MODEL and isinstance(first["version"], int)
    assert first["bytes"] > 0 and first["latency_ms"] >= 0 and first["protocol"] == "tfserving-rest"
    assert second["request_id"] == "req-plain-2" and second["status"] == "400"


def test_every_line_of_a_request_carries_its_id(client, observed_app, monkeypatch):
    def broken(request):
        raise RuntimeError("the model fell over")

    monkeypatch.setattr(observed_app.extensions["inference_service"], "predict", broken)
    with Lines() as lines:
        answer = client.post(PREDICT, json={"instances": IMAGE.tolist()}, headers={"X-Request-ID": "req-500"})
    assert answer.status_code == 500 and answer.headers["X-Request-ID"] == "req-500"
    documents = lines.documents()
    assert {document["logger"] for document in documents} >= {"emnist.access", "webapp.http.refusals"}
    assert all(document["request_id"] == "req-500" for document in documents)


def test_no_access_log_when_off(make_app):
    quiet = make_app(ACCESS_LOG=False, START_REGISTRY=False).test_client()
    with Lines() as lines:
        quiet.get("/healthz")
    assert lines.plain.getvalue() == ""


def test_metrics_off_answers_404(make_app):
    off = make_app(METRICS=False, START_REGISTRY=False).test_client()
    answer = off.get("/monitoring/prometheus/metrics")
    assert answer.status_code == 404 and "EMNIST_METRICS" in answer.get_json()["error"]


def test_lifecycle_events_are_structured(make_app, tmp_path, caplog):
    from tests.support.model_versions import write_onnx_version

    base = tmp_path / SERVED_MODEL
    write_onnx_version(base / "1", seed=1)
    (base / "2").mkdir()
    (base / "2" / "model.onnx").write_bytes(b"not a model")
    with caplog.at_level(logging.INFO, logger="serving_core.lifecycle.manager"):
        application = make_app(MODEL_BASE_PATH=str(tmp_path), MODEL_VERSION_POLICY="all",
                               MODEL_SETTLE_SECONDS=0)
        application.extensions["serving_core"].stop()
    events = [(record.event, record.model_version) for record in caplog.records if hasattr(record, "event")]
    assert ("loading", 1) in events and ("available", 1) in events and ("loading", 2) in events
    assert ("unloading", 1) in events
    failed = next(record for record in caplog.records if getattr(record, "event", "") == "failed")
    assert failed.model_name == SERVED_MODEL and failed.model_version == 2 and failed.error_message
    document = json.loads(JsonFormatter().format(failed))
    assert document["event"] == "failed" and document["error_code"] and document["state"] == "END"


def test_graphpipes_own_port_is_observed_too(make_app):
    application = make_app(GRAPHPIPE_PORT=9123)
    client = application.test_client()
    body = bytes(convert.serialize_infer_request(convert.InferReq(None, [IMAGE], ["images"], ["scores"])))
    before = scrape(client)
    answer = client.post("/anything", data=body, base_url="http://localhost:9123",
                         headers={"X-Request-ID": "graphpipe-port"})
    assert answer.status_code == 200 and answer.headers["X-Request-ID"] == "graphpipe-port"
    after = scrape(client)
    assert total(after, "emnist_requests_total", protocol="graphpipe", code="200") - total(
        before, "emnist_requests_total", protocol="graphpipe", code="200") == 1
