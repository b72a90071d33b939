"""The servers a benchmark run loads, each on free loopback ports: gunicorn with the repository's config
(REST, and the GraphPipe port for the app), and the model server's gRPC workers beside it.

An app server with ``protocols`` also gets its gRPC twin: ``python -m webapp.model_server`` with REST off
and the same engine and settings, so that the gRPC cells (TF Serving's and the Open Inference Protocol's
services) are measured on the same machine state as the REST ones. A ``front_end_of`` server is the app
as a front end to another server's gRPC twin (``EMNIST_MODEL_SERVER``).
"""

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
    #: Serves every protocol: the GraphPipe port on, and a gRPC twin started beside it.
    protocols: bool = False
    #: The key of the server whose gRPC twin this app fronts (it then does no inference itself).
    front_end_of: str | None = None


SERVERS = {
    "noop": Server("no-op floor (HTTP)", "bench.noop_app:app"),
    "onnxruntime": Server(
        "app onnxruntime (default)", "wsgi:app", "onnxruntime", {"EMNIST_ENABLE_BATCHING": "0"}, True
    ),
    "onnxruntime+batching": Server(
        "app onnxruntime + batching", "wsgi:app", "onnxruntime", {"EMNIST_ENABLE_BATCHING": "1"}
    ),
    "tensorflow": Server(
        "app tensorflow (default)", "wsgi:app", "tensorflow", {"EMNIST_ENABLE_BATCHING": "0"}, True
    ),
    "tensorflow+batching": Server(
        "app tensorflow + batching", "wsgi:app", "tensorflow", {"EMNIST_ENABLE_BATCHING": "1"}
    ),
    "front-end": Server(
        "front end to the onnxruntime gRPC model server", "wsgi:app", None, front_end_of="onnxruntime"
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
        model_server: str | None = None,
    ) -> None:
        self.server = server
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base_url}/v1/models/{model_name}:predict"
        env = {
            **os.environ,
            **extra_env,
            **server.env,
            "EMNIST_MODEL_NAME": model_name,
            "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0",
        }
        if server.engine:
            env["EMNIST_ENGINE"] = server.engine
        self.graphpipe_url: str | None = None
        if server.protocols:
            graphpipe_port = free_port()
            env["EMNIST_GRAPHPIPE_PORT"] = str(graphpipe_port)
            self.graphpipe_url = f"http://127.0.0.1:{graphpipe_port}"
        if model_server:
            env["EMNIST_MODEL_SERVER"] = model_server
        self.env = env
        #: The gRPC twin (``start_grpc``), when the server has one.
        self.grpc: RunningGrpcServer | None = None
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
        return tree_cpu_seconds(self.process.pid)

    def start_grpc(self, model_name: str, log_path: Path) -> RunningGrpcServer:
        """Start the gRPC twin with this server's engine and settings; it stops with this server."""
        self.grpc = RunningGrpcServer(self.env, model_name, log_path)
        return self.grpc

    def worker_rss_mb(self) -> list[float]:
        import psutil

        try:
            children = psutil.Process(self.process.pid).children()
            return sorted(child.memory_info().rss / 2**20 for child in children)
        except psutil.Error:
            return []

    def stop(self) -> None:
        if self.grpc is not None:
            self.grpc.stop()
        stop_process_group(self.process)
        self.log_file.close()


def stop_process_group(process: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM to a server started in its own session (gunicorn and its workers), SIGKILL after ``grace``."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants, so far."""
    import psutil

    try:
        root = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return float("nan")


class RunningGrpcServer:
    """The model server with REST off (``--rest_api_port 0``): its gRPC workers on a free port."""

    def __init__(self, env: dict[str, str], model_name: str, log_path: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.model_name = model_name
        env = {key: value for key, value in env.items() if key != "EMNIST_GRAPHPIPE_PORT"}
        self.log_file = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [PYTHON, "-m", "webapp.model_server", "--port", str(self.port), "--rest_api_port", "0",
             "--grpc_workers", str(workers)],
            cwd=REPO, env={**env, "EMNIST_GRPC_GRACE_SECONDS": "2"}, stdout=self.log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_serving(self, timeout: float) -> None:
        from grpc_load import wait_serving  # bench/ is the script's folder

        wait_serving(self.target, self.process, timeout, self.model_name, self.log_tail)

    def log_tail(self, size: int = 1500) -> str:
        self.log_file.flush()
        return Path(self.log_file.name).read_bytes()[-size:].decode("utf-8", "replace")

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        stop_process_group(self.process)
        self.log_file.close()
