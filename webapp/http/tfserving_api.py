"""TensorFlow Serving's REST routes (``/v1/models/...``) as a blueprint over ``webapp.http.tfserving_rest``.

Routes: predict / classify (/ regress, refused: the model has no regression signature) on ``<name>``,
``<name>/versions/<v>`` and ``<name>/labels/<label>``; model status; model metadata. Any other ``/v1/``
request is "Malformed request", as in TF Serving (see ``webapp.http.errors``).
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from werkzeug.routing import BaseConverter

from emnist_contract.layout import MODEL_INFO_FIELD
from serving_core.errors import InvalidArgumentError
from serving_core.service import ModelSpec
from webapp.http import tfserving_rest
from webapp.http.context import read_body, request_limits, serving
from webapp.http.media import FORM_TYPES, accepts_npy

blueprint = Blueprint("tfserving_api", __name__)


class ModelNameConverter(BaseConverter):
    """A model name or version label: TF Serving's ``[^/:]+``."""

    regex = r"[^/:]+"


VERBS = "<any(predict, classify, regress):verb>"
PREDICTION_ROUTES = (
    f"/v1/models/<model:name>:{VERBS}",
    f"/v1/models/<model:name>/versions/<int:version>:{VERBS}",
    f"/v1/models/<model:name>/labels/<model:label>:{VERBS}",
)
STATUS_ROUTES = (
    "/v1/models/<model:name>",
    "/v1/models/<model:name>/versions/<int:version>",
    "/v1/models/<model:name>/labels/<model:label>",
)


def _answer(answer: tfserving_rest.Answer) -> Response:
    return Response(answer.body, mimetype=answer.content_type)


def ensure_not_form() -> None:
    if request.mimetype in FORM_TYPES:
        raise InvalidArgumentError(
            f"Content-Type {request.mimetype} is not accepted here: send JSON (or a .npy body); "
            "file uploads go to POST /predict",
            http_status=415,
        )


def prediction(name: str, verb: str, version: int | None = None, label: str | None = None) -> Response:
    ensure_not_form()
    body = read_body()
    spec = ModelSpec(name, version, label)
    if verb == "predict":
        npy_answer = accepts_npy(request.headers.get("Accept"))
        return _answer(tfserving_rest.predict(serving(), request_limits(), spec, request.mimetype, body,
                                              npy_answer))
    if verb == "classify":
        return _answer(tfserving_rest.classify(serving(), request_limits(), spec, body))
    raise InvalidArgumentError(
        "Expected regression signature method_name to be tensorflow/serving/regress: "
        f"model {name} classifies images, use :predict or :classify"
    )


for _rule in PREDICTION_ROUTES:
    blueprint.add_url_rule(_rule, view_func=prediction, methods=["POST"])


def model_status(name: str, version: int | None = None, label: str | None = None) -> Response:
    return _answer(tfserving_rest.status(serving(), ModelSpec(name, version, label)))


def model_metadata(name: str, version: int | None = None, label: str | None = None) -> Response:
    fields = request.args.getlist("metadata_field")
    unknown = sorted(set(fields) - {"signature_def", MODEL_INFO_FIELD})
    if unknown:
        raise InvalidArgumentError(f"Metadata field {unknown[0]} is not supported")
    return _answer(tfserving_rest.metadata(serving(), ModelSpec(name, version, label),
                                           model_info=MODEL_INFO_FIELD in fields))


for _rule in STATUS_ROUTES:
    blueprint.add_url_rule(_rule, view_func=model_status, methods=["GET"])
    blueprint.add_url_rule(_rule + "/metadata", view_func=model_metadata, methods=["GET"])


@blueprint.route("/v1/models", methods=["GET"])
def missing_model_name() -> Response:
    raise InvalidArgumentError("Missing model name in request.")
