"""The image's HEALTHCHECK: healthy when the server in this container answers its readiness probe.

The model server and the front end answer ``/readyz`` on GUNICORN_BIND's port (8000 in the image); the
``serve`` role (SageMaker) listens on 8080 instead and answers ``/ping``: with nothing listening on the
first, the second is asked. ``--grpc-port 8500`` also asks the gRPC health service (the server, ``""``)
and wants SERVING. Exit 0 when healthy, else 1 (Docker's and podman's convention).
"""

from __future__ import annotations

import argparse
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


def http_healthy() -> bool:
    targets = ((_port_of(os.environ.get("GUNICORN_BIND", ""), 8000), "/readyz"),
               (int(os.environ.get("SAGEMAKER_BIND_TO_PORT") or 8080), "/ping"))
    for port, path in targets:
        try:
            status = probe(port, path)
        except OSError as exc:
            print(f"{path} on port {port}: {exc}", file=sys.stderr)
            return False
        if status is not None:
            print(f"{path} on port {port}: {status}")
            return status == 200
    print("no server listens on " + " or ".join(str(port) for port, _ in targets), file=sys.stderr)
    return False


def grpc_healthy(port: int) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""),
                                                                timeout=TIMEOUT_SECONDS)
        except grpc.RpcError as exc:
            print(f"gRPC health on port {port}: {exc.code().name}", file=sys.stderr)
            return False
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    print(f"gRPC health on port {port}: {status}")
    return answer.status == health_pb2.HealthCheckResponse.SERVING


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="healthcheck", description=__doc__.split("\n\n")[0])
    parser.add_argument("--grpc-port", type=int, help="also ask gRPC health on this port")
    args = parser.parse_args(argv)
    healthy = http_healthy() and (args.grpc_port is None or grpc_healthy(args.grpc_port))
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
