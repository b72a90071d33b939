"""Amazon SageMaker's inference contract: ``GET /ping`` and ``POST /invocations``, over the same service.

A thin adapter: ``/ping`` is the readiness probe (200 once the default model answers a prediction, 503
before) and ``/invocations`` is TF Serving's ``:predict`` of the default model (``MODEL_NAME``): the same
handler, so the same decoders read the body: TF Serving's ``instances``/``inputs`` JSON, a ``.npy`` file, raw
float32 pixels or an image file. ``Content-Type`` says which (a JSON type is read as JSON, a binary or
``image/*`` type as a file, none is sniffed, anything else is refused with 415) and ``Accept`` chooses the
answer: TF Serving's JSON (``application/json``, ``*/*`` or none) or the scores as ``.npy``
(``application/x-npy``); anything else is refused with 406. The image's ``serve`` role puts these on port 8080
(``webapp.container_entrypoint``); they are on every port the app serves.
"""

from __future__ import annotations

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from serving_core.errors import InvalidArgumentError
from webapp.http import health, tfserving_rest
from webapp.http.calls import HttpCall
from webapp.http.media import BINARY_TYPES, JSON_MEDIA_TYPE, NPY_MEDIA_TYPES
from webapp.http.refusals import JSON
from webapp.http.responses import HttpAnswer
from webapp.http.routing import Route, RouteGroup

PROTOCOL = "sagemaker"
#: Body types read without sniffing, besides image/*; none (or a form type curl puts on -d) is sniffed.
BODY_TYPES = (JSON_MEDIA_TYPE, *BINARY_TYPES)
SNIFFED_TYPES = ("", "application/x-www-form-urlencoded")
ANSWER_TYPES = (JSON_MEDIA_TYPE, *NPY_MEDIA_TYPES)


def ping(call: HttpCall) -> HttpAnswer:
    """SageMaker's health check: 200 when the default model answers, else 503 (``/readyz``'s answer)."""
    return health.readyz(call)


def check_accept(accept: str | None) -> None:
    """406 unless the Accept header allows JSON or a .npy answer."""
    if not accept:
        return
    ranges = parse_accept_header(accept, MIMEAccept)
    if not any(ranges.quality(media_type) > 0 for media_type in ANSWER_TYPES):
        raise InvalidArgumentError(
            f"Accept {accept!r} names no answer this endpoint gives: ask for {' or '.join(ANSWER_TYPES)}",
            http_status=406)


def check_content_type(mimetype: str) -> None:
    """415 for a body type the decoders do not read (text/csv, a form...)."""
    if mimetype in BODY_TYPES or mimetype in SNIFFED_TYPES or mimetype.startswith("image/"):
        return
    raise InvalidArgumentError(
        f"Content-Type {mimetype} is not accepted: send TF Serving's JSON ({JSON_MEDIA_TYPE}), a .npy file "
        "(application/x-npy), raw float32 pixels (application/octet-stream) or an image file (image/*)",
        http_status=415)


def invocations(call: HttpCall) -> HttpAnswer:
    """SageMaker's inference request: TF Serving's ``:predict`` of the default model."""
    check_accept(call.header("Accept"))
    check_content_type(call.mimetype)
    return tfserving_rest.predict(call, call.settings["MODEL_NAME"])


ROUTES = RouteGroup("sagemaker", PROTOCOL, JSON, (
    Route("/ping", ("GET",), ping, probe=True),
    Route("/invocations", ("POST",), invocations, fast=True),
))
