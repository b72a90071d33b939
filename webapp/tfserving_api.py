"""TensorFlow Serving's REST API (``/v1/models/...``), answered the way TF Serving answers it.

Routes: predict / classify (/ regress, refused: the model has no regression signature) on
``<name>``, ``<name>/versions/<v>`` and ``<name>/labels/<label>``; model status; model metadata.
Any other ``/v1/`` request is "Malformed request", as in TF Serving (see ``webapp.errors``).

``:predict`` answers every signature by TF Serving's rules: a signature with one output answers it
unnamed (``{"predictions": [[62 scores], ...]}`` / ``{"outputs": [...]}``); one with several answers an
object per instance in row format (``{"predictions": [{"classes": 7, "scores": [...]}, ...]}``) or one
object of columns in columnar format. Our exports' ``serving_default`` has the single output ``scores``
(``model_tools.serving_signatures``), which is why the blog's client reads 62 scores per instance;
``"signature_name": "predict_images"`` adds ``classes``.

``:classify`` follows TF Serving's Classification API: the named signature must have method
``tensorflow/serving/classify`` (otherwise 400 "Expected classification signature method_name to be
tensorflow/serving/classify. Was: ..."), its outputs ``classes`` and/or ``scores`` give each example's
``[label, score]`` pairs, labels being the model's own (``assets/labels.txt``, what the signature's
``classes`` output reads). One deviation: without ``signature_name`` TF Serving uses
``serving_default``, which in our exports is a Predict signature and would always be refused; here the
model's ``classify`` signature is used instead. Scores are computed by the engine's predict path (the
same network the classify signature parses its ``tf.Example`` feature ``images`` into).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Blueprint, Response, request
from werkzeug.routing import BaseConverter

from model_tools.serving_signatures import (
    CLASSES_KEY,
    CLASSIFY_INPUT_KEY,
    CLASSIFY_METHOD,
    CLASSIFY_SIGNATURE,
    SCORES_KEY,
)
from webapp.engine import DEFAULT_SIGNATURE, SignatureError
from webapp.errors import ApiError, json_response
from webapp.inference import model_registry, predict_scores, servable
from webapp.payloads import (
    body_images,
    ensure_not_form,
    examples_to_images,
    parse_json_object,
    predict_request_images,
    read_body,
    string_inputs,
)
from webapp.tensor_codecs import NPY_MEDIA_TYPES, accepts_npy, dump_npy

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


def prediction(name: str, verb: str, version: int | None = None, label: str | None = None) -> Response:
    ensure_not_form(request)
    body = read_body(request)
    if verb == "predict":
        return predict(name, version, label, body)
    if verb == "classify":
        return classify(name, version, label, body)
    raise ApiError(
        "Expected regression signature method_name to be tensorflow/serving/regress: "
        f"model {name} classifies images, use :predict or :classify"
    )


for _rule in PREDICTION_ROUTES:
    blueprint.add_url_rule(_rule, view_func=prediction, methods=["POST"])


def predict(name: str, version: int | None, label: str | None, body: bytes) -> Response:
    binary_answer = accepts_npy(request.headers.get("Accept"))
    binary = body_images(request, body)
    with servable(name, version, label) as pinned:
        if binary is not None:  # .npy / raw float32 / image body: the default signature, row answer
            input_name = single_input(pinned.engine, DEFAULT_SIGNATURE)[0]
            outputs = run_predict(pinned, DEFAULT_SIGNATURE, input_name, binary)
            return predict_response(outputs, "row", binary_answer)
        document = parse_json_object(body)
        signature = document.get("signature_name") or DEFAULT_SIGNATURE
        if not isinstance(signature, str):
            raise ApiError("'signature_name' key must be a string value.")
        input_name, input_info = single_input(pinned.engine, signature)
        if input_info.get("dtype") == "DT_STRING":
            values, layout = string_inputs(document, input_name)
        else:
            values, layout = predict_request_images(document, input_name)
        outputs = run_predict(pinned, signature, input_name, values)
        return predict_response(outputs, layout, binary_answer)


def predict_response(outputs: dict[str, np.ndarray], layout: str, binary: bool) -> Response:
    """TF Serving's JSON answer, or the one output tensor as a ``.npy`` file when the client asked for it."""
    if not binary:
        return json_response(format_outputs(outputs, layout))
    if len(outputs) != 1:
        raise ApiError(
            f"this signature answers {len(outputs)} outputs {sorted(outputs)} and a .npy answer holds one "
            "tensor: ask for application/json, or use a signature with one output",
            406,
        )
    (value,) = outputs.values()
    if value.dtype.kind not in "biuf":
        raise ApiError(f"a .npy answer holds numbers and this output is of dtype {value.dtype}", 406)
    return Response(dump_npy(value), mimetype=NPY_MEDIA_TYPES[0])


