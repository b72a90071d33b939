"""The servers a benchmark run loads: gunicorn with the repository's config on a free loopback port."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass(frozen=True)
class Server:
    name: str
    wsgi: str
    engine: str | None = None
    env: dict[str, str] = field(default_factory=dict)


SERVERS = {
    "noop": Server("no-op floor (HTTP)", "bench.noop_app:app"),
    "onnxruntime": Server(
        "app onnxruntime (default)", "wsgi:app", "onnxruntime", {"EMNIST_ENABLE_BATCHING": "0"}
    ),
    "onnxruntime+batching": Server(
        "app onnxruntime + batching", "wsgi:app", "onnxruntime", {"EMNIST_ENABLE_BATCHING": "1"}
    ),
    "tensorflow": Server(
        "app tensorflow (default)", "wsgi:app", "tensorflow", {"EMNIST_ENABLE_BATCHING": "0"}
    ),
    "tensorflow+batching": Server(
        "app tensorflow + batching", "wsgi:app", "tensorflow", {"EMNIST_ENABLE_BATCHING": "1"}
    ),
}
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RunningServer:
    """gunicorn with the repository's config, started on a free loopback port; stopped on exit."""

    def __init__(
        self,
        server: Server,
        model_name: str,
        log_path: Path,
        extra_env: dict[str, str],
        gunicorn_args: list[str] | None = None,
    ) -> None:
        self.server = server
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/models/{model_name}:predict"
        env = {
            **os.environ,
            **extra_env,
            **server.env,
            "EMNIST_MODEL_NAME": model_name,
            "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0",
        }
        if server.engine:
            env["EMNIST_ENGINE"] = server.engine
        self.log_file = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gunicorn",
                "--config",
                str(REPO / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--chdir",
                str(REPO),
                *(gunicorn_args or []),
                server.wsgi,
            ],
            cwd=REPO,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_first_answer(self, body: bytes, content_type: str, timeout: float) -> float:
        """Seconds from spawn to the first 200 answer of a predict request (the cold start)."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.server.name}: gunicorn exited with {self.process.returncode}: {self.log_tail()}"
                )
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request(
                    "POST",
                    self.url.split(str(self.port), 1)[1],
                    body=body,
                    headers={"Content-Type": content_type},
                )
                status = connection.getresponse().status
                connection.close()
                if status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.server.name}: no answer within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, size: int = 1500) -> str:
        """The end of the server's log (for error messages)."""
        self.log_file.flush()
        data = Path(self.log_file.name).read_bytes()[-size:]
        return data.decode("utf-8", "replace")

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by the gunicorn master and its workers."""
        import psutil

        try:
            master = psutil.Process(self.process.pid)
            processes = [master, *master.children()]
            return sum(sum(p.cpu_times()[:2]) for p in processes)
        except psutil.Error:
            return float("nan")

    def worker_rss_mb(self) -> list[float]:
        import psutil

        try:
            children = psutil.Process(self.process.pid).children()
            return sorted(child.memory_info().rss / 2**20 for child in children)
        except psutil.Error:
            return []

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log_file.close()
