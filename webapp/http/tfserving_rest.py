"""TensorFlow Serving's REST API (``/v1/models/...``): its routes, and their handlers over the inference
service.

Routes: predict / classify (/ regress, refused: the model has no regression signature) on ``<name>``,
``<name>/versions/<v>`` and ``<name>/labels/<label>``; model status; model metadata. Any other ``/v1/``
request is "Malformed request", as in TF Serving (``webapp.http.app``'s handler of unrouted paths).
``:predict`` is also answered below Flask (``webapp.http.routing.FastRoutes``): the same handler.

``:predict`` answers every signature by TF Serving's rules: a signature with one output answers it
unnamed (``{"predictions": [[62 scores], ...]}`` / ``{"outputs": [...]}``); one with several answers an
object per instance in row format (``{"predictions": [{"classes": 7, "scores": [...]}, ...]}``) or one
object of columns in columnar format. Our exports' ``serving_default`` has the single output
``scores``, which is why the blog's client reads 62 scores per instance. A client that sends
``Accept: application/x-npy`` gets the one output tensor as a ``.npy`` file instead.

``:classify`` follows TF Serving's Classification API: each example's ``[label, score]`` pairs. One
deviation: without ``signature_name`` TF Serving uses ``serving_default``, which in our exports is a
Predict signature and would always be refused; here the model's ``classify`` signature is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emnist_contract.layout import MODEL_INFO_FIELD, UNTRAINED_CLASSES_KEY
from serving_core.errors import InvalidArgumentError
from serving_core.observation import note_model
from serving_core.payloads.binary import BinaryBodyInputs
from serving_core.payloads.codecs import dump_npy
from serving_core.payloads.json_tensors import JsonExampleInputs, JsonPredictInputs
from serving_core.request import ModelSpec
from webapp.http.calls import HttpCall
from webapp.http.media import FORM_TYPES, NPY_MEDIA_TYPES, accepts_npy, is_binary_body
from webapp.http.refusals import JSON
from webapp.http.responses import HttpAnswer, json_bytes
from webapp.http.routing import Route, RouteGroup

PROTOCOL = "tfserving-rest"


def _spec(name: str, version: int | None, label: str | None) -> ModelSpec:
    note_model(name, version)  # the access line's model, for the routes that make no core request
    return ModelSpec(name, version, label)


def refuse_form(call: HttpCall) -> None:
    if call.mimetype in FORM_TYPES:
        raise InvalidArgumentError(
            f"Content-Type {call.mimetype} is not accepted here: send JSON (or a .npy body); "
            "file uploads go to POST /predict",
            http_status=415,
        )


def predict(call: HttpCall, name: str, version: int | None = None, label: str | None = None) -> HttpAnswer:
    """``:predict``: a JSON body (row or columnar, any signature) or a binary one (default signature)."""
    refuse_form(call)
    body = call.body()
    if is_binary_body(call.mimetype, body):
        inputs: Any = BinaryBodyInputs(body)
        layout = "row"
    else:
        inputs = JsonPredictInputs(body)
    prediction = call.service.predict(call.inference_request(_spec(name, version, label), inputs))
    if isinstance(inputs, JsonPredictInputs):
        layout = inputs.layout
    if accepts_npy(call.header("Accept")):
        return npy_outputs(prediction.outputs)
    return HttpAnswer(json_bytes(format_outputs(prediction.outputs, layout)))


def npy_outputs(outputs: dict[str, np.ndarray]) -> HttpAnswer:
    """The one output tensor as a ``.npy`` file (406 when there is not exactly one numeric output)."""
    if len(outputs) != 1:
        raise InvalidArgumentError(
            f"this signature answers {len(outputs)} outputs {sorted(outputs)} and a .npy answer holds one "
            "tensor: ask for application/json, or use a signature with one output",
            http_status=406,
        )
    (value,) = outputs.values()
    if value.dtype.kind not in "biuf":
        raise InvalidArgumentError(
            f"a .npy answer holds numbers and this output is of dtype {value.dtype}", http_status=406)
    return HttpAnswer(dump_npy(value), NPY_MEDIA_TYPES[0])


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


def classify(call: HttpCall, name: str, version: int | None = None, label: str | None = None) -> HttpAnswer:
    """``:classify``: ``{"examples": [...]}`` -> ``{"results": [[[label, score] x 62] per example]}``."""
    refuse_form(call)
    inputs = JsonExampleInputs(call.body())
    result = call.service.classify(call.inference_request(_spec(name, version, label), inputs))
    return HttpAnswer(json_bytes({"results": [[list(pair) for pair in row] for row in result.rows()]}))


def regress(call: HttpCall, name: str, version: int | None = None, label: str | None = None) -> HttpAnswer:
    """``:regress``: refused, the model classifies images."""
    raise InvalidArgumentError(
        "Expected regression signature method_name to be tensorflow/serving/regress: "
        f"model {name} classifies images, use :predict or :classify"
    )


def metadata(call: HttpCall, name: str, version: int | None = None, label: str | None = None) -> HttpAnswer:
    """GetModelMetadata: the version's SignatureDefs and the spec of the version that answered.

    ``?metadata_field=model_info`` adds this project's extension field: the classes the version has no
    training images of.
    """
    fields = call.request.args.getlist("metadata_field")
    unknown = sorted(set(fields) - {"signature_def", MODEL_INFO_FIELD})
    if unknown:
        raise InvalidArgumentError(f"Metadata field {unknown[0]} is not supported")
    result = call.service.metadata(_spec(name, version, label))
    model_spec = {"name": result.model.name, "signature_name": "", "version": str(result.model.version)}
    metadata_field: dict[str, Any] = {"signature_def": result.signature_defs}
    if MODEL_INFO_FIELD in fields:
        metadata_field[MODEL_INFO_FIELD] = {UNTRAINED_CLASSES_KEY: list(result.untrained_classes)}
    return HttpAnswer(json_bytes({"model_spec": model_spec, "metadata": metadata_field}))


def status(call: HttpCall, name: str, version: int | None = None, label: str | None = None) -> HttpAnswer:
    """GetModelStatus: ``{"model_version_status": [...]}``."""
    return HttpAnswer(json_bytes({"model_version_status": call.service.status(_spec(name, version, label))}))


def missing_model_name(call: HttpCall) -> HttpAnswer:
    raise InvalidArgumentError("Missing model name in request.")


def malformed_request(method: str, path: str) -> InvalidArgumentError:
    """TF Serving answers any request it cannot route with InvalidArgument (HTTP 400)."""
    return InvalidArgumentError(f"Malformed request: {method} {path}")


#: The three ways TF Serving names a servable in a path.
SERVABLES = ("/v1/models/<model:name>", "/v1/models/<model:name>/versions/<int:version>",
             "/v1/models/<model:name>/labels/<model:label>")

ROUTES = RouteGroup("tfserving_rest", PROTOCOL, JSON, (
    *(Route(f"{servable}:predict", ("POST",), predict, fast=True) for servable in SERVABLES),
    *(Route(f"{servable}:classify", ("POST",), classify) for servable in SERVABLES),
    *(Route(f"{servable}:regress", ("POST",), regress) for servable in SERVABLES),
    *(Route(servable, ("GET",), status) for servable in SERVABLES),
    *(Route(f"{servable}/metadata", ("GET",), metadata) for servable in SERVABLES),
    Route("/v1/models", ("GET",), missing_model_name),
), unrouted=malformed_request)
