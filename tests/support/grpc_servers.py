"""gRPC model servers for the tests: one in this process over a real serving core, or the whole model
server (``python -m webapp.model_server``) as separate processes, with the stock stubs to call them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.paths import MODELS, REPO, SERVED_MODEL

START_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_settings(**overrides: Any) -> dict[str, Any]:
    """The bundled model with the light onnxruntime engine, no polling, no SIGHUP."""
    settings = {"MODEL_BASE_PATH": str(MODELS), "MODEL_NAME": SERVED_MODEL, "ENGINE": "onnxruntime",
                "FILE_SYSTEM_POLL_SECONDS": 0, "MODEL_RELOAD_ON_SIGHUP": False}
    settings.update(overrides)
    return settings


@dataclass
class InProcessServer:
    port: int
    core: Any
    server: Any

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def grpc_server(**overrides: Any) -> Iterator[InProcessServer]:
    """A started serving core and its gRPC server on a free loopback port (stopped afterwards)."""
    from serving_core.server_core import ServerCore
    from webapp.grpc.server import start_grpc_server
    from webapp.settings import load_settings

    settings, _ = load_settings(server_settings(**overrides), environ={})
    core = ServerCore(settings.core_options())
    if settings["START_REGISTRY"]:
        core.start()
    server = start_grpc_server(settings, core, "127.0.0.1:0")
    try:
        yield InProcessServer(server.port, core, server)
    finally:
        server.stop(0)
        core.stop()


def health_status(target: str, service: str = "", timeout: float = 2.0) -> Any:
    """grpc_health_probe's question: the serving status of ``service`` (a grpc.RpcError if unanswered)."""
    with grpc.insecure_channel(target) as channel:
        request = health_pb2.HealthCheckRequest(service=service)
        return health_pb2_grpc.HealthStub(channel).Check(request, timeout=timeout).status


class ModelServerProcess:
    """``python -m webapp.model_server`` in its own session, with its log in a file."""

    def __init__(self, log_path: Path, grpc_port: int, rest_port: int = 0, workers: int = 1,
                 python: str = sys.executable, cwd: Path = REPO, **settings: Any) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("EMNIST_")}
        for key, value in server_settings(GRPC_GRACE_SECONDS=5, **settings).items():
            env[f"EMNIST_{key}"] = str(int(value) if isinstance(value, bool) else value)
        self.grpc_port = grpc_port
        self.rest_port = rest_port
        self.log_path = log_path
        command = [python, "-m", "webapp.model_server", "--port", str(grpc_port),
                   "--rest_api_port", str(rest_port), "--grpc_workers", str(workers)]
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]

    def wait_serving(self, timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the model server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if health_status(self.target, timeout=0.5) == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the model server did not serve within {timeout} s:\n{self.log()}")

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM to the launcher (as a process manager sends it); its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        """SIGKILL to every process of the server (launcher and workers)."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def __enter__(self) -> ModelServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
