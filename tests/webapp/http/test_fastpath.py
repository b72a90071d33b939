"""The fast routes (``:predict`` below Flask) answer exactly what the Flask view answers, for successes and
every error."""

from __future__ import annotations

import base64
import io
import json
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from flask import Flask

from tests.support.paths import SERVED_MODEL
from webapp.http.routing import FastRoutes

PATH = f"/v1/models/{SERVED_MODEL}:predict"


def fast_routes(app: Flask) -> FastRoutes | None:
    """The app's ``FastRoutes`` layer among its WSGI middlewares (the security headers wrap it)."""
    layer = app.wsgi_app
    while not isinstance(layer, FastRoutes) and hasattr(layer, "wsgi_app"):
        layer = layer.wsgi_app
    return layer if isinstance(layer, FastRoutes) else None


@pytest.fixture(scope="module")
def fast_app(app: Flask) -> Iterator[Flask]:
    assert fast_routes(app) is not None  # installed by create_app
    return app


def call(
    wsgi, path: str, body: bytes, content_type: str | None, accept: str | None = None
) -> tuple[str, list, bytes]:
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "localhost", "SERVER_PORT": "80",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.errors": sys.stderr, "QUERY_STRING": "", "CONTENT_LENGTH": str(len(body)),
    }
    if content_type:
        environ["CONTENT_TYPE"] = content_type
    if accept:
        environ["HTTP_ACCEPT"] = accept
    answer: dict = {}

    def start_response(status: str, headers: list, exc_info=None) -> None:
        answer["status"] = status
        answer["headers"] = sorted((k.lower(), v) for k, v in headers
                                   if k.lower() in ("content-type", "content-length"))

    chunks = wsgi(environ, start_response)
    data = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return answer["status"], answer["headers"], data


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def cases() -> list[tuple[str, bytes, str | None]]:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 784), dtype=np.uint8)
    floats = pixels / 255.0
    rows = json.dumps({"instances": floats.tolist()}).encode()
    two = json.dumps({"instances": floats[:2].tolist()}).encode()

    def body(document: object) -> bytes:
        return json.dumps(document).encode()

    b64 = [{"b64": base64.b64encode(row.tobytes()).decode()} for row in pixels]
    b64_f32 = [{"b64": base64.b64encode(row.astype("<f4").tobytes()).decode()} for row in floats]
    nan_row = np.full(784, np.nan, "<f4")
    b64_nan = [{"b64": base64.b64encode(nan_row.tobytes()).decode()}]
    png_like = base64.b64encode(b"\x89PNG" + b"x" * 780).decode()
    versioned = f"/v1/models/{SERVED_MODEL}/versions"
    return [
        (PATH, rows, "application/json"),
        (PATH, body({"instances": floats[:1].tolist()}), None),
        (PATH, body({"instances": floats.reshape(5, 28, 28).tolist()}), "application/json"),
        (PATH, body({"instances": b64}), "application/json"),
        (PATH, body({"instances": b64_f32}), "application/json"),
        (PATH, npy(pixels.reshape(5, 28, 28)), "application/octet-stream"),
        (PATH, npy(floats.astype(np.float32)), "application/x-npy"),
        (PATH, npy(pixels), None),
        (f"{versioned}/1:predict", two, "application/json"),
        (f"{versioned}/01:predict", two, "application/json"),
        (f"{versioned}/99:predict", two, "application/json"),
        (f"/v1/models/{SERVED_MODEL}/labels/stable:predict", two, "application/json"),
        ("/v1/models/no_such_model:predict", two, "application/json"),
        (PATH, body({"signature_name": "serving_default", "instances": floats[:2].tolist()}), None),
        (PATH, body({"signature_name": "predict_images", "instances": floats[:2].tolist()}), None),
        (PATH, body({"signature_name": "nope", "instances": floats[:2].tolist()}), None),
        (PATH, body({"inputs": floats[:2].tolist()}), "application/json"),
        (PATH, body({"instances": []}), "application/json"),
        (PATH, body({"instances": [[None] * 784]}), "application/json"),
        (PATH, body({"instances": [["x"] * 784]}), "application/json"),
        (PATH, body({"instances": [[1e39] * 784]}), "application/json"),
        (PATH, body({"instances": [[0.1] * 783]}), "application/json"),
        (PATH, body({"instances": [[0.1] * 784, [0.1] * 783]}), "application/json"),
        (PATH, body({"instances": [[0.1] * 784, {"b64": "AAAA"}]}), "application/json"),
        (PATH, body({"instances": [{"b64": "!!!"}]}), "application/json"),
        (PATH, body({"instances": [{"b64": png_like}]}), "application/json"),
        (PATH, body({"instances": [{"images": floats[0].tolist()}]}), "application/json"),
        (PATH, body({"instances": [[0.1] * 784] * 1025}), "application/json"),
        (PATH, body([1, 2]), "application/json"),
        (PATH, b"{not json", "application/json"),
        (PATH, rows, "application/x-www-form-urlencoded"),
        (PATH, rows, "multipart/form-data; boundary=x"),
        (PATH, b"\x00" * 784, "application/octet-stream"),
        (PATH, b"\x93NUMPYgarbage", "application/octet-stream"),
        (PATH, npy(np.full((2, 784), np.inf, np.float32)), "application/x-npy"),
        (PATH, body({"instances": b64_nan}), "application/json"),
        (PATH, body({"instances": b64_f32 + b64_nan}), "application/json"),
        (PATH, b"", "application/json"),
        (PATH, b"x" * (16 * 1024 * 1024 + 1), "application/json"),
        (f"/v1/models/{SERVED_MODEL}:classify", body({"examples": [{"images": floats[0].tolist()}]}), None),
        # Values the model cannot mean, and bodies that cannot be read.
        (PATH, body({"instances": [[3.4e38] * 784]}), "application/json"),
        (PATH, body({"instances": [["0.5"] * 784]}), "application/json"),
        (PATH, body({"instances": [[True] * 784, [0.0] * 784]}), "application/json"),
        (PATH, body({"instances": floats.tolist()[:2] + [[0.0] * 783 + [None]]}), "application/json"),
        (PATH, body({"signature_name": "x\"y", "instances": floats[:2].tolist()}), "application/json"),
        (PATH, npy(np.full((2, 784), 2.0, np.float32)), "application/x-npy"),
        (PATH, b"\x93NUMPY\x01\x00\x02\x00{\n", "application/x-npy"),
    ]


