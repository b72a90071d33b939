"""Uniform errors: ``{"error": "..."}`` JSON for the APIs (TF Serving's shape), a plain message on the page.

Nothing reaches a client as a stack trace: every expected refusal is a ``ServingError`` carrying its
message and HTTP status; anything else is logged and answered with a plain 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from serving_core.errors import INTERNAL_ERROR, ServingError
from webapp.http.request_body import too_large_message
from webapp.http.responses import error_bytes

log = logging.getLogger(__name__)

#: Path prefixes answered in JSON; everything else is the HTML UI.
API_PREFIXES = ("/v1/", "/v2", "/graphpipe/", "/predict", "/healthz", "/readyz")
__all__ = ["API_PREFIXES", "register_error_handlers", "too_large_message"]


#: Renders the HTML page for a refusal: (the error, its HTTP status) -> the page.
PageRenderer = Callable[[BaseException, int], Response]


def register_error_handlers(app: Flask, render_page: PageRenderer) -> None:
    """Install the handlers on ``app``: API paths get the precise message as JSON, pages get
    ``render_page``'s plain words."""

    def error_response(error: BaseException, message: str, status: int) -> Response:
        if request.path.startswith(API_PREFIXES):
            return Response(error_bytes(message), status=status, mimetype="application/json")
        return render_page(error, status)

    @app.errorhandler(ServingError)
    def handle_serving_error(error: ServingError) -> Response:
        return error_response(error, error.message, error.http_status)

    @app.errorhandler(RequestEntityTooLarge)
    def handle_too_large(error: RequestEntityTooLarge) -> Response:
        return error_response(error, too_large_message(app.config.get("MAX_CONTENT_LENGTH")), 413)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        if request.path.startswith("/v1/") and error.code in (404, 405):
            # TF Serving answers any request it cannot route with InvalidArgument (HTTP 400).
            return error_response(error, f"Malformed request: {request.method} {request.path}", 400)
        return error_response(error, error.description or error.name, error.code or 500)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path, exc_info=error)
        return error_response(error, INTERNAL_ERROR, 500)
