"""Slow clients against the server: do normal clients still get answers while slow connections are open?

What one run does, all on 127.0.0.1, bounded in time and in connections:

* starts gunicorn with the repository's ``gunicorn.conf.py`` (or measures a server already running at
  ``--url``, e.g. nginx in front of gunicorn);
* a baseline: ``--clients`` normal clients (each request on a new connection, alternating ``GET /healthz``
  and a one-image ``:predict``) for ``--duration`` seconds;
* the same clients again while ``--slow`` slow connections are held open, of four kinds in equal parts:
  ``one-byte`` (sends one byte of a request line, then nothing), ``header-trickle`` (a request line,
  then one header byte per second), ``body-trickle`` (full headers announcing a 1 MB body, then one
  byte per second), ``idle`` (connects, sends nothing). A slow connection the server closes is
  reopened at once, so the count stays at ``--slow`` for the whole phase, as an attacker would keep it;
* prints, per phase, requests, failures (errors, timeouts, non-200) and latency p50/p99/max, and per slow
  kind how many connections the server closed and after how long (the server's read timeouts).

Figures are printed (and written as JSON with ``--json``), never asserted. ``--quick`` is a short pass.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_servers import free_port, stop_process_group  # bench/ is the script's folder

REPO = Path(__file__).resolve().parent.parent
KINDS = ("one-byte", "header-trickle", "body-trickle", "idle")
#: One normal request's time limit: longer counts as a failure (a timeout).
CLIENT_TIMEOUT_S = 10.0
TRICKLE_INTERVAL_S = 1.0


class Gunicorn:
    """The app under gunicorn with the repository's config on a free loopback port."""

    def __init__(self, engine: str, extra_args: list[str], log_path: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "EMNIST_ENGINE": engine, "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0"}
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(REPO / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{self.port}", *extra_args, "wsgi:app"],
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/readyz")
                if connection.getresponse().status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn not ready within {timeout:.0f} s")

    def stop(self) -> None:
        stop_process_group(self.process)
        self.log.close()


@dataclass
class SlowConnection:
    kind: str
    sock: socket.socket
    opened: float
    sent: int = 0
    next_send: float = 0.0


@dataclass
class SlowStats:
    opened: int = 0
    closed_by_server: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})


class SlowClients:
    """``count`` slow connections of the four kinds, kept open (reopened when closed) by one thread."""

    def __init__(self, host: str, port: int, path: str, count: int) -> None:
        self.address = (host, port)
        self.path = path
        self.count = count
        self.stats = SlowStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._selector = selectors.DefaultSelector()
        self._connections: list[SlowConnection] = []

    def _open(self, kind: str) -> None:
        try:
            sock = socket.create_connection(self.address, timeout=5)
        except OSError:
            return  # the server's backlog is full: counted as not opened, retried on the next pass
        sock.setblocking(False)
        now = time.monotonic()
        connection = SlowConnection(kind, sock, now, next_send=now)
        self._connections.append(connection)
        self._selector.register(sock, selectors.EVENT_READ, connection)
        self.stats.opened += 1
        self._first_bytes(connection)

    def _first_bytes(self, connection: SlowConnection) -> None:
        head = {
            "one-byte": b"P",
            "header-trickle": f"POST {self.path} HTTP/1.1\r\nHost: x\r\n".encode(),
            "body-trickle": (f"POST {self.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             "Content-Length: 1000000\r\n\r\n").encode(),
            "idle": b"",
        }[connection.kind]
        self._send(connection, head)
        connection.next_send = time.monotonic() + TRICKLE_INTERVAL_S

    def _send(self, connection: SlowConnection, data: bytes) -> None:
        if not data:
            return
        with contextlib.suppress(OSError):
            connection.sock.send(data)
            connection.sent += len(data)

    def _closed(self, connection: SlowConnection) -> None:
        self._selector.unregister(connection.sock)
        connection.sock.close()
        self._connections.remove(connection)
        self.stats.closed_by_server[connection.kind].append(time.monotonic() - connection.opened)

    def _run(self) -> None:
        for index in range(self.count):
            self._open(KINDS[index % len(KINDS)])
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                connection = key.data
                try:
                    data = connection.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:  # the server closed it (or answered and closed): reopen one of the kind
                    self._closed(connection)
                    self._open(connection.kind)
            now = time.monotonic()
            for connection in list(self._connections):
                if connection.kind in ("header-trickle", "body-trickle") and now >= connection.next_send:
                    self._send(connection, b"a")
                    connection.next_send = now + TRICKLE_INTERVAL_S
            missing = self.count - len(self._connections)
            for index in range(missing):
                self._open(KINDS[index % len(KINDS)])

    def __enter__(self) -> SlowClients:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)
        for connection in self._connections:
            connection.sock.close()

    def open_now(self) -> int:
        return len(self._connections)