def accept_cases() -> list[tuple[str, bytes, str | None, str]]:
    """Requests asking for a .npy answer (or not quite), with their bodies."""
    pixels = np.random.default_rng(1).integers(0, 256, (3, 784), dtype=np.uint8)
    rows = json.dumps({"instances": (pixels / 255.0).tolist()}).encode()
    b64 = json.dumps({"instances": [{"b64": base64.b64encode(row.tobytes()).decode()} for row in pixels]})
    two_outputs = json.dumps({"signature_name": "predict_images", "instances": (pixels / 255.0).tolist()})
    return [
        (PATH, npy(pixels), "application/x-npy", "application/x-npy"),
        (PATH, rows, "application/json", "application/npy"),
        (PATH, b64.encode(), "application/json", "application/x-npy, */*;q=0.1"),
        (PATH, rows, "application/json", "application/json, application/x-npy;q=0.5"),
        (PATH, rows, "application/json", "*/*"),
        (PATH, two_outputs.encode(), "application/json", "application/x-npy"),
        (PATH, b"{bad", "application/json", "application/x-npy"),
        ("/v1/models/no_such_model:predict", rows, "application/json", "application/x-npy"),
    ]


@pytest.mark.parametrize("case", range(len(cases())))
def test_same_status_headers_and_bytes_as_flask(fast_app: Flask, case: int) -> None:
    path, body, content_type = cases()[case]
    flask_only = fast_routes(fast_app).wsgi_app
    assert call(fast_routes(fast_app), path, body, content_type) == call(flask_only, path, body, content_type)


@pytest.mark.parametrize("case", range(len(accept_cases())))
def test_npy_answers_same_as_flask(fast_app: Flask, case: int) -> None:
    path, body, content_type, accept = accept_cases()[case]
    fast = call(fast_routes(fast_app), path, body, content_type, accept)
    assert fast == call(fast_routes(fast_app).wsgi_app, path, body, content_type, accept)
    if case < 3:  # the ones that ask for .npy first get it
        assert fast[0] == "200 OK" and ("content-type", "application/x-npy") in fast[1]
        assert np.load(io.BytesIO(fast[2])).shape == (3, 62)
    elif fast[0] == "200 OK":
        assert ("content-type", "application/json") in fast[1]


@pytest.mark.parametrize("kind", ["npy-inf", "b64-nan", "b64-mixed", "json-overflow"])
def test_non_finite_inputs_are_refused_on_both_paths(fast_app: Flask, kind: str) -> None:
    rows = np.random.default_rng(2).random((2, 784)).astype("<f4")
    rows[1, 5] = np.inf if kind == "npy-inf" else np.nan
    encoded = [{"b64": base64.b64encode(row.tobytes()).decode()} for row in rows]
    body, content_type = {
        "npy-inf": (npy(rows), "application/x-npy"),
        "b64-nan": (json.dumps({"instances": encoded[1:]}).encode(), "application/json"),
        "b64-mixed": (json.dumps({"instances": encoded}).encode(), "application/json"),
        "json-overflow": (json.dumps({"instances": [[3.5e38] * 784]}).encode(), "application/json"),
    }[kind]
    expected = ("Cannot convert JSON value: 3.5e+38 to float without loss of precision." if kind ==
                "json-overflow" else "inputs contain NaN or infinite values")  # TF Serving's words for JSON
    for wsgi in (fast_routes(fast_app), fast_routes(fast_app).wsgi_app):
        status, _, data = call(wsgi, PATH, body, content_type)
        assert status == "400 BAD REQUEST"
        assert json.loads(data) == {"error": expected}


