"""TensorFlow Serving's REST protocol over the inference service: request bodies in, answer bodies out.

Shared by the Flask views (``webapp.http.tfserving_api``) and the WSGI fast path
(``webapp.http.fastpath``), so both give the same bytes for the same request; neither holds any
predict logic of its own.

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

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from emnist_contract.layout import MODEL_INFO_FIELD, UNTRAINED_CLASSES_KEY
from serving_core.errors import InvalidArgumentError
from serving_core.payloads.binary import body_to_images
from serving_core.payloads.codecs import dump_npy
from serving_core.payloads.json_tensors import JsonPredictInputs, examples_to_images, parse_json_object
from serving_core.payloads.limits import RequestLimits
from serving_core.service import InferenceBackend, ModelSpec
from webapp.http.media import JSON_MEDIA_TYPE, NPY_MEDIA_TYPES, is_binary_body
from webapp.http.responses import json_bytes


@dataclass(frozen=True)
class Answer:
    """A successful answer: body bytes and their media type."""

    body: bytes
    content_type: str = JSON_MEDIA_TYPE


def predict(
    service: InferenceBackend, limits: RequestLimits, spec: ModelSpec, mimetype: str, body: bytes,
    npy_answer: bool,
) -> Answer:
    """``:predict``: a JSON body (row or columnar, any signature) or a binary one (default signature)."""
    if is_binary_body(mimetype, body):
        prediction = service.predict(spec, body_to_images(body, limits))
        layout = "row"
    else:
        inputs = JsonPredictInputs(body, limits)
        prediction = service.predict(spec, inputs)
        layout = inputs.layout
    if npy_answer:
        return npy_outputs(prediction.outputs)
    return Answer(json_bytes(format_outputs(prediction.outputs, layout)))


def npy_outputs(outputs: dict[str, np.ndarray]) -> Answer:
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
    return Answer(dump_npy(value), NPY_MEDIA_TYPES[0])


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


def classify(service: InferenceBackend, limits: RequestLimits, spec: ModelSpec, body: bytes) -> Answer:
    """``:classify``: ``{"examples": [...]}`` -> ``{"results": [[[label, score] x 62] per example]}``."""
    document = parse_json_object(body)
    signature = document.get("signature_name") or ""
    if not isinstance(signature, str):
        raise InvalidArgumentError("'signature_name' key must be a string value.")
    if "examples" not in document:
        raise InvalidArgumentError("When method is classify, key 'examples' is expected and was not found")
    images = examples_to_images(document["examples"], document.get("context"), limits)
    result = service.classify(dataclasses.replace(spec, signature_name=signature), images)
    scores = result.scores.tolist() if result.scores is not None else None
    labels = result.labels
    width = len(labels if labels is not None else scores[0])
    results = [
        [[labels[i] if labels is not None else "", scores[row][i] if scores is not None else 0.0]
         for i in range(width)]
        for row in range(len(images))
    ]
    return Answer(json_bytes({"results": results}))


def metadata(service: InferenceBackend, spec: ModelSpec, model_info: bool = False) -> Answer:
    """GetModelMetadata: the version's SignatureDefs and the spec of the version that answered.

    ``model_info`` adds this project's extension field: the classes the version has no training images of.
    """
    result = service.metadata(spec)
    model_spec = {"name": result.model.name, "signature_name": "", "version": str(result.model.version)}
    metadata_field: dict[str, Any] = {"signature_def": result.signature_defs}
    if model_info:
        metadata_field[MODEL_INFO_FIELD] = {UNTRAINED_CLASSES_KEY: list(result.untrained_classes)}
    return Answer(json_bytes({"model_spec": model_spec, "metadata": metadata_field}))


def status(service: InferenceBackend, spec: ModelSpec) -> Answer:
    """GetModelStatus: ``{"model_version_status": [...]}``."""
    return Answer(json_bytes({"model_version_status": service.status(spec)}))
