"""compose.yaml's stack under podman-compose for the tests and bench/soak.py: started with the images
built from the checkout, the models folder and the load balancer's ports given, stopped and removed.

podman-compose runs podman with its defaults, so the runtime (runc) and the ulimits this machine needs are
given through a containers.conf of the stack's own (CONTAINERS_CONF).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.bench_servers import free_port
from bench.containers import REPO, podman

COMPOSE_FILE = REPO / "compose.yaml"
HAPROXY_CONTEXT = REPO / "deploy" / "compose" / "haproxy"
HAPROXY_IMAGE = "localhost/emnist-haproxy"
REPLICAS = ("model-server-a", "model-server-b")
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
"""


def build_haproxy_image(base_image: str) -> str:
    podman("build", "--isolation", "chroot", "--format", "docker", "--build-arg", f"BASE_IMAGE={base_image}",
           "--tag", HAPROXY_IMAGE, str(HAPROXY_CONTEXT), timeout=900)
    return HAPROXY_IMAGE


@dataclass
class ComposeStack:
    serving_image: str
    haproxy_image: str
    models_dir: Path
    workdir: Path
    project: str = field(default_factory=lambda: f"emnist{time.monotonic_ns() % 10**9}")
    http_port: int = 0
    grpc_port: int = 0

    def _environment(self) -> dict[str, str]:
        conf = self.workdir / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        return {**os.environ, "CONTAINERS_CONF": str(conf), "SERVING_IMAGE": self.serving_image,
                "HAPROXY_IMAGE": self.haproxy_image, "MODELS_DIR": str(self.models_dir),
                "LB_HTTP_PORT": str(self.http_port), "LB_GRPC_PORT": str(self.grpc_port)}

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman-compose", "-p", self.project, "-f", str(COMPOSE_FILE), *args],
                              capture_output=True, text=True, timeout=timeout, env=self._environment(),
                              cwd=REPO)

    def up(self) -> ComposeStack:
        self.http_port, self.grpc_port = self.http_port or free_port(), self.grpc_port or free_port()
        started = self.compose("up", "-d")
        if started.returncode != 0:
            raise AssertionError(f"podman-compose up failed:\n{started.stdout[-3000:]}\n"
                                 f"{started.stderr[-3000:]}")
        return self

    def down(self) -> None:
        self.compose("down", "-t", "10", timeout=300)
        podman("network", "rm", "--force", f"{self.project}_default", check=False)

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def logs(self, service: str, last_chars: int | None = 4000) -> str:
        """The container's output (every start of it), its last ``last_chars`` characters (None: all)."""
        done = podman("logs", self.container(service), check=False)
        output = done.stdout + done.stderr
        return output if last_chars is None else output[-last_chars:]

    def wait_ready(self, timeout: float = 240.0) -> None:
        """Until the front end answers /readyz 200 through the load balancer."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url("/readyz"), timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                last = str(exc)
            time.sleep(1)
        raise AssertionError(f"the stack never became ready ({last}):\n" +
                             "\n".join(f"--- {name}\n{self.logs(name)}"
                                       for name in (*REPLICAS, "front-end", "load-balancer")))

    def replica_versions(self, service: str) -> list[str]:
        """The AVAILABLE versions a replica's REST server reports, asked inside its container."""
        code = ("import json, urllib.request; print(json.dumps(json.load(urllib.request.urlopen("
                "'http://127.0.0.1:8000/v1/models/emnist', timeout=5))))")
        done = podman("exec", self.container(service), "/opt/venv/bin/python", "-c", code, check=False)
        if done.returncode != 0:
            return []
        states = json.loads(done.stdout)["model_version_status"]
        return sorted(state["version"] for state in states if state["state"] == "AVAILABLE")
