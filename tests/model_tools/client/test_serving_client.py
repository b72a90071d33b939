"""The serving client without a server: endpoints, request bodies, reading every answer format."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest

from model_tools.client.protocols import EndpointError
from model_tools.client.serving_client import (
    encode_payload,
    error_message,
    latency_summary,
    parse_endpoint,
    parse_endpoints,
    predicted_classes,
)


def test_endpoint_parsing() -> None:
    assert parse_endpoint("http://127.0.0.1:8501/v1/models/m:predict").format == "tfserving"
    assert parse_endpoint("x=http://127.0.0.1:8000/predict").format == "predict"
    bare = parse_endpoint("http://127.0.0.1:8501/v1/models/m:predict")
    assert bare.name == "127.0.0.1:8501/v1/models/m:predict"
    for bad in ("x=ftp://host/predict", "x=not a url", "x=http://127.0.0.1:99999/p"):
        with pytest.raises(ValueError):
            parse_endpoint(bad)
    with pytest.raises(ValueError, match="unique"):
        parse_endpoints(["a=http://h/predict", "a=http://h2/predict"])


def test_request_bodies_of_every_payload_kind() -> None:
    images = np.arange(2 * 784, dtype=np.int64).reshape(2, 28, 28) % 256
    body, content_type = encode_payload(images, "json")
    assert content_type == "application/json"
    instances = json.loads(body)["instances"]
    assert len(instances) == 2 and instances[0][:3] == [0.0, 1 / 255, 2 / 255]  # the blog's pixels/255
    body, content_type = encode_payload(images, "b64")
    raw = [base64.b64decode(row["b64"]) for row in json.loads(body)["instances"]]
    assert content_type == "application/json" and raw[1] == bytes(images[1].reshape(-1).astype(np.uint8))
    body, content_type = encode_payload(images, "npy")
    assert content_type == "application/octet-stream"
    np.testing.assert_array_equal(np.load(io.BytesIO(body)), images.astype(np.uint8))
    with pytest.raises(ValueError, match="payload"):
        encode_payload(np.zeros((1, 28, 28), np.uint8), "xml")


def test_answers_are_read_in_every_format() -> None:
    # TF Serving's answer for a signature with two outputs: one object per row.
    body = json.dumps({"predictions": [{"scores": [0.1, 0.7, 0.2], "classes": 1},
                                       {"scores": [0.9, 0.05, 0.05], "classes": 0}]}).encode()
    assert predicted_classes(body, "tfserving", 2).tolist() == [1, 0]
    assert predicted_classes(b'{"predictions": [{"classes": 4}]}', "tfserving", 1).tolist() == [4]
    assert predicted_classes(b'{"outputs": [[0, 1], [1, 0]]}', "tfserving", 2).tolist() == [1, 0]
    app_answer = {"results": [{"class_id": 12, "label": "C"}]}
    assert predicted_classes(json.dumps(app_answer).encode(), "predict", 1).tolist() == [12]
    scores = np.eye(62, dtype=np.float32)[[3, 40, 7]]
    buffer = io.BytesIO()
    np.save(buffer, scores)
    assert predicted_classes(buffer.getvalue(), "tfserving", 3).tolist() == [3, 40, 7]


def test_answers_that_are_not_predictions_are_errors() -> None:
    body = json.dumps({"predictions": [[0.1, 0.9]]}).encode()
    with pytest.raises(EndpointError, match="no 3 predictions"):
        predicted_classes(body, "tfserving", 3)
    with pytest.raises(EndpointError, match="not JSON"):
        predicted_classes(b"<html>", "tfserving", 1)
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((3, 62), np.float32))
    with pytest.raises(EndpointError, match="not a readable"):
        predicted_classes(buffer.getvalue()[:-4], "tfserving", 3)
    with pytest.raises(EndpointError, match=r"expected \[5, classes\]"):
        predicted_classes(buffer.getvalue(), "tfserving", 5)


def test_error_messages_and_latency_figures() -> None:
    assert error_message(404, b'{"error": "Servable not found for request: Latest(x)"}') == (
        "HTTP 404: Servable not found for request: Latest(x)")
    assert error_message(502, b"") == "HTTP 502: Bad Gateway"
    summary = latency_summary(np.arange(1, 101, dtype=np.float64))
    assert summary["mean"] == 50.5 and summary["max"] == 100.0
    assert summary["p50"] == pytest.approx(50.5) and summary["p99"] == pytest.approx(99.01)
    assert all(np.isnan(value) for value in latency_summary(np.array([])).values())
