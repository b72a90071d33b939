"""Uniform errors: ``{"error": "..."}`` JSON for the APIs (TF Serving's shape), a message on the page for UI.

Nothing reaches a client as a stack trace: every expected refusal is a ``ServingError`` carrying its
message and HTTP status; anything else is logged and answered with a plain 500.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from serving_core.errors import ServingError
from webapp.http.responses import error_bytes

log = logging.getLogger(__name__)

#: Path prefixes answered in JSON; everything else is the HTML UI.
API_PREFIXES = ("/v1/", "/v2", "/graphpipe/", "/predict", "/healthz", "/readyz")
INTERNAL_ERROR = "internal error: the server could not answer this request (logged)"


def too_large_message(limit: int | None) -> str:
    return f"request body is larger than the limit MAX_CONTENT_LENGTH={limit} bytes"


def error_response(message: str, status: int) -> Response:
    """The API error shape, or the UI page with the message, depending on the path."""
    if request.path.startswith(API_PREFIXES):
        return Response(error_bytes(message), status=status, mimetype="application/json")
    page = render_template(
        "img_upload.html", error=message, status=status, models=[],
        default_model=current_app.config.get("MODEL_NAME", ""),
    )
    return Response(page, status=status)


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on ``app`` (API paths get JSON, pages get HTML)."""

    @app.errorhandler(ServingError)
    def handle_serving_error(error: ServingError) -> Response:
        return error_response(error.message, error.http_status)

    @app.errorhandler(RequestEntityTooLarge)
    def handle_too_large(error: RequestEntityTooLarge) -> Response:
        return error_response(too_large_message(app.config.get("MAX_CONTENT_LENGTH")), 413)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        if request.path.startswith("/v1/") and error.code in (404, 405):
            # TF Serving answers any request it cannot route with InvalidArgument (HTTP 400).
            return error_response(f"Malformed request: {request.method} {request.path}", 400)
        return error_response(error.description or error.name, error.code or 500)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path, exc_info=error)
        return error_response(INTERNAL_ERROR, 500)
