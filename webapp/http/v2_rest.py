"""The Open Inference Protocol's REST inference body, with its binary tensor data extension.

A request body is the JSON ``$inference_request``, optionally followed by the inputs' raw bytes: then
the ``Inference-Header-Content-Length`` header gives the JSON's length and each binary input says
its size in ``parameters.binary_data_size``, in input order. An output is answered in binary when its
``parameters.binary_data`` is true, or, for the outputs not listed, when the request's
``parameters.binary_data_output`` is; the answer then carries the header itself. Pure functions over
``webapp.open_inference``; the Flask view is ``webapp.http.v2_api``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from serving_core.errors import InvalidArgumentError
from serving_core.payloads.json_tensors import parse_json_object
from serving_core.payloads.limits import RequestLimits
from serving_core.payloads.typed_tensors import checked_shape
from serving_core.service import InferenceService, ModelSpec
from webapp import open_inference
from webapp.http.media import JSON_MEDIA_TYPE
from webapp.http.responses import json_bytes

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_MEDIA_TYPE = "application/octet-stream"
#: Parameters of other servers' extensions that this server does not implement: refused, not ignored.
UNSUPPORTED_PARAMETERS = {
    "shared_memory_region": "the shared memory extension is not supported: send the tensor's data",
    "shared_memory_byte_size": "the shared memory extension is not supported: send the tensor's data",
    "shared_memory_offset": "the shared memory extension is not supported: send the tensor's data",
    "classification": "the classification extension is not supported: ask for the scores",
}


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    inputs: list[open_inference.InputTensor]
    requested: list[str]
    binary: dict[str, bool] = field(default_factory=dict)
    binary_by_default: bool = False


@dataclass(frozen=True)
class Answer:
    body: bytes
    content_type: str
    header_length: int | None = None


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{where} must be a JSON object")
    return value


def _parameters(value: Any, where: str) -> dict[str, Any]:
    parameters = _object(value, f"{where} 'parameters'")
    for key, message in UNSUPPORTED_PARAMETERS.items():
        if key in parameters:
            raise InvalidArgumentError(f"{where}: {message}")
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


def infer(service: InferenceService, limits: RequestLimits, spec: ModelSpec, body: bytes,
          header_length: str | None) -> Answer:
    """POST .../infer: the inference response, with binary outputs after the JSON when asked."""
    request = parse_infer_request(body, header_length)
    result = open_inference.infer(service, limits, spec, request.inputs, request.requested)
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
        return Answer(header, JSON_MEDIA_TYPE)
    return Answer(header + b"".join(chunks), BINARY_MEDIA_TYPE, len(header))
