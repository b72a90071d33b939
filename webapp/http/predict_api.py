"""The app's own endpoint, ``POST /predict``: labels and top k, and file uploads, over the inference service.

``/predict`` takes what the TF Serving routes take (JSON rows or columns, ``.npy``/binary bodies) and
also multipart uploads (``curl -F image=@x.png``, several files allowed) or a bare image body (with or
without a Content-Type), and answers TF Serving's ``predictions`` plus, per image, the label, its
probability, the confidence cue, the top k and warnings about an input that does not look like the
model's (``serving_core.input_checks``: answered all the same, as TF Serving would), and the classes the
version cannot answer. Query parameters: ``model``, ``version`` or ``label`` (which servable), ``top_k``
(default 5). docs/serving-api.md describes the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.layout import UNTRAINED_CLASSES_KEY
from emnist_contract.signatures import INPUT_KEY
from serving_core.confidence import confidence
from serving_core.errors import InvalidArgumentError
from serving_core.input_checks import InputWarning, input_warnings
from serving_core.payloads.binary import body_to_images, files_to_images
from serving_core.payloads.json_tensors import parse_json_object, predict_request_images, signature_name_of
from serving_core.request import ModelSpec
from webapp.http.calls import HttpCall
from webapp.http.media import is_binary_body
from webapp.http.refusals import JSON
from webapp.http.responses import HttpAnswer
from webapp.http.routing import Route, RouteGroup

PROTOCOL = "predict"


def query_int(call: HttpCall, name: str, default: int | None, low: int,
              high: int | None = None) -> int | None:
    text = call.request.args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidArgumentError(f"query parameter {name} must be an integer, got {text!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidArgumentError(f"query parameter {name} must be {bound}, got {value}")
    return value


def uploaded_images(call: HttpCall) -> tuple[np.ndarray, list[str]]:
    """Every uploaded file of a multipart request (any field name) -> images and file names."""
    files = [(field, storage) for field, storage in call.request.files.items(multi=True)]
    if not files:
        raise InvalidArgumentError(
            "multipart request without a file: send the image as a file field (-F image=@x.png)")
    budget = call.budget
    named = [(storage.filename or field, storage.read()) for field, storage in files]
    images = files_to_images(named, budget)
    budget.check("running the model")
    return images, [name for name, _ in named]


def request_images(call: HttpCall) -> tuple[np.ndarray, list[str] | None, str]:
    """The request's images (multipart files, a binary body, or TF Serving JSON), the file names if any,
    and the signature a JSON body names ("" when none)."""
    if call.request.mimetype == "multipart/form-data":
        return *uploaded_images(call), ""
    body = call.body()
    budget = call.budget
    if is_binary_body(call.request.mimetype, body):
        return body_to_images(body, budget), None, ""
    document = parse_json_object(body)
    signature = signature_name_of(document)
    images, _ = predict_request_images(document, INPUT_KEY, budget, body)
    return images, None, signature


def top_k(
    scores: np.ndarray, labels: Sequence[str], k: int, untrained: frozenset[str]
) -> list[dict[str, Any]]:
    order = np.argsort(-np.asarray(scores), kind="stable")[:k]
    return [{"label": labels[i], "class_id": int(i), "probability": float(scores[i]),
             "learned": labels[i] not in untrained} for i in order]


def result_entry(row_scores: np.ndarray, labels: Sequence[str], k: int, untrained: frozenset[str],
                 warnings: tuple[InputWarning, ...]) -> dict[str, Any]:
    """One image's answer: the label, its probability, the confidence cue, the top k, input warnings."""
    class_id = int(np.argmax(row_scores))
    cue = confidence(row_scores)
    entry: dict[str, Any] = {
        "label": labels[class_id],
        "class_id": class_id,
        "probability": float(row_scores[class_id]),
        "learned": labels[class_id] not in untrained,
        "uncertain": cue.uncertain,
    }
    if cue.uncertain:
        entry["uncertain_reason"] = cue.reason
    entry["top_k"] = top_k(row_scores, labels, k, untrained)
    if warnings:
        entry["warnings"] = [{"code": warning.code, "message": warning.message} for warning in warnings]
    return entry


def predict(call: HttpCall) -> HttpAnswer:
    """Labels, probabilities, the confidence cue and the top k of each image of the request."""
    args = call.request.args
    name = args.get("model") or call.settings["MODEL_NAME"]
    version = query_int(call, "version", None, 0)
    label = args.get("label") or None
    k = query_int(call, "top_k", int(call.settings["DEFAULT_TOP_K"]), 1, NUM_CLASSES)
    images, file_names, signature = request_images(call)
    result = call.service.scores(call.inference_request(ModelSpec(name, version, label, signature), images))
    untrained = frozenset(result.untrained_classes)
    results = []
    for row, (row_scores, warnings) in enumerate(zip(result.scores, input_warnings(images), strict=True)):
        entry = result_entry(row_scores, result.labels, k, untrained, warnings)
        if file_names is not None:
            entry["file"] = file_names[row]
        results.append(entry)
    return HttpAnswer.json({
        "model_spec": {"name": result.model.name, "version": str(result.model.version),
                       "engine": result.model.engine},
        "predictions": result.scores,
        "results": results,
        UNTRAINED_CLASSES_KEY: list(result.untrained_classes),
    })


ROUTES = RouteGroup("predict_api", PROTOCOL, JSON, (Route("/predict", ("POST",), predict),))
