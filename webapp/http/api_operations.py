"""What each HTTP route does, for the API document: its summary, parameters, bodies and answers.

Every route handler of the route groups has its ``Operation`` here, keyed by the handler (a handler serves
each of its rules: the servable's name, ``/versions/<v>``, ``/labels/<l>``); ``webapp.http.api_document``
adds the path parameters from the rules themselves and each refusal status in the route's refusal style.
A route whose handler has no operation here makes the document fail to build, so it cannot go undocumented.

The schemas describe what the handlers answer (docs/serving-api.md, docs/serving-protocols.md); the suite
checks the running server's answers against them (tests/webapp/http/test_api_fuzz.py).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from webapp.http import graphpipe, health, monitoring, predict_api, sagemaker, tfserving_rest, v2_rest
from webapp.http.routing import Handler

Schema = dict[str, Any]

BINARY: Schema = {"type": "string", "format": "binary"}
NUMBERS: Schema = {"type": "array", "items": {"type": "number"}}
#: 784 raw pixels as uint8 (784 zero bytes: an empty image), the shortest complete ``b64`` instance.
EXAMPLE_B64 = base64.b64encode(bytes(784)).decode("ascii")

#: An image as TF Serving's JSON takes it: 784 numbers, 28 rows of 28, or ``{"b64": ...}`` of an image
#: file or of raw pixels (3,136 bytes of float32 or 784 of uint8).
INSTANCE: Schema = {
    "description": "one image: 784 pixels/255, 28 rows of 28, {\"b64\": an image file or raw pixels}, or an "
                   "object of the signature's named inputs",
    "anyOf": [
        NUMBERS,
        {"type": "array", "items": NUMBERS},
        {"type": "object", "properties": {"b64": {"type": "string"}}, "required": ["b64"]},
        {"type": "object"},
    ],
}
PREDICT_REQUEST: Schema = {
    "type": "object",
    "description": "TF Serving's Predict request: rows (instances) or columns (inputs)",
    "properties": {
        "signature_name": {"type": "string", "description": "default: serving_default"},
        "instances": {"type": "array", "items": INSTANCE},
        "inputs": {"description": "columnar: the images, or an object of named inputs"},
    },
    "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}],
    "example": {"instances": [{"b64": EXAMPLE_B64}]},
}
PREDICT_RESPONSE: Schema = {
    "type": "object",
    "description": "one output unnamed (62 scores per image for serving_default); several outputs as an "
                   "object per image (predictions) or one object of columns (outputs)",
    "properties": {
        "predictions": {"type": "array"},
        "outputs": {"type": ["array", "object"]},
    },
    "oneOf": [{"required": ["predictions"]}, {"required": ["outputs"]}],
}
CLASSIFY_REQUEST: Schema = {
    "type": "object",
    "description": "TF Serving's Classification request: one example per image, its feature 'images'",
    "properties": {
        "signature_name": {"type": "string", "description": "default: the model's classify signature"},
        "examples": {"type": "array", "items": {"type": "object", "properties": {"images": INSTANCE}}},
        "context": {"type": "object"},
    },
    "required": ["examples"],
    "example": {"examples": [{"images": {"b64": EXAMPLE_B64}}]},
}
LABEL_SCORE: Schema = {"type": "array", "description": "[label, score]",
                       "items": {"type": ["string", "number"]}, "minItems": 2, "maxItems": 2}
CLASSIFY_RESPONSE: Schema = {
    "type": "object",
    "properties": {"results": {"type": "array", "items": {"type": "array", "items": LABEL_SCORE}}},
    "required": ["results"],
}
MODEL_STATUS: Schema = {
    "type": "object",
    "properties": {"model_version_status": {"type": "array", "items": {
        "type": "object",
        "properties": {
            "version": {"type": "string"},
            "state": {"enum": ["START", "LOADING", "AVAILABLE", "UNLOADING", "END"]},
            "status": {"type": "object", "properties": {"error_code": {"type": "string"},
                                                        "error_message": {"type": "string"}}},
        },
        "required": ["version", "state", "status"],
    }}},
    "required": ["model_version_status"],
}
MODEL_METADATA: Schema = {
    "type": "object",
    "properties": {
        "model_spec": {"type": "object", "properties": {
            "name": {"type": "string"}, "signature_name": {"type": "string"}, "version": {"type": "string"}},
            "required": ["name", "version"]},
        "metadata": {"type": "object", "properties": {
            "signature_def": {"type": "object", "description": "TF Serving's SignatureDefMap as JSON"},
            "model_info": {"type": "object", "properties": {
                "classes_without_training_images": {"type": "array", "items": {"type": "string"}}}},
        }, "required": ["signature_def"]},
    },
    "required": ["model_spec", "metadata"],
}
MODEL_SPEC: Schema = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "engine": {"type": "string"}},
    "required": ["name", "version", "engine"],
}
RANKED: Schema = {
    "type": "object",
    "properties": {"label": {"type": "string"}, "class_id": {"type": "integer"},
                   "probability": {"type": "number"}, "learned": {"type": "boolean"}},
    "required": ["label", "class_id", "probability", "learned"],
}
APP_PREDICTION: Schema = {
    "type": "object",
    "properties": {
        **RANKED["properties"],
        "uncertain": {"type": "boolean"},
        "uncertain_reason": {"enum": ["low_probability", "close_runner_up"]},
        "top_k": {"type": "array", "items": RANKED},
        "warnings": {"type": "array", "items": {"type": "object", "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}}, "required": ["code", "message"]}},
        "file": {"type": "string"},
    },
    "required": [*RANKED["required"], "uncertain", "top_k"],
}
APP_PREDICT_RESPONSE: Schema = {
    "type": "object",
    "properties": {
        "model_spec": MODEL_SPEC,
        "predictions": {"type": "array", "items": NUMBERS},
        "results": {"type": "array", "items": APP_PREDICTION},
        "classes_without_training_images": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["model_spec", "predictions", "results", "classes_without_training_images"],
}
V2_DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
                "FP32", "FP64", "BYTES"]
V2_TENSOR_METADATA: Schema = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "datatype": {"type": "string"},
                   "shape": {"type": "array", "items": {"type": "integer"}}},
    "required": ["name", "datatype", "shape"],
}
V2_PARAMETERS: Schema = {"type": "object", "description": "binary_data_size (inputs), binary_data (outputs), "
                                                          "binary_data_output (the request)"}
V2_INFER_REQUEST: Schema = {
    "type": "object",
    "description": "the protocol's $inference_request; with Inference-Header-Content-Length, the inputs' raw "
                   "bytes follow the JSON",
    "properties": {
        "id": {"type": "string"},
        "parameters": V2_PARAMETERS,
        "inputs": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "datatype": {"enum": V2_DATATYPES},
                           "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                           "parameters": V2_PARAMETERS, "data": {"type": "array"}},
            "required": ["name", "datatype", "shape"],
        }},
        "outputs": {"type": "array", "items": {
            "type": "object", "properties": {"name": {"type": "string"}, "parameters": V2_PARAMETERS},
            "required": ["name"]}},
    },
    "required": ["inputs"],
    "example": {"inputs": [{"name": "images", "datatype": "UINT8", "shape": [1, 784], "data": [0] * 784}]},
}
V2_INFER_RESPONSE: Schema = {
    "type": "object",
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "outputs": {"type": "array", "items": {
            "type": "object",
            "properties": {**V2_TENSOR_METADATA["properties"], "parameters": V2_PARAMETERS,
                           "data": {"type": "array"}},
            "required": ["name", "datatype", "shape"],
        }},
    },
    "required": ["model_name", "model_version", "outputs"],
}
V2_SERVER_METADATA: Schema = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                   "extensions": {"type": "array", "items": {"type": "string"}}},
    "required": ["name", "version", "extensions"],
}
V2_MODEL_METADATA: Schema = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}},
                   "platform": {"type": "string"},
                   "inputs": {"type": "array", "items": V2_TENSOR_METADATA},
                   "outputs": {"type": "array", "items": V2_TENSOR_METADATA}},
    "required": ["name", "platform", "inputs", "outputs"],
}
GRAPHPIPE_IO: Schema = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                   "shape": {"type": "array", "items": {"type": "integer"}}, "type": {"type": "string"}},
    "required": ["name", "shape", "type"],
}
GRAPHPIPE_METADATA: Schema = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "server": {"type": "string"},
                   "description": {"type": "string"},
                   "inputs": {"type": "array", "items": GRAPHPIPE_IO},
                   "outputs": {"type": "array", "items": GRAPHPIPE_IO}},
    "required": ["name", "version", "server", "inputs", "outputs"],
}


def json_content(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def answer(description: str, content: dict[str, Any] | None = None,
           headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if content:
        response["content"] = content
    if headers:
        response["headers"] = headers
    return response


def request_body(content: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": content}


@dataclass(frozen=True)
class Operation:
    """One handler's part of the document; its refusals (statuses) take the route's refusal style."""

    summary: str
    tag: str
    responses: dict[str, Any]
    refusals: tuple[int, ...] = ()
    description: str = ""
    parameters: tuple[dict[str, Any], ...] = ()
    request_body: dict[str, Any] | None = None


#: Refusals any inference can give: bad input, unknown model, the server busy or over its deadline.
INFERENCE = (400, 404, 503, 504)
#: Refusals of reading a request body: too slow (408), too large (413).
BODY = (408, 413)
#: Refusals of naming a servable: a bad label (400), an unknown model or version (404), no core (503).
SERVABLE = (400, 404, 503)

TF, APP, HEALTH, MONITORING = "TensorFlow Serving REST", "/predict", "health", "monitoring"
V2, GRAPHPIPE = "Open Inference Protocol V2", "GraphPipe"
SAGEMAKER = "Amazon SageMaker"

TF_PREDICT_CONTENT = {
    "application/json": {"schema": PREDICT_REQUEST},
    "application/octet-stream": {"schema": BINARY},
    "application/x-npy": {"schema": BINARY},
}

OPERATIONS: dict[Handler, Operation] = {
    tfserving_rest.predict: Operation(
        "Predict (TF Serving's :predict)", TF,
        {"200": answer("the signature's outputs; with Accept: application/x-npy, the one output as .npy",
                       {**json_content(PREDICT_RESPONSE), "application/x-npy": {"schema": BINARY}})},
        (*INFERENCE, *BODY, 406, 415),
        description="A JSON body (row or columnar, any signature) or a binary one (.npy, raw float32 or "
                    "uint8 pixels) for the default signature. 415: a form upload (send it to POST /predict). "
                    "406: a .npy answer asked of a signature with several outputs.",
        request_body=request_body(TF_PREDICT_CONTENT)),
    tfserving_rest.classify: Operation(
        "Classify (TF Serving's :classify)", TF,
        {"200": answer("each example's [label, score] for the 62 classes", json_content(CLASSIFY_RESPONSE))},
        (*INFERENCE, *BODY, 415),
        description="Without signature_name the model's classify signature answers.",
        request_body=request_body(json_content(CLASSIFY_REQUEST))),
    tfserving_rest.regress: Operation(
        "Regress (refused: the model classifies)", TF, {}, (400, *BODY),
        description="Always 400: the model has no regression signature.",
        request_body=request_body({"application/json": {"schema": {"type": "object"}}}, required=False)),
    tfserving_rest.status: Operation(
        "Model status (GetModelStatus)", TF,
        {"200": answer("the versions' states", json_content(MODEL_STATUS))}, SERVABLE),
    tfserving_rest.metadata: Operation(
        "Model metadata (GetModelMetadata)", TF,
        {"200": answer("the version's SignatureDefs", json_content(MODEL_METADATA))}, SERVABLE,
        parameters=({"name": "metadata_field", "in": "query", "required": False,
                     "description": "model_info adds the classes the version has no training images of",
                     "schema": {"type": "array", "items": {"enum": ["signature_def", "model_info"]}},
                     "style": "form", "explode": True},)),
    tfserving_rest.missing_model_name: Operation(
        "No model named (always 400, as TF Serving)", TF, {}, (400,)),
    predict_api.predict: Operation(
        "Labels, probabilities and top k of each image", APP,
        {"200": answer("TF Serving's predictions plus each image's label, confidence cue and top k",
                       json_content(APP_PREDICT_RESPONSE))},
        (*INFERENCE, *BODY, 415),
        description="Multipart image files (any field, several allowed), an image file or .npy body, raw "
                    "pixels, or TF Serving's JSON.",
        parameters=(
            {"name": "model", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "the model (default: MODEL_NAME)"},
            {"name": "version", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 0}},
            {"name": "label", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "a version label"},
            {"name": "top_k", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 62},
             "description": "default DEFAULT_TOP_K"},
        ),
        request_body=request_body({
            "multipart/form-data": {"schema": {"type": "object", "properties": {"image": BINARY}},
                                    "encoding": {"image": {"contentType": "image/*"}}},
            "image/png": {"schema": BINARY},
            "image/jpeg": {"schema": BINARY},
            **TF_PREDICT_CONTENT,
        })),
    health.healthz: Operation(
        "Liveness: the process answers", HEALTH,
        {"200": answer("alive", json_content({"type": "object", "properties": {"status": {"const": "ok"}},
                                              "required": ["status"]}))}),
    health.readyz: Operation(
        "Readiness: the default model answers a prediction", HEALTH,
        {"200": answer("ready", json_content({
            "type": "object", "properties": {"status": {"const": "ready"}, "model": {"type": "string"},
                                             "version": {"type": "string"}},
            "required": ["status", "model", "version"]})),
         "503": answer("not ready, and why", json_content({
             "type": "object", "properties": {"status": {"const": "not ready"}, "error": {"type": "string"}},
             "required": ["status", "error"]}))}),
    monitoring.prometheus_metrics: Operation(
        "Prometheus metrics of every process of the server (404 with EMNIST_METRICS off)", MONITORING,
        {"200": answer("the text exposition format: TF Serving's :tensorflow:serving:* metrics and the "
                       "server's emnist_* metrics (docs/operations.md lists them)",
                       {"text/plain": {"schema": {"type": "string"}}})},
        (404,)),
    v2_rest.server_live: Operation(
        "Server live", V2, {"200": answer("live", json_content({
            "type": "object", "properties": {"live": {"type": "boolean"}}, "required": ["live"]}))}),
    v2_rest.server_ready: Operation(
        "Server ready (400 when not: the protocol's false)", V2,
        {status: answer(words, json_content({"type": "object", "properties": {"ready": {"type": "boolean"}},
                                              "required": ["ready"]}))
         for status, words in (("200", "ready"), ("400", "not ready"))}),
    v2_rest.server_metadata: Operation(
        "Server metadata", V2,
        {"200": answer("name, version, extensions", json_content(V2_SERVER_METADATA))}),
    v2_rest.model_metadata: Operation(
        "Model metadata", V2,
        {"200": answer("the default signature's tensors", json_content(V2_MODEL_METADATA))}, SERVABLE),
    v2_rest.model_ready: Operation(
        "Model ready (400 when not: the protocol's false)", V2,
        {status: answer(words, json_content({
            "type": "object", "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
            "required": ["name", "ready"]})) for status, words in (("200", "ready"), ("400", "not ready"))}),
    v2_rest.infer: Operation(
        "Inference", V2,
        {"200": answer(
            "the $inference_response; application/octet-stream when an output is asked in binary: the JSON, "
            "Inference-Header-Content-Length bytes long, then the outputs' bytes",
            {**json_content(V2_INFER_RESPONSE), "application/octet-stream": {"schema": BINARY}},
            {v2_rest.HEADER_LENGTH: {"description": "the JSON's length, when binary outputs follow it",
                                     "schema": {"type": "integer", "minimum": 0}}})},
        (*INFERENCE, *BODY, 415),
        description="JSON, optionally followed by the inputs' raw bytes (the binary tensor data extension); "
                    "Content-Encoding gzip or deflate is accepted.",
        parameters=({"name": v2_rest.HEADER_LENGTH, "in": "header", "required": False,
                     "description": "the JSON's length, when the inputs' raw bytes follow it",
                     "schema": {"type": "integer", "minimum": 0}},),
        request_body=request_body({"application/json": {"schema": V2_INFER_REQUEST},
                                   "application/octet-stream": {"schema": BINARY}})),
    graphpipe.model_request: Operation(
        "A GraphPipe Request (flatbuffers): infer or metadata", GRAPHPIPE,
        {"200": answer("an InferResponse or a MetadataResponse (flatbuffers)",
                       {graphpipe.CONTENT_TYPE: {"schema": BINARY}})},
        (*INFERENCE, *BODY),
        description="Refusals are an InferResponse holding the Error, with the refusal's status.",
        request_body=request_body({graphpipe.CONTENT_TYPE: {"schema": BINARY}})),
    graphpipe.model_metadata: Operation(
        "The model's GraphPipe metadata as JSON", GRAPHPIPE,
        {"200": answer("name, version, server, inputs and outputs", json_content(GRAPHPIPE_METADATA))},
        SERVABLE),
}

# SageMaker's contract is an adapter over two of the above: the readiness probe and TF Serving's :predict.
OPERATIONS[sagemaker.ping] = Operation(
    "SageMaker's health check: the default model answers (/readyz)", SAGEMAKER,
    OPERATIONS[health.readyz].responses)
OPERATIONS[sagemaker.invocations] = Operation(
    "SageMaker's inference: TF Serving's :predict of the default model", SAGEMAKER,
    OPERATIONS[tfserving_rest.predict].responses, (*INFERENCE, *BODY, 406, 415),
    description="The body as Content-Type says: TF Serving's JSON, .npy, raw pixels or an image file (none: "
                "sniffed; others: 415). Accept: JSON or application/x-npy (others: 406).",
    request_body=request_body({**TF_PREDICT_CONTENT, "image/png": {"schema": BINARY},
                               "image/jpeg": {"schema": BINARY}}))


def operation_of(handler: Handler) -> Operation:
    """The handler's operation; a KeyError names a handler that has none."""
    try:
        return OPERATIONS[handler]
    except KeyError:
        raise KeyError(f"route handler {handler.__module__}.{handler.__qualname__} has no Operation in "
                       f"{__name__}.OPERATIONS: describe it there") from None
