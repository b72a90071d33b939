"""Every payload type's every error, through every HTTP front end: the same status and the same message.

One decoder per payload type lives in the serving core; the fast path, the Flask :predict view, /predict
and the page only read and write HTTP around it, so a bad body must be refused identically everywhere.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest

from tests.support.paths import SERVED_MODEL, encode_image


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def instances(*items: object) -> bytes:
    return json.dumps({"instances": list(items)}).encode()


JSON = "application/json"
NPY = "application/x-npy"
#: (case, body, content type, expected status, expected message fragment)
CASES = [
    ("empty body", b"", JSON, 400, "JSON Parse error: The document is empty"),
    ("not json", b"{not json", JSON, 400, "JSON Parse error"),
    ("not an object", b"[1, 2]", JSON, 400, "Is not object"),
    ("no instances", b'{"rows": []}', JSON, 400, "Missing 'inputs' or 'instances' key"),
    ("both keys", b'{"instances": [], "inputs": []}', JSON, 400, "only one of 'inputs' or 'instances'"),
    ("zero instances", instances(), JSON, 400, "No values in 'instances' array"),
    ("short row", instances([0.1] * 783), JSON, 400,
     "shape [1, 783] does not hold images of 784 pixels: send [N,784], [N,28,28] or [N,1,784]"),
    ("words", instances(["x"] * 784), JSON, 400,
     'JSON Value: "x" Type: String is not of expected type: float'),
    ("nulls", instances([None] * 784), JSON, 400,
     "JSON Value: null Type: Null is not of expected type: float"),
    ("overflow", instances([1e39] * 784), JSON, 400,
     "Cannot convert JSON value: 1e+39 to float without loss of precision."),
    ("too many", instances(*[[0.0] * 784] * 1025), JSON, 400, "over the limit MAX_INSTANCES=1024"),
    ("bad base64", instances({"b64": "!!!"}), JSON, 400, "instance 0: invalid base64 in 'b64'"),
    ("b64 of 10 bytes", instances({"b64": b64(b"0123456789")}), JSON, 415,
     "instance 0 (b64): 10 bytes of text that are neither an image file"),
    ("b64 nan float32", instances({"b64": b64(np.full(784, np.nan, "<f4").tobytes())}), JSON, 400,
     "inputs contain NaN or infinite values"),
    ("b64 broken png", instances({"b64": b64(b"\x89PNG\r\n\x1a\n" + b"x" * 100)}), JSON, 415,
     "the PNG file is damaged or truncated"),
    ("b64 blank png", instances({"b64": b64(encode_image(np.zeros((60, 60), np.uint8)))}), JSON, 400,
     "no character found"),
    ("named input object", b'{"inputs": {"images": {}}}', JSON, 400,
     "'inputs' must be a list of images (784 numbers or 28x28 each) or {\"b64\": ...}"),
    ("npy over the limit", npy(np.zeros((1025, 28, 28), np.uint8)), NPY, 400,
     "1025 instances in one request is over the limit MAX_INSTANCES=1024"),
    ("npy empty huge", npy(np.zeros((0, 2**62), np.uint8)), NPY, 400,
     "body: shape [0, 4611686018427387904] has a dimension over the limit MAX_INSTANCES=1024"),
    ("npy garbage", b"\x93NUMPYgarbage", NPY, 400, "not a readable .npy array"),
    ("npy strings", npy(np.array(["a", "b"])), NPY, 400, "body: tensors of str32 are not accepted"),
    ("npy int32", npy(np.zeros((1, 784), np.int32)), NPY, 400, "body: tensors of int32 are not accepted"),
    ("npy 100 values", npy(np.zeros(100, np.float32)), NPY, 400,
     "body: shape [100] does not hold images of 784 pixels"),
    ("npy inf", npy(np.full((1, 784), np.inf, np.float32)), NPY, 400,
     "inputs contain NaN or infinite values"),
    ("npy truncated", npy(np.zeros((2, 784), np.float32))[:-10], NPY, 400, "bytes of data follow"),
    ("raw bytes", b"\x01" * 1000, "application/octet-stream", 415, "body: 1000 bytes of data that are"),
    # Values the model cannot mean: TF Serving's words where it has them, the pixel range otherwise
    # (0-255 and standardised values are answered with a warning, not refused).
    ("float32 max", instances([3.4e38] * 784), JSON, 400,
     "instance 0: 3.4e+38 is no pixel value: the model reads pixels/255 in [0, 1] (white ink on black)"),
    ("beyond 0-255", instances([0.0] * 784, [0.0] * 783 + [1000.0]), JSON, 400,
     "instance 1: 1000 is no pixel value"),
    ("number strings", instances(["0.5"] * 784), JSON, 400,
     'JSON Value: "0.5" Type: String is not of expected type: float'),
    ("booleans", instances([True] * 784), JSON, 400,
     "JSON Value: true Type: True is not of expected type: float"),
    ("one boolean", instances([0.0] * 783 + [False]), JSON, 400,
     "JSON Value: false Type: False is not of expected type: float"),
    ("28x28 strings", instances([["0"] * 28] * 28), JSON, 400,
     'JSON Value: "0" Type: String is not of expected type: float'),
    ("columnar bools", json.dumps({"inputs": [[True] * 784]}).encode(), JSON, 400,
     "JSON Value: true Type: True is not of expected type: float"),
    ("string instance", instances("x"), JSON, 400,
     'JSON Value: "x" Type: String is not of expected type: float'),
    ("npy huge floats", npy(np.full((1, 784), 1e30, np.float32)), NPY, 400,
     "instance 0: 1e+30 is no pixel value"),
    ("unknown signature", json.dumps({"signature_name": "nope", "instances": [[0.0] * 784]}).encode(), JSON,
     400, 'Serving signature name: "nope" not found in signature def'),
]
IDS = [case[0] for case in CASES]
PREDICT = f"/v1/models/{SERVED_MODEL}:predict"


@pytest.fixture(scope="module")
def flask_only(make_module_app):
    return make_module_app(FAST_PREDICT_PATH=False).test_client()


@pytest.mark.parametrize(("case", "body", "content_type", "status", "message"), CASES, ids=IDS)
def test_every_api_route_refuses_alike(client, flask_only, case, body, content_type, status, message):
    answers = {
        "fast path": client.post(PREDICT, data=body, content_type=content_type),
        "Flask :predict": flask_only.post(PREDICT, data=body, content_type=content_type),
        "/predict": client.post("/predict", data=body, content_type=content_type),
    }
    for route, answer in answers.items():
        assert answer.status_code == status, (route, answer.get_data(as_text=True))
        assert answer.mimetype == "application/json", route
        assert message in answer.get_json()["error"], (route, answer.get_json())
    assert answers["fast path"].get_data() == answers["Flask :predict"].get_data()
    assert answers["fast path"].get_json() == answers["/predict"].get_json()


@pytest.mark.parametrize(("content", "status", "api_message", "page_message"), [
    (b"\x89PNG\r\n\x1a\n" + b"x" * 100, 415, "the PNG file is damaged or truncated",
     "“upload.png” looks like a picture but is damaged or incomplete."),
    (encode_image(np.zeros((60, 60), np.uint8)), 400, "no character found",
     "No character found in “upload.png”: the picture looks blank."),
])
def test_image_file_errors_on_the_page_and_in_the_api(client, content, status, api_message, page_message):
    # The same refusal: precise for a program, in plain words for a person.
    page = client.post("/", data={"image": (io.BytesIO(content), "upload.png")},
                       content_type="multipart/form-data")
    assert page.status_code == status
    assert page_message in page.get_data(as_text=True)
    api = client.post("/predict", data={"image": (io.BytesIO(content), "upload.png")},
                      content_type="multipart/form-data")
    assert api.status_code == status
    error = api.get_json()["error"]
    assert error.startswith("file 'upload.png': ") and api_message in error


def test_body_limit_holds_on_the_fast_path_and_in_flask(make_module_app):
    """A valid JSON body padded past MAX_CONTENT_LENGTH is refused with 413 on every path."""
    body = json.dumps({"instances": [[0.0] * 784]}).encode() + b" " * 10_000
    for fast in (True, False):
        client = make_module_app(MAX_CONTENT_LENGTH=8_000, FAST_PREDICT_PATH=fast).test_client()
        for route in (PREDICT, "/predict"):
            answer = client.post(route, data=body, content_type=JSON)
            assert answer.status_code == 413, (fast, route)
            assert answer.get_json() == {
                "error": "request body is larger than the limit MAX_CONTENT_LENGTH=8000 bytes"}
