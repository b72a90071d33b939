"""Every HTTP answer carries the security headers, whichever route family, fast path or port answers it,
and no error answer shows a traceback or a path of the server's files."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
import requests
from PIL import Image

from emnist_contract.tensors import NUM_PIXELS
from tests.support.paths import REPO, SERVED_MODEL
from tests.support.servers import serving_wsgi
from webapp.http.security_headers import CONTENT_SECURITY_POLICY

MODEL = f"/v1/models/{SERVED_MODEL}"
V2_MODEL = f"/v2/models/{SERVED_MODEL}"
ZEROS = {"instances": [[0.0] * NUM_PIXELS]}
V2_ZEROS = {"inputs": [{"name": "images", "shape": [1, NUM_PIXELS], "datatype": "FP32",
                        "data": [0.0] * NUM_PIXELS}]}


def png() -> bytes:
    """A picture of one stroke: light ink on a dark ground, as EMNIST's."""
    pixels = np.zeros((28, 28), np.uint8)
    pixels[4:24, 12:16] = 255
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


#: (what, method, path, request keywords, expected status): every route family, answered and refused.
REST_CASES = [
    ("page", "GET", "/", {}, 200),
    ("page's static file", "GET", "/static/style.css", {}, 200),
    ("page's refusal", "POST", "/", {"data": {"source": "upload"}}, 400),
    ("page's 404", "GET", "/no/such/page", {}, 404),
    ("TF REST predict (fast path)", "POST", f"{MODEL}:predict", {"json": ZEROS}, 200),
    ("TF REST predict refused (fast path)", "POST", f"{MODEL}:predict", {"data": b"{not json"}, 400),
    ("TF REST status (Flask)", "GET", MODEL, {}, 200),
    ("TF REST metadata (Flask)", "GET", f"{MODEL}/metadata", {}, 200),
    ("TF REST classify refused (Flask)", "POST", f"{MODEL}:classify", {"json": {"examples": "x"}}, 400),
    ("TF REST unrouted", "GET", "/v1/nothing", {}, 400),
    ("TF REST wrong model", "POST", "/v1/models/nobody:predict", {"json": ZEROS}, 404),
    ("/predict", "POST", "/predict", {"data": png(), "headers": {"Content-Type": "image/png"}}, 200),
    ("/predict refused", "POST", "/predict", {"data": b"not an image",
                                               "headers": {"Content-Type": "image/png"}}, 415),
    ("/predict wrong method", "GET", "/predict", {}, 405),
    ("V2 metadata", "GET", "/v2", {}, 200),
    ("V2 infer (fast path)", "POST", f"{V2_MODEL}/infer", {"json": V2_ZEROS}, 200),
    ("V2 infer refused (fast path)", "POST", f"{V2_MODEL}/infer", {"json": {"inputs": []}}, 400),
    ("V2 health", "GET", "/v2/health/ready", {}, 200),
    ("GraphPipe metadata", "GET", f"/graphpipe/{SERVED_MODEL}", {}, 200),
    ("GraphPipe refused", "POST", f"/graphpipe/{SERVED_MODEL}", {"data": b"garbage"}, 400),
    ("liveness", "GET", "/healthz", {}, 200),
    ("readiness", "GET", "/readyz", {}, 200),
    ("body too large", "POST", f"{MODEL}:predict", {"data": b"x" * 5000}, 413),
]
PORT_CASES = [
    ("GraphPipe port probe", "GET", "/control/is_alive", {}, 200),
    ("GraphPipe port metadata", "GET", "/any/path", {}, 200),
    ("GraphPipe port refused", "POST", "/", {"data": b"garbage"}, 400),
    ("GraphPipe port wrong method", "PUT", "/", {"data": b"x"}, 405),
]


@pytest.fixture(scope="module")
def urls(make_module_app) -> Iterator[tuple[str, str]]:
    """(REST URL, GraphPipe port URL) of one app (fast paths on) served over real sockets."""
    with serving_wsgi() as graphpipe_server, serving_wsgi() as rest_server:
        app = make_module_app(GRAPHPIPE_PORT=graphpipe_server.server_port, MAX_CONTENT_LENGTH=4096)
        graphpipe_server.app = rest_server.app = app
        yield (f"http://127.0.0.1:{rest_server.server_port}", f"http://127.0.0.1:{graphpipe_server.server_port}")


def assert_secured(answer: requests.Response) -> None:
    headers = answer.headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"


def assert_no_internals(answer: requests.Response) -> None:
    body = answer.content
    for leak in (b"Traceback", b'File "', b".py", str(REPO).encode()):
        assert leak not in body, (answer.url, leak, body[:500])


@pytest.mark.parametrize(("what", "method", "path", "options", "status"), REST_CASES,
                         ids=[case[0] for case in REST_CASES])
def test_every_route_family_answers_with_the_headers(urls, what, method, path, options, status):
    answer = requests.request(method, urls[0] + path, timeout=30, **options)
    assert answer.status_code == status, answer.text[:300]
    assert_secured(answer)
    if status >= 400:
        assert_no_internals(answer)


@pytest.mark.parametrize(("what", "method", "path", "options", "status"), PORT_CASES,
                         ids=[case[0] for case in PORT_CASES])
def test_the_graphpipe_port_answers_with_the_headers(urls, what, method, path, options, status):
    answer = requests.request(method, urls[1] + path, timeout=30, **options)
    assert answer.status_code == status
    assert_secured(answer)
    if status >= 400:
        assert_no_internals(answer)


def test_pages_hold_no_inline_script_or_style(urls):
    """The CSP forbids inline code: the pages' scripts and styles are files of the server's own."""
    page = requests.get(urls[0] + "/", timeout=30).text
    result = requests.post(urls[0] + "/", files={"image": ("a.png", png(), "image/png")}, timeout=30).text
    for html in (page, result):
        assert "style=" not in html and "<style" not in html
        scripts = html.count("<script")
        assert scripts == html.count('<script src="/static/')
        assert " onclick=" not in html and " onload=" not in html and "javascript:" not in html


def test_an_unexpected_error_shows_no_trace_or_path(make_app, monkeypatch):
    """A failure inside the model call (its message naming a file) is answered with the one internal error
    on every route family, the page included."""
    app = make_app()
    service = app.extensions["front_end"].service

    def broken(*args, **kwargs):
        raise RuntimeError(f"disk failure in {REPO / 'serving_core' / 'service.py'}")

    monkeypatch.setattr(service, "predict", broken)
    monkeypatch.setattr(service, "scores", broken)
    client = app.test_client()
    answers = [
        client.post(f"{MODEL}:predict", json=ZEROS),
        client.post("/predict", data=png(), headers={"Content-Type": "image/png"}),
        client.post(f"{V2_MODEL}/infer", json=V2_ZEROS),
        client.post("/", data={"image": (io.BytesIO(png()), "a.png")}),
    ]
    for answer in answers:
        body = answer.get_data()
        assert answer.status_code == 500 and answer.headers["X-Content-Type-Options"] == "nosniff"
        for leak in (b"Traceback", b"disk failure", b".py", str(REPO).encode()):
            assert leak not in body, (answer.request.path, body[:300])
