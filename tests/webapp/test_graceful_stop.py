"""SIGTERM to the whole model server (``python -m webapp.model_server``) under load: the drain.

Four keep-alive REST clients and four gRPC clients (TF Serving's stock stub) keep the server busy; the
launcher gets SIGTERM. Readiness (``/readyz``, gRPC health) must turn NOT_SERVING while connections are
still taken, answers during the drain must say ``Connection: close``, every request the server accepted
must be answered 200 / OK, the only other outcome a refused new connection, and the server must exit 0
by itself (nothing killed).
"""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2

from tests.support.grpc_servers import ModelServerProcess, free_port, health_status
from tests.support.stop_load import start_clients

pytestmark = pytest.mark.slow
DRAIN_SECONDS = 1.5
CLIENTS = 4
RUNS = 2


def rest_ready(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/readyz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def readyz_until_refused(port: int, seen: list[int]) -> None:
    """/readyz on a new connection, again and again, until one is refused: the statuses answered."""
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", "/readyz")
            seen.append(connection.getresponse().status)
        except ConnectionRefusedError:
            return
        finally:
            connection.close()
        time.sleep(0.05)


def health_until_refused(target: str, seen: list[str]) -> None:
    while True:
        try:
            status = health_status(target, timeout=5)
        except grpc.RpcError:
            return
        seen.append(health_pb2.HealthCheckResponse.ServingStatus.Name(status))
        time.sleep(0.05)


def server_processes(server: ModelServerProcess) -> list[psutil.Process]:
    """Every process of the server's session (the launcher, gunicorn, every worker)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != server.process.pid and os.getsid(process.pid) == server.process.pid:
                found.append(process)
        except (psutil.NoSuchProcess, ProcessLookupError, PermissionError):
            continue
    return found


@pytest.mark.parametrize("run", range(RUNS))
def test_sigterm_under_keep_alive_rest_and_grpc_load_fails_no_accepted_request(tmp_path, run):
    grpc_port, rest_port = free_port(), free_port()
    with ModelServerProcess(tmp_path / "server.log", grpc_port, rest_port, workers=2,
                            DRAIN_SECONDS=DRAIN_SECONDS) as server:
        server.wait_serving()
        deadline = time.monotonic() + 90
        while not rest_ready(rest_port):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        rest, rpc, clients = start_clients(rest_port, server.target, CLIENTS, seconds=60)
        while min(rest.answered, rpc.answered) < 20:  # every client is under way
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        answered_before = rest.answered

        server.process.send_signal(signal.SIGTERM)
        readyz: list[int] = []
        health: list[str] = []
        probes = [threading.Thread(target=readyz_until_refused, args=(rest_port, readyz)),
                  threading.Thread(target=health_until_refused, args=(server.target, health))]
        for probe in probes:
            probe.start()
        code = server.process.wait(60)
        for thread in [*clients, *probes]:
            thread.join(60)
        log = server.log()
        leftovers = server_processes(server)

    assert code == 0, log
    assert not leftovers, f"still running after the launcher exited: {leftovers}"
    assert "killing" not in log and "SIGKILL" not in log, log
    assert rest.failures == [], f"REST requests accepted and not answered 200: {rest.failures}\n{log}"
    assert rpc.failures == [], f"RPCs accepted and not answered OK: {rpc.failures}\n{log}"
    # Every client ran until the server refused its new connection.
    assert rest.refused == CLIENTS and rpc.refused == CLIENTS, (rest, rpc)
    assert rest.answered > answered_before  # answered during the drain ...
    assert rest.closed_by_server >= CLIENTS  # ... with Connection: close
    assert 503 in readyz, readyz  # not ready while connections were still taken
    assert "NOT_SERVING" in health, health


def gunicorn_workers(server: ModelServerProcess) -> set[int]:
    """The pids of the server's gunicorn workers (the children of its gunicorn master)."""
    for child in psutil.Process(server.process.pid).children():
        if "gunicorn" in " ".join(child.cmdline()):
            return {worker.pid for worker in child.children()}
    return set()


def test_sighup_replaces_the_rest_workers_without_a_moment_not_ready(tmp_path, monkeypatch):
    """SIGHUP reloads gunicorn's workers: each old one answers until a new one is ready, so /readyz (what a
    load balancer checks) never says 503 and no connection is refused during the reload."""
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    grpc_port, rest_port = free_port(), free_port()
    with ModelServerProcess(tmp_path / "server.log", grpc_port, rest_port, workers=1) as server:
        server.wait_serving()
        deadline = time.monotonic() + 90
        while not rest_ready(rest_port):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        before = gunicorn_workers(server)
        server.process.send_signal(signal.SIGHUP)
        seen: list[object] = []
        replaced_at = None
        while time.monotonic() < deadline:
            connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=10)
            try:
                connection.request("GET", "/readyz")
                seen.append(connection.getresponse().status)
            except OSError as error:
                seen.append(repr(error))
            finally:
                connection.close()
            workers = gunicorn_workers(server)
            if replaced_at is None and workers and not workers & before:
                replaced_at = time.monotonic()
            if replaced_at is not None and time.monotonic() > replaced_at + 2:
                break
            time.sleep(0.02)
        log = server.log()

    assert replaced_at is not None, f"the workers were not replaced: {before}\n{log}"
    assert len(seen) > 20 and set(seen) == {200}, f"{[s for s in seen if s != 200]}\n{log}"
