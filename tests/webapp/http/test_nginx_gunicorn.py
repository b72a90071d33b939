"""The nginx configuration of docs/operations.md in front of the real gunicorn, on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.gunicorn import free_port, gunicorn_server, send_raw
from tests.support.paths import REPO, SERVED_MODEL

PREDICT = f"/v1/models/{SERVED_MODEL}:predict"
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
WRAPPER = """daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{site}
}}
"""


def documented_site(nginx_port: int, gunicorn_port: int) -> str:
    """The ```nginx block of docs/operations.md, on this test's loopback ports."""
    page = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    (site,) = re.findall(r"```nginx\n(.*?)```", page, flags=re.S)
    assert "listen 80;" in site and "server 127.0.0.1:8000;" in site
    return site.replace("listen 80;", f"listen 127.0.0.1:{nginx_port};").replace(
        "server 127.0.0.1:8000;", f"server 127.0.0.1:{gunicorn_port};")


def request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.slow
@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")
def test_the_documented_nginx_in_front_of_gunicorn(tmp_path):
    with gunicorn_server(tmp_path, workers=1) as server:
        prefix, port = tmp_path / "nginx", free_port()
        prefix.mkdir()
        config = prefix / "nginx.conf"
        config.write_text(WRAPPER.format(prefix=prefix, site=documented_site(port, server.port)))
        command = [NGINX, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(config)]
        nginx = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while True:
                assert nginx.poll() is None, nginx.stderr.read().decode()
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "nginx did not start"
                    time.sleep(0.1)
            slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
            for sock in slow[::2]:
                sock.sendall(b"P")
            document = json.dumps({"instances": [[0.0] * 784] * 2}).encode()
            status, answer = request(port, "POST", PREDICT, document)
            assert status == 200 and len(answer["predictions"]) == 2
            assert request(port, "GET", "/readyz")[0] == 200
            status, answer = request(port, "POST", "/predict", document + b" " * 1_000_000)  # held in memory
            assert status == 200
            too_large = (f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Content-Length: 20000000\r\nConnection: close\r\n\r\n").encode()
            answer = send_raw(port, too_large)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 413") and b"application/json" in head
            assert "MAX_CONTENT_LENGTH" in json.loads(body)["error"]
            for sock in slow:
                sock.close()
            assert [p for p in (prefix / "client_body").rglob("*") if p.is_file()] == []
        finally:
            nginx.terminate()
            nginx.wait(10)
