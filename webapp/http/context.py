"""What a view needs from the app: the inference service, the request limits, the request body."""

from __future__ import annotations

from flask import current_app, request

from serving_core.errors import ResourceExhaustedError, UnavailableError
from serving_core.payloads.limits import RequestLimits
from serving_core.service import InferenceBackend
from webapp.http.errors import too_large_message


def serving() -> InferenceBackend:
    """The app's inference service, or its remote model servers (``create_app`` puts it in
    ``app.extensions``)."""
    service = current_app.extensions.get("inference_service")
    if service is None:
        raise UnavailableError("no model registry configured", http_status=503)
    return service


def request_limits() -> RequestLimits:
    return current_app.extensions["request_limits"]


def read_body() -> bytes:
    """The raw body, whatever the Content-Type (TF Serving clients often send none)."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise ResourceExhaustedError(too_large_message(limit), http_status=413)
    return request.get_data(cache=False)
