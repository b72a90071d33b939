"""The one table from a refusal to an HTTP answer, for every route however it is reached.

Flask's error handlers, the routes' runner (Flask views and the fast paths alike), the GraphPipe port and
the gunicorn worker's own refusals all answer through here: a ``ServingError`` becomes its HTTP status
and, by the route group's style, TF Serving's ``{"error": message}`` JSON or a GraphPipe
``InferResponse`` holding the error. (The page's style is the form page again with plain words: it
needs Flask's templates, so ``webapp.http.ui`` renders it, from the same error.) Anything that is not a
refusal is logged with its traceback and answered with the one internal-error message, never a trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from serving_core.errors import INTERNAL_ERROR, Code, ResourceExhaustedError, ServingError
from webapp.http import graphpipe_wire
from webapp.http.request_body import too_large_message
from webapp.http.responses import JSON_MEDIA_TYPE, HttpAnswer, error_bytes

log = logging.getLogger(__name__)

#: The refusal styles a route group may declare.
JSON = "json"
GRAPHPIPE = "graphpipe"
PAGE = "page"


def json_refusal(error: ServingError) -> HttpAnswer:
    return HttpAnswer(error_bytes(error.message), JSON_MEDIA_TYPE, error.http_status)


def graphpipe_refusal(error: ServingError) -> HttpAnswer:
    """An InferResponse holding the one error, with the error's HTTP status."""
    return HttpAnswer(graphpipe_wire.write_infer_response([], [(int(error.code), error.message)]),
                      graphpipe_wire.CONTENT_TYPE, error.http_status)


#: Style -> the answer of a refusal in it (the page's is rendered by the Flask app).
RENDERERS: dict[str, Callable[[ServingError], HttpAnswer]] = {
    JSON: json_refusal, GRAPHPIPE: graphpipe_refusal}


def refusal_answer(error: ServingError, style: str) -> HttpAnswer:
    """The HTTP answer of ``error`` in ``style`` (``JSON`` for any style without a renderer here)."""
    return RENDERERS.get(style, json_refusal)(error)


def http_exception_error(error: HTTPException, max_content_length: int | None) -> ServingError:
    """Werkzeug's routing and body refusals (404, 405, 413...) as the core's error type."""
    if isinstance(error, RequestEntityTooLarge):
        return ResourceExhaustedError(too_large_message(max_content_length), http_status=413)
    status = error.code or 500
    return ServingError(error.description or error.name, Code.INVALID_ARGUMENT, http_status=status)


def internal_error(where: str) -> ServingError:
    """Log the exception being handled (traceback included) and give the refusal clients see."""
    log.exception("unhandled error on %s", where)
    return ServingError(INTERNAL_ERROR, Code.INTERNAL)
