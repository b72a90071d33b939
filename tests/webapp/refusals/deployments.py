"""Every entry point of one server configuration, served on 127.0.0.1 in this process.

A deployment is what ``python -m webapp.model_server`` runs, plus a front end: the app (fast paths on)
over HTTP with its GraphPipe port, the same serving core behind a gRPC server, the app with the fast paths
off, and the app as a front end to remote model servers (the gRPC server above, and the app's REST API).
All of them share one profile of settings (``PROFILES``), the front ends included, so every entry point
of a deployment is held to the same limits and deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import grpc

from tests.support.apps import build_app, stop_app
from tests.support.servers import served, serving_wsgi
from tests.webapp.refusals import expected

#: The settings of each profile (every server of a deployment gets them).
LIMITS = {"MAX_INSTANCES": expected.MAX_INSTANCES, "MAX_DECODED_IMAGES": expected.MAX_DECODED_IMAGES,
          "MAX_DECODED_PIXELS": expected.MAX_DECODED_PIXELS}
PROFILES: dict[str, dict[str, Any]] = {
    "limits": LIMITS,
    "tensorflow": {"ENGINE": "tensorflow", **LIMITS},
    "expired": {"REQUEST_DEADLINE_SECONDS": expected.EXPIRED_DEADLINE_SECONDS},
    "queued": {"ENABLE_BATCHING": True, "BATCHING_MAX_BATCH_SIZE": 32,
               "BATCHING_TIMEOUT_MICROS": int(expected.BATCH_TIMEOUT_SECONDS * 1e6),
               "REQUEST_DEADLINE_SECONDS": expected.QUEUED_DEADLINE_SECONDS},
}
#: The profile each case runs in.
PROFILE_OF_CASE = {"expired_deadline": "expired", "deadline_while_queued": "queued",
                   "bad_example": "tensorflow"}


def profile_of(case: str) -> str:
    return PROFILE_OF_CASE.get(case, "limits")


@dataclass(frozen=True)
class Deployment:
    """The addresses of a deployment's entry points (HTTP base URLs, the gRPC channel)."""

    fast_url: str
    flask_url: str
    graphpipe_port_url: str
    remote_grpc_url: str
    remote_http_url: str
    channel: grpc.Channel


def start(profile: str, stack: ExitStack) -> Deployment:
    """Start a deployment with ``PROFILES[profile]``; everything stops when ``stack`` closes."""
    from webapp.grpc.server import start_grpc_server

    settings = PROFILES[profile]
    graphpipe_server = stack.enter_context(serving_wsgi())
    fast_server = stack.enter_context(serving_wsgi())
    fast_app = build_app(GRAPHPIPE_PORT=graphpipe_server.server_port, **settings)
    stack.callback(stop_app, fast_app)
    graphpipe_server.app = fast_server.app = fast_app
    fast_url = f"http://127.0.0.1:{fast_server.server_port}"

    grpc_server = start_grpc_server(fast_app.extensions["settings"], fast_app.extensions["serving_core"],
                                    "127.0.0.1:0")
    stack.callback(grpc_server.stop, 0)
    channel = stack.enter_context(grpc.insecure_channel(f"127.0.0.1:{grpc_server.port}"))

    urls = []
    for overrides in ({"FAST_PREDICT_PATH": False}, {"MODEL_SERVER": f"grpc://127.0.0.1:{grpc_server.port}"},
                      {"MODEL_SERVER": fast_url}):
        app = build_app(**settings, **overrides)
        stack.callback(stop_app, app)
        urls.append(stack.enter_context(served(app)))
    flask_url, remote_grpc_url, remote_http_url = urls
    return Deployment(fast_url, flask_url, f"http://127.0.0.1:{graphpipe_server.server_port}",
                      remote_grpc_url, remote_http_url, channel)


def deployments() -> Iterator[Callable[[str], Deployment]]:
    """``deployment(profile)``: started on first use, shared afterwards, all stopped at the end."""
    with ExitStack() as stack:
        started: dict[str, Deployment] = {}

        def deployment(profile: str) -> Deployment:
            if profile not in started:
                started[profile] = start(profile, stack)
            return started[profile]

        yield deployment
