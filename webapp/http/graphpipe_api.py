"""GraphPipe's protocol on the app's own port: ``POST /graphpipe/<model>[/versions/<v>]``.

The body is a GraphPipe flatbuffers ``Request`` and so is the answer (``webapp.http.graphpipe``), errors
included: a GraphPipe client reads an ``InferResponse`` holding the ``Error``, never Flask's JSON. A
``GET`` answers the model's GraphPipe metadata as JSON, as GraphPipe's reference servers do. The same
protocol is served on a port of its own with ``GRAPHPIPE_PORT`` (``webapp.http.graphpipe_port``).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from werkzeug.exceptions import RequestEntityTooLarge

from serving_core.errors import ResourceExhaustedError, ServingError
from serving_core.service import ModelSpec
from webapp.http import graphpipe
from webapp.http.context import read_body, request_limits, serving
from webapp.http.errors import too_large_message
from webapp.http.responses import json_response

blueprint = Blueprint("graphpipe_api", __name__)

ROUTES = ("/graphpipe/<model:name>", "/graphpipe/<model:name>/versions/<int:version>")


def _flatbuffers(result: graphpipe.Answer) -> Response:
    return Response(result.body, status=result.status, mimetype=graphpipe.CONTENT_TYPE)


def graphpipe_request(name: str, version: int | None = None) -> Response:
    """One GraphPipe Request (infer or metadata) for the model."""
    try:
        body = read_body()
        service = serving()
    except RequestEntityTooLarge:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        return _flatbuffers(graphpipe.error_answer(
            ResourceExhaustedError(too_large_message(limit), http_status=413)))
    except ServingError as error:
        return _flatbuffers(graphpipe.error_answer(error))
    return _flatbuffers(graphpipe.answer(service, request_limits(), ModelSpec(name, version), body))


def graphpipe_metadata(name: str, version: int | None = None) -> Response:
    """The model's GraphPipe metadata as JSON."""
    return json_response(graphpipe.metadata_json(serving(), ModelSpec(name, version)))


for _rule in ROUTES:
    blueprint.add_url_rule(_rule, view_func=graphpipe_request, methods=["POST"])
    blueprint.add_url_rule(_rule, view_func=graphpipe_metadata, methods=["GET"])
