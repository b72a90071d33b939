"""GraphPipe on a port of its own (``GRAPHPIPE_PORT``), as GraphPipe's servers listen on ``:9000``.

The server listens on the GraphPipe port beside the REST one (gunicorn binds both: see
``gunicorn.conf.py``); this WSGI middleware, in front of the Flask app, sends every request that came
in on the GraphPipe port to a bare GraphPipe handler, as GraphPipe's reference servers answer it: a
``POST`` to any path is a GraphPipe ``Request`` for the default model (``MODEL_NAME``), ``GET
/control/is_alive`` and ``GET /control/is_ready`` are the probes, any other ``GET`` is the model's
metadata as JSON. Requests on the other ports go to the Flask app untouched. The port a request came in
on is the listening socket's (WSGI ``SERVER_PORT``), not anything the client sends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

from serving_core.errors import INTERNAL_ERROR, ResourceExhaustedError, ServingError
from serving_core.service import ModelSpec
from webapp.http import graphpipe
from webapp.http.errors import too_large_message
from webapp.http.responses import error_bytes, json_bytes

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class GraphPipePort:
    """WSGI middleware: requests on ``port`` get GraphPipe's protocol, the others the wrapped app."""

    def __init__(self, flask_app: Any, wsgi_app: WSGIApp, port: int) -> None:
        self.wsgi_app = wsgi_app
        self.port = str(port)
        self.service = flask_app.extensions["inference_service"]
        self.limits = flask_app.extensions["request_limits"]
        self.model = flask_app.config["MODEL_NAME"]
        self.max_content_length = flask_app.config.get("MAX_CONTENT_LENGTH")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("SERVER_PORT") != self.port:
            return self.wsgi_app(environ, start_response)
        try:
            status, content_type, body = self._answer(environ)
        except Exception:
            log.exception("unhandled error on the GraphPipe port, %s %s",
                          environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            status, content_type, body = 500, "application/json", error_bytes(INTERNAL_ERROR)
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}",
                       [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    def _answer(self, environ: dict) -> tuple[int, str, bytes]:
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        spec = ModelSpec(self.model)
        if method == "POST":
            body = self._read_body(environ)
            if isinstance(body, ServingError):
                result = graphpipe.error_answer(body)
            else:
                result = graphpipe.answer(self.service, self.limits, spec, body)
            return result.status, graphpipe.CONTENT_TYPE, result.body
        if method not in ("GET", "HEAD"):
            message = f"{method} is not supported: POST a GraphPipe Request"
            return 405, "application/json", error_bytes(message)
        if path == "/control/is_alive":
            return 200, "text/plain", b"ok\n"
        if path == "/control/is_ready":
            ready = self.service.readiness(self.model)
            return (200, "text/plain", b"ok\n") if ready.ready else (503, "text/plain", b"not ready\n")
        try:
            return 200, "application/json", json_bytes(graphpipe.metadata_json(self.service, spec))
        except ServingError as error:
            return error.http_status, "application/json", error_bytes(error.message)

    def _read_body(self, environ: dict) -> bytes | ServingError:
        try:
            length = int(environ.get("CONTENT_LENGTH") or "0")
        except ValueError:
            length = -1
        if environ.get("HTTP_TRANSFER_ENCODING") or length < 0:
            return ServingError("send the GraphPipe Request with a Content-Length", http_status=411)
        if self.max_content_length is not None and length > self.max_content_length:
            return ResourceExhaustedError(too_large_message(self.max_content_length), http_status=413)
        return environ["wsgi.input"].read(length) if length else b""


def install(app: Any) -> None:
    """Put the GraphPipe port in front of ``app.wsgi_app`` when ``GRAPHPIPE_PORT`` is set (not 0)."""
    port = app.config["GRAPHPIPE_PORT"]
    if port:
        app.wsgi_app = GraphPipePort(app, app.wsgi_app, port)
