"""TF Serving's ``:predict`` route answered below Flask: the same handler, without Flask's per-request cost.

Why: on a small model, Flask's request context, URL map and Request/Response objects cost more CPU than
the model call itself, and under load that overhead sets the requests/s. This WSGI middleware matches
``POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict`` itself, reads the body, and calls the very
function the Flask view calls (``webapp.http.tfserving_rest.predict``), so answers and errors are the same
bytes either way (the tests compare both). It only keeps to itself the WSGI reading and writing; what it
does not answer (forms, other routes, bodies refused by ``webapp.http.request_body``) goes to the Flask app.
Every body is read whole first (``buffer_body``), so a chunked body is answered here like any other.
Disable with ``FAST_PREDICT_PATH = False`` (``EMNIST_FAST_PREDICT_PATH=0``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

from serving_core.errors import INTERNAL_ERROR, ServingError
from serving_core.service import ModelSpec
from webapp.http import tfserving_rest
from webapp.http.context import limits_for_request
from webapp.http.media import FORM_TYPES, accepts_npy, mimetype_of
from webapp.http.request_body import buffer_body, buffered_body
from webapp.http.responses import error_bytes

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]

PREDICT_PATH = re.compile(
    r"/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[1-9][0-9]*|0)|/labels/(?P<label>[^/:]+))?:predict\Z"
)


class FastPredictMiddleware:
    """WSGI middleware in front of the Flask app's ``wsgi_app`` (see the module doc)."""

    def __init__(self, flask_app: Any, wsgi_app: WSGIApp) -> None:
        self.wsgi_app = wsgi_app
        self.service = flask_app.extensions["inference_service"]
        self.limits = flask_app.extensions["request_limits"]
        self.max_content_length = flask_app.config.get("MAX_CONTENT_LENGTH")
        self.deadline_seconds = flask_app.config["REQUEST_DEADLINE_SECONDS"]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if buffer_body(environ, self.max_content_length) is not None:
            return self.wsgi_app(environ, start_response)  # Flask answers the refusal in its shape
        if environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        match = PREDICT_PATH.match(environ.get("PATH_INFO", ""))
        mimetype = mimetype_of(environ.get("CONTENT_TYPE"))
        if match is None or mimetype in FORM_TYPES:
            return self.wsgi_app(environ, start_response)
        body = buffered_body(environ)
        name, version, label = match.group("name", "version", "label")
        spec = ModelSpec(name, None if version is None else int(version), label)
        limits = limits_for_request(self.limits, environ, self.deadline_seconds)
        try:
            if limits.deadline is not None:
                limits.deadline.check_start()
            answer = tfserving_rest.predict(self.service, limits, spec, mimetype, body,
                                            accepts_npy(environ.get("HTTP_ACCEPT")))
        except ServingError as error:
            return _respond(start_response, error.http_status, "application/json", error_bytes(error.message))
        except Exception:
            log.exception("unhandled error on POST %s", environ.get("PATH_INFO"))
            return _respond(start_response, 500, "application/json", error_bytes(INTERNAL_ERROR))
        return _respond(start_response, 200, answer.content_type, answer.body)


    def _read_body(self, environ: dict) -> bytes | None:
        """The whole body in memory (``buffer_body``), or None when it was refused (Flask answers)."""
        if buffer_body(environ, self.max_content_length) is not None:
            return None
        return buffered_body(environ)


def _respond(start_response: Callable, status: int, content_type: str, body: bytes) -> list[bytes]:
    start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}",
                   [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def install(app: Any) -> None:
    """Put the fast path in front of ``app.wsgi_app`` unless ``FAST_PREDICT_PATH`` is false."""
    if app.config["FAST_PREDICT_PATH"]:
        app.wsgi_app = FastPredictMiddleware(app, app.wsgi_app)
