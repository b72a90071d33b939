"""The Open Inference Protocol's REST API (KServe/Triton/MLServer's "V2") as a blueprint.

Health (``/v2/health/live``, ``/v2/health/ready``), server metadata (``/v2``), model metadata and
readiness (``/v2/models/<m>[/versions/<v>][/ready]``) and inference (``.../infer``: JSON tensors and the
binary tensor data extension, ``webapp.http.v2_rest``). A version is a number or one of the model's
version labels. Errors are ``{"error": "..."}`` with the refusal's status (400 for a bad request, 404
for an unknown model or version); a health or readiness check that is false answers 400, as the
protocol has it (a 4xx status is false).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from webapp import open_inference
from webapp.http import v2_rest
from webapp.http.context import read_body, request_limits, serving
from webapp.http.media import decode_content
from webapp.http.responses import json_response

blueprint = Blueprint("v2_api", __name__)

MODEL_ROUTES = ("/v2/models/<model:name>", "/v2/models/<model:name>/versions/<model:version>")
NOT_READY = 400


@blueprint.route("/v2/health/live", methods=["GET"])
def server_live() -> Response:
    return json_response({"live": True})


@blueprint.route("/v2/health/ready", methods=["GET"])
def server_ready() -> Response:
    ready = open_inference.server_ready(serving())
    return json_response({"ready": ready}, 200 if ready else NOT_READY)


@blueprint.route("/v2", methods=["GET"])
def server_metadata() -> Response:
    return json_response(open_inference.server_metadata(open_inference.REST_EXTENSIONS))


def model_metadata(name: str, version: str = "") -> Response:
    return json_response(open_inference.model_metadata(serving(), open_inference.model_spec(name, version)))


def model_ready(name: str, version: str = "") -> Response:
    ready = open_inference.model_ready(serving(), open_inference.model_spec(name, version))
    return json_response({"name": name, "ready": ready}, 200 if ready else NOT_READY)


def model_infer(name: str, version: str = "") -> Response:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    body = decode_content(read_body(), request.headers.get("Content-Encoding"), limit)
    answer = v2_rest.infer(serving(), request_limits(), open_inference.model_spec(name, version), body,
                           request.headers.get(v2_rest.HEADER_LENGTH))
    response = Response(answer.body, mimetype=answer.content_type)
    if answer.header_length is not None:
        response.headers[v2_rest.HEADER_LENGTH] = str(answer.header_length)
    return response


for _rule in MODEL_ROUTES:
    blueprint.add_url_rule(_rule, view_func=model_metadata, methods=["GET"])
    blueprint.add_url_rule(_rule + "/ready", view_func=model_ready, methods=["GET"])
    blueprint.add_url_rule(_rule + "/infer", view_func=model_infer, methods=["POST"])
