"""What a view needs from the app: the inference service, the request limits, the request body."""

from __future__ import annotations

from flask import current_app, g, request

from serving_core.deadline import Deadline
from serving_core.errors import UnavailableError
from serving_core.payloads.limits import RequestLimits
from serving_core.service import InferenceBackend
from webapp.http.request_body import ARRIVED, buffered_body, raise_body_refusal


def serving() -> InferenceBackend:
    """The app's inference service, or its remote model servers (``create_app`` puts it in
    ``app.extensions``)."""
    service = current_app.extensions.get("inference_service")
    if service is None:
        raise UnavailableError("no model registry configured", http_status=503)
    return service


def request_limits() -> RequestLimits:
    """This request's limits: the server's, with the request's deadline and its own decode counters."""
    limits = g.get("request_limits")
    if limits is None:
        limits = limits_for_request(current_app.extensions["request_limits"], request.environ,
                                    current_app.config["REQUEST_DEADLINE_SECONDS"])
        g.request_limits = limits
        if limits.deadline is not None:
            limits.deadline.check_start()  # it waited its whole deadline for a thread: 503
    return limits


def limits_for_request(limits: RequestLimits, environ: dict, deadline_seconds: float) -> RequestLimits:
    """``limits`` for the request of ``environ``, its deadline counted from its arrival."""
    return limits.for_request(Deadline.after(deadline_seconds, environ.get(ARRIVED)))


def read_body() -> bytes:
    """The raw body, whatever the Content-Type (TF Serving clients often send none).

    It is in memory already and within MAX_CONTENT_LENGTH (``webapp.http.request_body``).
    """
    raise_body_refusal(request.environ)
    body = buffered_body(request.environ)
    return body if body is not None else request.get_data(cache=False)
