"""The image's HEALTHCHECK: healthy when the server in this container answers its readiness probe.

The model server and the front end answer ``/readyz`` on GUNICORN_BIND's port (8000 in the image); the
``serve`` role (SageMaker) listens on 8080 instead and answers ``/ping``: with nothing listening on the
first, the second is asked. Exit 0 when one answers 200, else 1 (Docker's and podman's convention).
"""

from __future__ import annotations

import http.client
import os
import sys

TIMEOUT_SECONDS = 4.0


def _port_of(bind: str, default: int) -> int:
    _, _, port = bind.rpartition(":")
    return int(port) if port.isdigit() else default


def probe(port: int, path: str) -> int | None:
    """The status ``GET path`` answers on 127.0.0.1:port, None when nothing listens there."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except ConnectionRefusedError:
        return None
    finally:
        connection.close()


def main() -> int:
    targets = ((_port_of(os.environ.get("GUNICORN_BIND", ""), 8000), "/readyz"),
               (int(os.environ.get("SAGEMAKER_BIND_TO_PORT") or 8080), "/ping"))
    for port, path in targets:
        try:
            status = probe(port, path)
        except OSError as exc:
            print(f"{path} on port {port}: {exc}", file=sys.stderr)
            return 1
        if status is not None:
            print(f"{path} on port {port}: {status}")
            return 0 if status == 200 else 1
    print("no server listens on " + " or ".join(str(port) for port, _ in targets), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
