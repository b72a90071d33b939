"""The Open Inference Protocol's ``.../infer`` answered below Flask, as ``webapp.http.fastpath`` does for
``:predict``: the same handler (``webapp.http.v2_rest.infer``), without Flask's per-request cost.

Matches ``POST /v2/models/<name>[/versions/<v>]/infer`` with a plain body (a Content-Length within the
limit, no Content-Encoding); anything else goes to the Flask route untouched, which answers the same
bytes (the tests compare both). On with ``FAST_PREDICT_PATH``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

from serving_core.errors import INTERNAL_ERROR, ServingError
from webapp import open_inference
from webapp.http import v2_rest
from webapp.http.fastpath import FastPredictMiddleware
from webapp.http.responses import error_bytes

log = logging.getLogger(__name__)

INFER_PATH = re.compile(r"/v2/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?/infer\Z")
HEADER_ENVIRON = "HTTP_" + v2_rest.HEADER_LENGTH.upper().replace("-", "_")


class FastInferMiddleware(FastPredictMiddleware):
    """WSGI middleware in front of the Flask app's ``wsgi_app`` (see the module doc); it shares the TF
    Serving fast path's body reading, and sits inside it (``:predict`` requests never reach it)."""

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = INFER_PATH.match(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "POST" \
            else None
        encoding = environ.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
        if match is None or encoding != "identity":
            return self.wsgi_app(environ, start_response)
        body = self._read_body(environ)
        if body is None:
            return self.wsgi_app(environ, start_response)
        spec = open_inference.model_spec(match.group("name"), match.group("version") or "")
        headers: list[tuple[str, str]] = []
        try:
            answer = v2_rest.infer(self.service, self.limits, spec, body, environ.get(HEADER_ENVIRON))
            status, content_type, data = 200, answer.content_type, answer.body
            if answer.header_length is not None:
                headers.append((v2_rest.HEADER_LENGTH, str(answer.header_length)))
        except ServingError as error:
            status, content_type, data = error.http_status, "application/json", error_bytes(error.message)
        except Exception:
            log.exception("unhandled error on POST %s", environ.get("PATH_INFO"))
            status, content_type, data = 500, "application/json", error_bytes(INTERNAL_ERROR)
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}",
                       [("Content-Type", content_type), ("Content-Length", str(len(data))), *headers])
        return [data]


def install(app: Any) -> None:
    """Put the fast path in front of ``app.wsgi_app`` unless ``FAST_PREDICT_PATH`` is false."""
    if app.config["FAST_PREDICT_PATH"]:
        app.wsgi_app = FastInferMiddleware(app, app.wsgi_app)
