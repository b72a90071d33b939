"""The real server for the tests: gunicorn with the repository's gunicorn.conf.py and wsgi.py on loopback."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.paths import REPO, SERVED_MODEL

#: A generous bound on starting up (both workers load the model): a liveness deadline, not a timing goal.
START_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def send_raw(port: int, data: bytes, timeout: float = 10.0, half_close: bool = False) -> bytes:
    """Send raw bytes on a new loopback connection and read until the server closes it (or ``timeout``);
    ``half_close``: then end the sending side, as a client that sent all it will."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


class GunicornServer:
    """A running ``gunicorn --config gunicorn.conf.py wsgi:app``; ``request()`` talks to it."""

    def __init__(self, process: subprocess.Popen, port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, dict, bytes]:
        """One request on a new connection: (status, headers in lower case, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def raw(self, data: bytes, timeout: float = 10.0, half_close: bool = False) -> bytes:
        """``send_raw`` to this server."""
        return send_raw(self.port, data, timeout, half_close)

    def worker_pids(self) -> list[int]:
        import psutil

        return sorted(child.pid for child in psutil.Process(self.process.pid).children())

    def wait_ready(self, workers: int) -> None:
        """Until ``workers`` workers logged their start and /readyz answers 200 (or fail the test)."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"gunicorn exited:\n{self.log()[-3000:]}"
            if self.log().count("Booting worker") >= workers:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    if self.request("GET", "/readyz", timeout=5)[0] == 200 and self._all_loaded(workers):
                        return
            time.sleep(0.1)
        raise AssertionError(f"gunicorn not ready within {START_SECONDS:.0f} s:\n{self.log()[-3000:]}")

    def _all_loaded(self, workers: int) -> bool:
        return self.log().count("successfully loaded servable version") >= workers

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@contextlib.contextmanager
def gunicorn_server(tmp_path: Path, workers: int = 2, env: dict[str, str] | None = None,
                    args: tuple[str, ...] = (), wait: bool = True) -> Iterator[GunicornServer]:
    """gunicorn as ``make run`` starts it (onnxruntime engine, no polling unless ``env`` says otherwise)."""
    port = free_port()
    environment = {
        **os.environ, "EMNIST_MODEL_NAME": SERVED_MODEL, "EMNIST_ENGINE": "onnxruntime",
        "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0", "WEB_CONCURRENCY": str(workers),
        **(env or {}),
    }
    log_path = tmp_path / f"gunicorn-{port}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(REPO / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{port}", *args, "wsgi:app"],
            cwd=REPO, env=environment, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = GunicornServer(process, port, log_path)
    try:
        if wait:
            server.wait_ready(workers)
        yield server
    finally:
        server.stop()