def single_input(engine: Any, signature: str) -> tuple[str, dict[str, Any]]:
    """The one input (name, TensorInfo) of a signature; this server feeds signatures with one input."""
    try:
        inputs = engine.signature_inputs(signature)
    except SignatureError as exc:
        raise ApiError(str(exc)) from None
    if len(inputs) != 1:
        raise ApiError(f"signature {signature} takes {len(inputs)} inputs; this server feeds one")
    ((input_name, input_info),) = inputs.items()
    return input_name, input_info


def run_predict(pinned: Any, signature: str, input_name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    """Every output of ``signature`` on ``values``.

    The default signature giving ``scores`` alone is what ``Engine.predict`` computes, so it goes that way
    (the fast session callable, and the dynamic batcher when on); any other runs as the signature itself.
    """
    engine = pinned.engine
    if signature == DEFAULT_SIGNATURE and engine.signature_outputs(signature) == [SCORES_KEY]:
        return {SCORES_KEY: predict_scores(pinned, values)}
    try:
        return engine.run_signature(signature, {input_name: values})
    except SignatureError as exc:
        raise ApiError(str(exc)) from None


def format_outputs(outputs: dict[str, np.ndarray], layout: str) -> dict[str, Any]:
    """TF Serving's response: one output is unnamed; several are objects per row, or one object of columns."""
    outputs = {name: decode_strings(value) for name, value in outputs.items()}
    key = "predictions" if layout == "row" else "outputs"
    if len(outputs) == 1:
        return {key: next(iter(outputs.values()))}
    if layout == "columnar":
        return {key: outputs}
    names = sorted(outputs)
    count = len(outputs[names[0]])
    return {key: [{name: outputs[name][row] for name in names} for row in range(count)]}


def decode_strings(value: np.ndarray) -> Any:
    """DT_STRING outputs (numpy bytes objects) as JSON strings."""
    if value.dtype == object or value.dtype.kind == "S":
        return np.vectorize(lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b),
                            otypes=[object])(value).tolist()
    return value


def classify(name: str, version: int | None, label: str | None, body: bytes) -> Response:
    document = parse_json_object(body)
    signature = document.get("signature_name") or CLASSIFY_SIGNATURE  # TF Serving: serving_default
    if not isinstance(signature, str):
        raise ApiError("'signature_name' key must be a string value.")
    if "examples" not in document:
        raise ApiError("When method is classify, key 'examples' is expected and was not found")
    images = examples_to_images(document["examples"], document.get("context"))
    with servable(name, version, label) as pinned:
        outputs = classification_outputs(pinned.engine, signature)
        scores = predict_scores(pinned, images).tolist() if SCORES_KEY in outputs else None
        labels = pinned.engine.labels if CLASSES_KEY in outputs else None
    width = len(labels if labels is not None else scores[0])
    results = [
        [[labels[i] if labels is not None else "", scores[row][i] if scores is not None else 0.0]
         for i in range(width)]
        for row in range(len(images))
    ]
    return json_response({"results": results})


def classification_outputs(engine: Any, signature: str) -> set[str]:
    """Which of ``classes`` / ``scores`` a classify signature gives, with TF Serving's checks and errors."""
    signatures = engine.signature_defs()["signature_def"]
    definition = signatures.get(signature)
    if definition is None:
        raise ApiError(f"No signature was found with the name: {signature}")
    method = definition.get("method_name", "")
    if method != CLASSIFY_METHOD:
        raise ApiError(
            f"Expected classification signature method_name to be {CLASSIFY_METHOD}. Was: {method}"
        )
    inputs = definition.get("inputs", {})
    if len(inputs) != 1:
        raise ApiError("Expected one input Tensor.")
    if CLASSIFY_INPUT_KEY not in inputs:
        raise ApiError(f"No classification inputs found in SignatureDef {signature}")
    outputs = set(definition.get("outputs", {})) & {CLASSES_KEY, SCORES_KEY}
    if not outputs:
        raise ApiError(
            f'Expected classification signature outputs to contain at least one of "{CLASSES_KEY}" or '
            f'"{SCORES_KEY}". Signature was: {signature}'
        )
    return outputs


def model_status(name: str, version: int | None = None, label: str | None = None) -> Response:
    statuses = model_registry().status(name, version=version, label=label)
    return json_response({"model_version_status": statuses})


for _rule in STATUS_ROUTES:
    blueprint.add_url_rule(_rule, view_func=model_status, methods=["GET"])


def model_metadata(name: str, version: int | None = None, label: str | None = None) -> Response:
    with servable(name, version, label) as pinned:
        signature_defs = pinned.engine.signature_defs()
        spec = {"name": pinned.name, "signature_name": "", "version": str(pinned.version)}
    return json_response({"model_spec": spec, "metadata": {"signature_def": signature_defs}})


for _rule in STATUS_ROUTES:
    blueprint.add_url_rule(_rule + "/metadata", view_func=model_metadata, methods=["GET"])


@blueprint.route("/v1/models", methods=["GET"])
def missing_model_name() -> Response:
    raise ApiError("Missing model name in request.")
