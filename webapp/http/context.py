"""What a view needs from the app: the inference service, the request limits, the request body."""

from __future__ import annotations

from flask import current_app, request

from serving_core.errors import UnavailableError
from serving_core.payloads.limits import RequestLimits
from serving_core.service import InferenceService


def serving() -> InferenceService:
    """The app's inference service (``create_app`` puts it in ``app.extensions``)."""
    service = current_app.extensions.get("inference_service")
    if service is None:
        raise UnavailableError("no model registry configured", http_status=503)
    return service


def request_limits() -> RequestLimits:
    return current_app.extensions["request_limits"]


def read_body() -> bytes:
    """The raw body, whatever the Content-Type (TF Serving clients often send none).

    It is in memory already and within MAX_CONTENT_LENGTH (``webapp.http.request_body``).
    """
    return request.get_data(cache=False)