def test_answers_and_errors_are_given_below_flask(fast_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request of a fast route is answered below Flask, refusals included (forms, bodies over the
    limit): only other routes reach Flask."""
    middleware = fast_routes(fast_app)
    called = []

    def flask_stand_in(environ: dict, start_response) -> list[bytes]:
        called.append(environ["PATH_INFO"])
        start_response("418 I'M A TEAPOT", [])
        return [b""]

    monkeypatch.setattr(middleware, "wsgi_app", flask_stand_in)
    body = json.dumps({"instances": [[0.0] * 784]}).encode()
    status, _, data = call(middleware, PATH, body, "application/json")
    assert status == "200 OK" and len(json.loads(data)["predictions"][0]) == 62
    assert call(middleware, PATH, b"{bad", "application/json")[0] == "400 BAD REQUEST"
    assert call(middleware, "/v1/models/nope:predict", body, None)[0] == "404 NOT FOUND"
    assert call(middleware, PATH, body, "multipart/form-data; boundary=x")[0].startswith("415")
    assert call(middleware, PATH, b"x" * (16 * 1024 * 1024 + 1), None)[0].startswith("413")
    assert called == []
    assert call(middleware, f"/v1/models/{SERVED_MODEL}:classify", body, None)[0].startswith("418")
    assert called == [f"/v1/models/{SERVED_MODEL}:classify"]


def test_a_failing_model_call_runs_once(fast_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    class Exploding:
        def predict(self, engine, images, deadline=None, model_name=""):
            calls.append(len(images))
            raise RuntimeError("the model fell over")

    monkeypatch.setattr(fast_app.extensions["inference_service"], "batchers", Exploding())
    body = json.dumps({"instances": [[0.0] * 784]}).encode()
    status, _, data = call(fast_routes(fast_app), PATH, body, "application/json")
    assert status == "500 INTERNAL SERVER ERROR"
    assert json.loads(data) == {"error": "internal error: the server could not answer this request (logged)"}
    assert calls == [1]


def test_can_be_turned_off(make_app) -> None:
    assert fast_routes(make_app(FAST_PREDICT_PATH=False)) is None


def test_random_npy_headers_get_the_same_400_on_both_paths(fast_app: Flask) -> None:
    from tests.support.npy_headers import random_npy_files

    statuses = set()
    for data in random_npy_files(300, seed=5):
        fast = call(fast_routes(fast_app), PATH, data, "application/x-npy")
        assert fast == call(fast_routes(fast_app).wsgi_app, PATH, data, "application/x-npy")
        status, headers, answer = fast
        statuses.add(status)
        assert ("content-type", "application/json") in headers
        assert b" at 0x" not in answer and set(json.loads(answer)) == {"error"}
    assert statuses == {"400 BAD REQUEST"}


def chunked_call(wsgi, body: bytes) -> tuple[str, list, bytes]:
    """A request as gunicorn hands over a chunked body: no Content-Length, a stream the server ends."""
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": PATH, "SERVER_NAME": "localhost", "SERVER_PORT": "80",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.errors": sys.stderr, "QUERY_STRING": "", "CONTENT_TYPE": "application/json",
        "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True,
    }
    answer: dict = {}

    def start_response(status: str, headers: list, exc_info=None) -> None:
        answer["status"], answer["headers"] = status, sorted((k.lower(), v) for k, v in headers)

    data = b"".join(wsgi(environ, start_response))
    return answer["status"], answer["headers"], data


@pytest.mark.parametrize("padding", [0, 16 * 1024 * 1024])
def test_chunked_bodies_get_the_same_answer_on_both_paths(fast_app: Flask, padding: int) -> None:
    body = json.dumps({"instances": [[0.0] * 784]}).encode() + b" " * padding
    fast = chunked_call(fast_routes(fast_app), body)
    assert fast == chunked_call(fast_routes(fast_app).wsgi_app, body)
    assert fast[0] == ("200 OK" if padding == 0 else "413 REQUEST ENTITY TOO LARGE")
    assert fast == call(fast_routes(fast_app), PATH, body, "application/json")  # as with a Content-Length
