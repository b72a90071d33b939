"""The app as a front end to separate model servers: two gRPC-only model servers and a front end whose
``/predict`` keeps its contract and preprocessing while inference goes to them, as the README's shell
block starts them; one request through it, then all three stopped (SIGTERM).

``python examples/remote_front_end.py``: model servers on gRPC 8600 and 8610, the front end on
http://127.0.0.1:8100, ports that do not collide with a running ``make run`` (8000 and 8500); ``--ports``
and ``--rest-port`` move them. Needs only ``make run``'s set (it starts ``python -m webapp.model_server``
with this interpreter) and ``requests``. Settings (``EMNIST_ENGINE``, ...) come from the environment.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack, suppress
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
START_SECONDS = 120.0


def model_server(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m webapp.model_server`` in its own session (its gunicorn and gRPC workers with it)."""
    return subprocess.Popen([sys.executable, "-m", "webapp.model_server", "--host", "127.0.0.1", *args],
                            cwd=REPO, env={**os.environ, **(env or {})}, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, as a process manager stops it; SIGKILL to its whole session if it has not ended in 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_ready(url: str, processes: list[subprocess.Popen]) -> None:
    """Until the front end's ``/readyz`` answers 200 (its model servers answer) or a server exits."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            sys.exit("a model server exited while starting (its log is above)")
        with suppress(requests.ConnectionError):
            if requests.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        time.sleep(0.5)
    sys.exit(f"{url} was not ready within {START_SECONDS:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, nargs=2, default=[8600, 8610],
                        help="the model servers' gRPC ports")
    parser.add_argument("--rest-port", type=int, default=8100, help="the front end's REST port")
    parser.add_argument("image", nargs="?", type=Path, default=REPO / "test_images" / "A_upper_0.png")
    args = parser.parse_args()

    url = f"http://127.0.0.1:{args.rest_port}"
    targets = ",".join(f"grpc://127.0.0.1:{port}" for port in args.ports)
    with ExitStack() as servers:
        processes = []
        for port in args.ports:  # a model server, gRPC only
            processes.append(model_server("--port", str(port), "--rest_api_port", "0"))
            servers.callback(stop, processes[-1])
        front_end = {"EMNIST_MODEL_SERVER": targets}  # REST only: a front end starts no gRPC server
        processes.append(model_server("--rest_api_port", str(args.rest_port), env=front_end))
        servers.callback(stop, processes[-1])
        wait_ready(url, processes)
        with args.image.open("rb") as image:
            response = requests.post(f"{url}/predict", files={"image": (args.image.name, image)}, timeout=30)
        if not response.ok:
            sys.exit(f"{response.status_code}: {response.text}")
        answer = response.json()
        result = answer["results"][0]
        print(f"{args.image.name}: {result['label']} ({result['probability']:.2f}), answered through "
              f"{url} by {answer['model_spec']}")


if __name__ == "__main__":
    main()
