"""The production server (gunicorn, its worker, GraphPipe's port) with API tokens: security headers on
every answer, gunicorn's own refusals included, no server version banner, 401 without a token."""

from __future__ import annotations

import json

import pytest

from emnist_contract.tensors import NUM_PIXELS
from tests.support.gunicorn import free_port, gunicorn_server, send_raw
from tests.support.paths import SERVED_MODEL
from webapp.api_tokens import MISSING_TOKEN
from webapp.http.security_headers import HEADERS

TOKEN = "gunicorn-token"
PREDICT = f"/v1/models/{SERVED_MODEL}:predict"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    graphpipe_port = free_port()
    with gunicorn_server(tmp_path_factory.mktemp("security"), workers=1, env={
            "EMNIST_API_TOKENS": TOKEN, "EMNIST_GRAPHPIPE_PORT": str(graphpipe_port)}) as running:
        running.graphpipe_port = graphpipe_port
        yield running


def head_of(raw: bytes) -> tuple[int, dict[str, str]]:
    """The status and headers (names in lower case) of a raw HTTP answer."""
    lines = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


def assert_secured(headers: dict[str, str]) -> None:
    for name, value in HEADERS:
        assert headers[name.lower()] == value
    # gunicorn names itself, but no version of it (or of Python) is given away.
    assert not any(c.isdigit() for c in headers.get("server", ""))


@pytest.mark.parametrize(("method", "path", "headers", "status"), [
    ("GET", "/", {}, 200),
    ("GET", "/static/draw.js", {}, 200),
    ("GET", "/healthz", {}, 200),
    ("GET", "/no/such/page", {}, 404),
    ("POST", PREDICT, {}, 401),
    ("POST", PREDICT, {"Authorization": "Bearer wrong"}, 401),
    ("POST", PREDICT, {"Authorization": f"Bearer {TOKEN}"}, 200),
    ("POST", "/predict", {"Authorization": f"Bearer {TOKEN}"}, 200),
])
def test_answers_through_gunicorn_carry_the_headers(server, method, path, headers, status):
    body = json.dumps({"instances": [[0.0] * NUM_PIXELS]}).encode() if method == "POST" else None
    got, answer_headers, answer = server.request(method, path, body, {"Content-Type": "application/json",
                                                                      **headers})
    assert got == status, answer[:300]
    assert_secured(answer_headers)
    if status == 401:
        assert json.loads(answer)["error"] in (MISSING_TOKEN, "the API token is not valid")
        assert answer_headers["www-authenticate"].startswith("Bearer")


def test_gunicorns_own_refusals_carry_the_headers(server):
    status, headers = head_of(server.raw(f"GET /{'x' * 5000} HTTP/1.1\r\nHost: x\r\n\r\n".encode()))
    assert status == 414
    assert_secured(headers)


def test_the_graphpipe_port_through_gunicorn(server):
    refused = send_raw(server.graphpipe_port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                              b"Connection: close\r\n\r\nabc")
    status, headers = head_of(refused)
    assert status == 401
    assert_secured(headers)
    probe = send_raw(server.graphpipe_port, b"GET /control/is_alive HTTP/1.1\r\nHost: x\r\n"
                                            b"Connection: close\r\n\r\n")
    status, headers = head_of(probe)
    assert status == 200
    assert_secured(headers)
