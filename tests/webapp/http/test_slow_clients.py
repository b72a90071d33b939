"""Slow clients against the real server: they cost it a socket, never a request thread, and time out."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.support.gunicorn import gunicorn_server
from tests.support.paths import SERVED_MODEL

PREDICT = f"/v1/models/{SERVED_MODEL}:predict"
#: More slow connections of each kind than the two workers have request threads (2 x 4) in all.
PER_KIND = 12
#: Liveness bound on one answer or one closing (nothing here is a timing goal).
LIVENESS_S = 20.0


def slow_connections(port: int) -> dict[str, list[socket.socket]]:
    """Open PER_KIND connections of each slow kind (one byte, header trickle, body trickle, idle)."""
    heads = {
        "one-byte": b"P",
        "header-trickle": f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode(),
        "body-trickle": (f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Content-Length: 100000\r\n\r\n{").encode(),
        "idle": b"",
    }
    opened: dict[str, list[socket.socket]] = {}
    for kind, head in heads.items():
        for _ in range(PER_KIND):
            sock = socket.create_connection(("127.0.0.1", port), timeout=LIVENESS_S)
            if head:
                sock.sendall(head)
            opened.setdefault(kind, []).append(sock)
    return opened


def closed_by_server(sock: socket.socket) -> bytes:
    """What the server sent before closing the connection (fails the test if it never closes it)."""
    sock.settimeout(LIVENESS_S)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.slow
def test_slow_connections_neither_stop_the_server_nor_stay_open(tmp_path):
    body = json.dumps({"instances": [[0.0] * 784]}).encode()
    env = {"EMNIST_REQUEST_BODY_TIMEOUT_SECONDS": "3"}
    with gunicorn_server(tmp_path, workers=2, env=env) as server:
        opened = slow_connections(server.port)
        try:
            time.sleep(0.5)  # every slow connection has reached a worker
            for _ in range(5):
                status, _, answer = server.request("GET", "/healthz", timeout=LIVENESS_S)
                assert (status, json.loads(answer)) == (200, {"status": "ok"})
                status, _, answer = server.request("POST", PREDICT, body,
                                                   {"Content-Type": "application/json"}, LIVENESS_S)
                assert status == 200 and len(json.loads(answer)["predictions"][0]) == 62
            # A trickle of header bytes keeps nothing open: the whole header block has a time limit.
            for sock in opened["header-trickle"][:3]:
                sock.sendall(b"a")
            # Every kind is closed by the server; a body that does not arrive in time is answered 408.
            for kind in ("one-byte", "header-trickle", "idle"):
                assert all(closed_by_server(sock) == b"" for sock in opened[kind]), kind
            for sock in opened["body-trickle"]:
                answer = closed_by_server(sock)
                assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
                assert b"REQUEST_BODY_TIMEOUT_SECONDS=3 s" in answer and b'{"error":' in answer
            assert server.request("GET", "/healthz", timeout=LIVENESS_S)[0] == 200
        finally:
            for socks in opened.values():
                for sock in socks:
                    sock.close()
