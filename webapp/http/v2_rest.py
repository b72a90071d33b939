"""The Open Inference Protocol's REST API (KServe/Triton/MLServer's "V2"): its routes and their handlers.

Health (``/v2/health/live``, ``/v2/health/ready``), server metadata (``/v2``), model metadata and
readiness (``/v2/models/<m>[/versions/<v>][/ready]``) and inference (``.../infer``, also answered below
Flask by ``webapp.http.routing.FastRoutes``). A version is a number or one of the model's version labels.
Errors are ``{"error": "..."}`` with the refusal's status (400 for a bad request, 404 for an unknown model
or version); a health or readiness check that is false answers 400, as the protocol has it (a 4xx status
is false).

An inference body is the JSON ``$inference_request``, optionally followed by the inputs' raw bytes: then
the ``Inference-Header-Content-Length`` header gives the JSON's length and each binary input says
its size in ``parameters.binary_data_size``, in input order. An output is answered in binary when its
``parameters.binary_data`` is true, or, for the outputs not listed, when the request's
``parameters.binary_data_output`` is; the answer then carries the header itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from serving_core.errors import InvalidArgumentError
from serving_core.payloads.json_tensors import parse_json_object
from serving_core.payloads.typed_tensors import checked_shape
from webapp import open_inference
from webapp.http.calls import HttpCall
from webapp.http.media import JSON_MEDIA_TYPE, decode_content
from webapp.http.refusals import JSON
from webapp.http.responses import HttpAnswer, json_bytes
from webapp.http.routing import Route, RouteGroup

PROTOCOL = "v2-rest"

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_MEDIA_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    inputs: list[open_inference.InputTensor]
    requested: list[str]
    binary: dict[str, bool] = field(default_factory=dict)
    binary_by_default: bool = False


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{where} must be a JSON object")
    return value


def _parameters(value: Any, where: str) -> dict[str, Any]:
    parameters = _object(value, f"{where} 'parameters'")
    open_inference.check_parameters(parameters, where)
    return parameters


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{where} must be a string")
    return value


def _flag(parameters: dict[str, Any], key: str, where: str) -> bool | None:
    value = parameters.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidArgumentError(f"{where}: parameter '{key}' must be a boolean")
    return value


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """(the JSON header, the binary data after it)."""
    if header_length is None:
        return body, memoryview(b"")
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 <= length <= len(body):
        raise InvalidArgumentError(
            f"{HEADER_LENGTH}: {header_length!r} is not a length within the body's {len(body)} bytes")
    return body[:length], memoryview(body)[length:]


def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """``$inference_request`` (and the binary data after it) -> the inputs and what to answer."""
    header, binary = split_body(body, header_length)
    document = parse_json_object(header)
    request_id = document.get("id")
    if request_id is not None:
        _text(request_id, "'id'")
    parameters = _parameters(document.get("parameters"), "the request")
    raw_inputs = document.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidArgumentError("'inputs' must be a non-empty list of input tensors")
    inputs, offset = [], 0
    for index, item in enumerate(raw_inputs):
        where = f"input {index}"
        item = _object(item, where)
        name = _text(item.get("name"), f"{where} 'name'")
        where = f"input '{name}'"
        datatype = _text(item.get("datatype"), f"{where} 'datatype'")
        if "shape" not in item:
            raise InvalidArgumentError(f"{where}: 'shape' is missing")
        shape = checked_shape(item["shape"] if isinstance(item["shape"], list) else None, where)
        size = _parameters(item.get("parameters"), where).get("binary_data_size")
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise InvalidArgumentError(f"{where}: 'binary_data_size' must be a byte count")
            if offset + size > len(binary):
                raise InvalidArgumentError(
                    f"{where}: binary_data_size {size} runs past the {len(binary)} bytes of binary data")
            inputs.append(open_inference.InputTensor(name, datatype, shape, raw=binary[offset:offset + size]))
            offset += size
        elif "data" in item:
            inputs.append(open_inference.InputTensor(name, datatype, shape, values=item["data"]))
        else:
            raise InvalidArgumentError(f"{where}: neither 'data' nor parameters.binary_data_size")
    if offset != len(binary):
        raise InvalidArgumentError(
            f"{len(binary) - offset} bytes of binary data follow the JSON that no input's binary_data_size "
            "accounts for")
    requested, binary_flags = [], {}
    outputs = document.get("outputs")
    if outputs is not None and not isinstance(outputs, list):
        raise InvalidArgumentError("'outputs' must be a list of requested outputs")
    for index, item in enumerate(outputs or []):
        item = _object(item, f"output {index}")
        name = _text(item.get("name"), f"output {index} 'name'")
        where = f"output '{name}'"
        flag = _flag(_parameters(item.get("parameters"), where), "binary_data", where)
        requested.append(name)
        if flag is not None:
            binary_flags[name] = flag
    default = bool(_flag(parameters, "binary_data_output", "the request"))
    return InferRequest(request_id, inputs, requested, binary_flags, default)


def infer(call: HttpCall, name: str, version: str = "") -> HttpAnswer:
    """POST .../infer: the inference response, with binary outputs after the JSON when asked."""
    limit = call.settings["MAX_CONTENT_LENGTH"]
    body = decode_content(call.body(), call.header("Content-Encoding"), limit)
    request = parse_infer_request(body, call.header(HEADER_LENGTH))
    spec = open_inference.model_spec(name, version)
    inputs = open_inference.TensorInputs(request.inputs)
    result = open_inference.infer(call.service, call.inference_request(spec, inputs), request.requested)
    outputs, chunks = [], []
    for output in result.outputs:
        entry: dict[str, Any] = {"name": output.name, "datatype": output.datatype,
                                 "shape": list(output.array.shape)}
        if request.binary.get(output.name, request.binary_by_default):
            data = output.array.astype(output.array.dtype.newbyteorder("<"), copy=False).tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            entry["data"] = output.array.reshape(-1)
        outputs.append(entry)
    document: dict[str, Any] = {"model_name": result.model.name, "model_version": str(result.model.version)}
    if request.id is not None:
        document["id"] = request.id
    document["outputs"] = outputs
    header = json_bytes(document)
    if not chunks:
        return HttpAnswer(header, JSON_MEDIA_TYPE)
    return HttpAnswer(header + b"".join(chunks), BINARY_MEDIA_TYPE,
                      headers=((HEADER_LENGTH, str(len(header))),))


#: A health or readiness check that is false (the protocol: any 4xx status).
NOT_READY = 400


def server_live(call: HttpCall) -> HttpAnswer:
    return HttpAnswer.json({"live": True})


def server_ready(call: HttpCall) -> HttpAnswer:
    ready = not call.front_end.held_back() and open_inference.server_ready(call.service)
    return HttpAnswer.json({"ready": ready}, 200 if ready else NOT_READY)


def server_metadata(call: HttpCall) -> HttpAnswer:
    return HttpAnswer.json(open_inference.server_metadata(open_inference.REST_EXTENSIONS))


def model_metadata(call: HttpCall, name: str, version: str = "") -> HttpAnswer:
    spec = open_inference.model_spec(name, version)
    return HttpAnswer.json(open_inference.model_metadata(call.service, spec))


def model_ready(call: HttpCall, name: str, version: str = "") -> HttpAnswer:
    ready = open_inference.model_ready(call.service, open_inference.model_spec(name, version))
    return HttpAnswer.json({"name": name, "ready": ready}, 200 if ready else NOT_READY)


MODELS = ("/v2/models/<model:name>", "/v2/models/<model:name>/versions/<model:version>")

ROUTES = RouteGroup("v2_rest", PROTOCOL, JSON, (
    Route("/v2/health/live", ("GET",), server_live, probe=True),
    Route("/v2/health/ready", ("GET",), server_ready, probe=True),
    Route("/v2", ("GET",), server_metadata),
    *(Route(model, ("GET",), model_metadata) for model in MODELS),
    *(Route(f"{model}/ready", ("GET",), model_ready) for model in MODELS),
    *(Route(f"{model}/infer", ("POST",), infer, fast=True) for model in MODELS),
))
