"""Images and containers for the container tests and bench/soak.py: podman as this machine runs it.

No registry is reachable here, so the base image is built from Debian's packages (mmdebstrap, then
``podman import``) and handed to the Dockerfile as ``BASE_IMAGE``; pip inside the build reaches the same
package index as the host's pip (``container/pip_build_config.py``). Debian's podman builds with
``--isolation chroot`` and runs containers with runc (crun refuses this machine's cgroups) and explicit
ulimits. Ports are published on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.bench_servers import free_port

REPO = Path(__file__).resolve().parent.parent

PODMAN = "podman"
RUN_OPTIONS = ("--runtime", "/usr/sbin/runc")
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
IMAGE = "localhost/emnist-serving"
#: Debian's documentation, manual pages and translations stay out of the base, the packages' copyright
#: files kept (as in python:3.11-slim's base, debian:bookworm-slim).
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
DPKG_INCLUDES = ("/usr/share/doc/*/copyright",)
#: mmdebstrap's merged-/usr hook sets up /bin -> /usr/bin and friends itself and installs usr-is-merged, as
#: debootstrap (and so debian:bookworm) does; without it, init-system-helpers' "usrmerge | usr-is-merged"
#: installs usrmerge, and with it Perl (perl, libperl, perl-modules: 50 MB no image here runs).
MMDEBSTRAP = ("mmdebstrap", "--variant=minbase", "--include=python3,python3-venv",
              "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
              *(f"--dpkgopt=path-exclude={pattern}" for pattern in DPKG_EXCLUDES),
              *(f"--dpkgopt=path-include={pattern}" for pattern in DPKG_INCLUDES), "bookworm")
#: The base's tag names its recipe: a changed recipe builds a new base instead of reusing the old one.
BASE_IMAGE = ("localhost/emnist-test-base:bookworm-"
              + hashlib.sha256(" ".join(MMDEBSTRAP).encode()).hexdigest()[:12])
TOOLS = ("podman", "runc", "mmdebstrap")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists()]


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=check)


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def build_base_image(name: str = BASE_IMAGE) -> str:
    """Debian bookworm minbase with python3 and python3-venv, imported as ``name`` (kept between runs)."""
    if image_exists(name):
        return name
    with tempfile.TemporaryDirectory(prefix="emnist-base-") as folder:
        rootfs = Path(folder) / "rootfs.tar"
        subprocess.run([*MMDEBSTRAP, str(rootfs)], check=True, capture_output=True, timeout=900)
        podman("import", str(rootfs), name, timeout=300)
    return name


def build_image(target: str, base_image: str) -> tuple[str, float]:
    """``podman build --target target`` of the checkout's Dockerfile (the layer cache reused): the image
    and the seconds the build took."""
    name = f"{IMAGE}:{target}"
    with tempfile.TemporaryDirectory(prefix="emnist-pip-") as folder:
        from container.pip_build_config import podman_build_args

        pip_args = podman_build_args(Path(folder) / "pip.conf")
        started = time.monotonic()
        built = subprocess.run(
            [PODMAN, "build", "--isolation", "chroot", "--format", "docker", "--target", target,
             "--build-arg", f"BASE_IMAGE={base_image}", *pip_args, "--tag", name, str(REPO)],
            capture_output=True, text=True, timeout=3600)
    if built.returncode != 0:
        raise AssertionError(f"podman build --target {target} failed:\n{built.stdout[-4000:]}\n"
                             f"{built.stderr[-4000:]}")
    return name, time.monotonic() - started


def image_config(name: str) -> dict:
    """The image's configuration (podman reports the health check beside it, not inside)."""
    inspected = json.loads(podman("image", "inspect", name).stdout)[0]
    return {**inspected["Config"], "Healthcheck": inspected.get("Healthcheck")}


@dataclass
class Container:
    """One container, its published ports (container port -> port on 127.0.0.1)."""

    image: str
    command: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    volumes: Sequence[str] = ()
    ports: Sequence[int] = (8000, 8500)
    name: str = ""
    published: dict[int, int] = field(default_factory=dict)

    def start(self) -> Container:
        self.published = {port: free_port() for port in self.ports}
        self.name = self.name or f"emnist-test-{time.monotonic_ns()}"
        args = ["run", "--detach", "--name", self.name, *ULIMITS]
        for inside, outside in self.published.items():
            args += ["--publish", f"127.0.0.1:{outside}:{inside}"]
        for key, value in self.env.items():
            args += ["--env", f"{key}={value}"]
        for volume in self.volumes:
            args += ["--volume", volume]
        podman(*RUN_OPTIONS, *args, self.image, *self.command)
        return self

    def url(self, port: int, path: str) -> str:
        return f"http://127.0.0.1:{self.published[port]}{path}"

    def target(self, port: int = 8500) -> str:
        return f"127.0.0.1:{self.published[port]}"

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return (done.stdout + done.stderr)[-6000:]

    def running(self) -> bool:
        state = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"

    def wait_http(self, port: int, path: str, timeout: float = 180.0) -> bytes:
        """The body of the first 200 ``GET path`` answers within ``timeout`` (the container must live)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not self.running():
                raise AssertionError(f"container {self.name} exited:\n{self.logs()}")
            try:
                with urllib.request.urlopen(self.url(port, path), timeout=5) as answer:
                    return answer.read()
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise AssertionError(f"{path} never answered 200 within {timeout} s ({last}):\n{self.logs()}")

    def signal(self, name: str) -> None:
        podman("kill", "--signal", name, self.name)

    def wait_exit(self, timeout: float) -> int:
        """The exit code once the container stops; AssertionError when it is still running at ``timeout``."""
        try:
            done = podman("wait", self.name, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"container {self.name} still running {timeout} s later:\n"
                                 f"{self.logs()}") from None
        return int(done.stdout.strip().splitlines()[-1])

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman(*RUN_OPTIONS, "exec", self.name, *command, check=False)

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False, timeout=60)


def publish_tree(source: Path, destination: Path) -> None:
    """Copy a model tree readable by the image's user (uid 10001) whatever the umask."""
    shutil.copytree(source, destination)
    for path in [destination, *destination.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)