def one_image_body() -> bytes:
    return json.dumps({"instances": [[0.0] * 784]}).encode()


def normal_clients(host: str, port: int, path: str, clients: int, duration: float) -> dict[str, Any]:
    """``clients`` threads, each request on a new connection, for ``duration`` s -> failures, latencies."""
    latencies: list[float] = []
    failures: dict[str, int] = {}
    lock = threading.Lock()
    body = one_image_body()
    deadline = time.monotonic() + duration

    def loop(index: int) -> None:
        count = index
        while time.monotonic() < deadline:
            count += 1
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection(host, port, timeout=CLIENT_TIMEOUT_S)
                if count % 2:
                    connection.request("GET", "/healthz")
                else:
                    connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                connection.close()
                outcome = None if response.status == 200 else f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                outcome = type(exc).__name__
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if outcome is not None:
                    failures[outcome] = failures.get(outcome, 0) + 1

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + CLIENT_TIMEOUT_S + 5)
    return summary(latencies, failures)


def summary(latencies: list[float], failures: dict[str, int]) -> dict[str, Any]:
    ordered = sorted(latencies)

    def percentile(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")

    return {
        "requests": len(ordered),
        "failures": sum(failures.values()),
        "failure_kinds": failures,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "max_ms": ordered[-1] * 1000 if ordered else float("nan"),
    }


def print_phase(name: str, figures: dict[str, Any]) -> None:
    kinds = ", ".join(f"{k} {v}" for k, v in figures["failure_kinds"].items()) or "none"
    print(f"{name:<34} {figures['requests']:>6} requests  {figures['failures']:>5} failed ({kinds})  "
          f"p50 {figures['p50_ms']:8.1f} ms  p99 {figures['p99_ms']:8.1f} ms  "
          f"max {figures['max_ms']:8.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="measure this running server (http://127.0.0.1:PORT) instead")
    parser.add_argument("--engine", default="onnxruntime", choices=("onnxruntime", "tensorflow"))
    parser.add_argument("--gunicorn-args", default="", help="extra gunicorn options after --config")
    parser.add_argument("--slow", type=int, default=200, help="slow connections held open")
    parser.add_argument("--clients", type=int, default=4, help="normal client threads")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--model-name", default="emnist")
    parser.add_argument("--quick", action="store_true", help="a short pass (40 slow connections, 3 s)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.slow, args.duration = min(args.slow, 40), min(args.duration, 3.0)
    if not 0 < args.slow <= 1000 or not 0 < args.duration <= 300:
        parser.error("--slow must be 1-1000 and --duration 0-300 s (bounded loads only)")

    path = f"/v1/models/{args.model_name}:predict"
    server = None
    if args.url:
        host, port = args.url.split("//", 1)[-1].rstrip("/").rsplit(":", 1)
        port = int(port)
        if host not in ("127.0.0.1", "localhost", "::1"):
            parser.error("--url must be a loopback address")
    else:
        log_path = Path(tempfile.mkdtemp(prefix="slow-clients-")) / "gunicorn.log"
        server = Gunicorn(args.engine, args.gunicorn_args.split(), log_path)
        host, port = "127.0.0.1", server.port
    try:
        if server is not None:
            server.wait_ready(120)
        baseline = normal_clients(host, port, path, args.clients, args.duration)
        with SlowClients(host, port, path, args.slow) as slow:
            time.sleep(1.0)  # every slow connection is open and has sent its first bytes
            loaded = normal_clients(host, port, path, args.clients, args.duration)
            still_open = slow.open_now()
        stats = slow.stats
    finally:
        if server is not None:
            server.stop()
    target = args.url or f"gunicorn.conf.py {args.gunicorn_args}".strip() + f", engine {args.engine}"
    print(f"server: {target}; {args.clients} normal clients, {args.duration:.0f} s per phase")
    print_phase("no slow connections", baseline)
    print_phase(f"{args.slow} slow connections open", loaded)
    closed = {kind: times for kind, times in stats.closed_by_server.items()}
    print(f"slow connections: {stats.opened} opened, {still_open} open at the end")
    for kind in KINDS:
        times = closed[kind]
        median = f"median after {statistics.median(times):.1f} s" if times else "never closed"
        print(f"  {kind:<15} closed by the server {len(times):>5} times ({median})")
    if args.json:
        args.json.write_text(json.dumps({
            "server": target, "slow": args.slow, "clients": args.clients, "duration_s": args.duration,
            "baseline": baseline, "with_slow": loaded, "slow_opened": stats.opened,
            "slow_closed_after_s": {k: v for k, v in closed.items()},
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
