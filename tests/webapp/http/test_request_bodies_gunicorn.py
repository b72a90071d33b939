"""Request bodies through the real server: chunked ones meet the size limit, broken ones are 400s."""

from __future__ import annotations

import json

import pytest

from tests.support.gunicorn import gunicorn_server
from tests.support.paths import SERVED_MODEL

PREDICT = f"/v1/models/{SERVED_MODEL}:predict"
LIMIT = 10_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with gunicorn_server(tmp_path_factory.mktemp("bodies"), workers=1,
                         env={"EMNIST_MAX_CONTENT_LENGTH": str(LIMIT)}) as running:
        yield running


def chunked(path: str, chunks: list[bytes], content_type: str = "application/json") -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    return head + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


def status_and_json(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"application/json" in head.lower(), head
    if b"transfer-encoding: chunked" in head.lower():
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    return int(head.split()[1]), json.loads(body)


def test_a_chunked_body_is_answered_like_the_same_body_with_a_length(server):
    document = json.dumps({"instances": [[0.0] * 784]}).encode()
    whole = server.request("POST", PREDICT, document, {"Content-Type": "application/json"})
    status, answer = status_and_json(server.raw(chunked(PREDICT, [document[:100], document[100:]])))
    assert (status, answer) == (whole[0], json.loads(whole[2])) and status == 200


@pytest.mark.parametrize("path", [PREDICT, "/predict"])
def test_a_chunked_body_over_the_limit_is_413(server, path):
    padded = json.dumps({"instances": [[0.0] * 784]}).encode() + b" " * LIMIT
    status, answer = status_and_json(server.raw(chunked(path, [padded[:6000], padded[6000:]])))
    assert (status, answer) == (413, {
        "error": f"request body is larger than the limit MAX_CONTENT_LENGTH={LIMIT} bytes"})
    status, _, body = server.request("POST", path, padded, {"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (413, answer)  # the same as with a Content-Length


@pytest.mark.parametrize("framing", [b"zz\r\n{}\r\n0\r\n\r\n", b"5\r\n{}\r\n0\r\n\r\n", b"3\r\n{}"],
                         ids=["bad size", "short chunk", "cut off"])
def test_a_body_that_is_no_valid_chunked_coding_is_400(server, framing):
    head = (f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    status, answer = status_and_json(server.raw(head + framing, half_close=True))
    assert status == 400 and answer["error"].startswith("the request body could not be read")
    assert "Traceback" not in server.log()


def test_a_malformed_npy_header_is_400_json(server):
    """The issue's printf: numpy's tokenizer error used to escape as gunicorn's HTML 500 page."""
    status, headers, body = server.request("POST", PREDICT, b"\x93NUMPY\x01\x00\x02\x00{\n",
                                           {"Content-Type": "application/x-npy"})
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"].startswith("body: not a readable .npy array: invalid .npy header")


@pytest.mark.parametrize(("head", "status", "message"), [
    (f"GET /{'x' * 5000} HTTP/1.1\r\nHost: x\r\n\r\n", 414, "URI Too Long: "),
    ("GET /healthz HTTP/1.1\r\n" + "".join(f"X-{i}: y\r\n" for i in range(101)) + "\r\n", 431,
     "Request Header Fields Too Large: "),
    (f"GET /healthz HTTP/1.1\r\nX-Big: {'y' * 9000}\r\n\r\n", 431, "Request Header Fields Too Large: "),
    ("NOT A REQUEST\r\n\r\n", 400, "Bad Request: "),
], ids=["request line", "header count", "header size", "malformed"])
def test_gunicorns_own_refusals_are_json(server, head, status, message):
    got, answer = status_and_json(server.raw(head.encode()))
    assert got == status and answer["error"].startswith(message), answer
