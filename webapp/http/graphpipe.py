"""GraphPipe over the inference service: a flatbuffers ``Request`` in, an ``InferResponse`` or
``MetadataResponse`` out.

Shared by the Flask route (``webapp.http.graphpipe_api``) and the GraphPipe port
(``webapp.http.graphpipe_port``). An ``InferRequest`` runs the model's default signature: its one
input takes any tensor holding N images of 784 pixels (pixels/255 as float16/32/64, or uint8 0-255;
[N,784], [N,28,28], [N,1,784]); ``input_names`` and ``output_names`` may be left out (the signature's
own) or must name the signature's tensors; ``config`` is application-specific in GraphPipe and, as in
GraphPipe's reference servers, not used. Every refusal is an ``InferResponse`` holding one ``Error``
(code: the canonical error code, message: the server's) with the refusal's 4xx status, never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emnist_contract.signatures import DEFAULT_SIGNATURE
from serving_core.errors import InvalidArgumentError, ServingError
from serving_core.payloads.limits import RequestLimits
from serving_core.payloads.typed_tensors import pixels_to_images, raw_to_array
from serving_core.service import InferenceService, ModelSpec, SignatureInput
from webapp.http import graphpipe_wire as wire
from webapp.server_info import SERVER_NAME, server_version

#: GraphPipe's servers answer raw flatbuffers.
CONTENT_TYPE = "application/octet-stream"
#: The TensorFlow dtypes of our signatures, as GraphPipe types.
TYPE_OF_TF_DTYPE = {
    "DT_FLOAT": wire.TensorType.FLOAT32, "DT_DOUBLE": wire.TensorType.FLOAT64,
    "DT_HALF": wire.TensorType.FLOAT16, "DT_UINT8": wire.TensorType.UINT8, "DT_INT8": wire.TensorType.INT8,
    "DT_INT32": wire.TensorType.INT32, "DT_INT64": wire.TensorType.INT64, "DT_STRING": wire.TensorType.STRING,
}
INPUT_DESCRIPTION = ("N images of 28x28 pixels, row by row: pixels/255 in any float type, or uint8 0-255; "
                     "shaped [N,784], [N,28,28] or [N,1,784]")
OUTPUT_DESCRIPTION = "softmax scores float32 [N,62] in EMNIST ByClass order (0-9, A-Z, a-z)"


@dataclass(frozen=True)
class Answer:
    """The HTTP status and the flatbuffers body of a GraphPipe answer."""

    status: int
    body: bytes


class GraphPipeInputs:
    """An InferRequest's one input tensor, decoded once the service has pinned a version."""

    def __init__(self, request: wire.InferRequest, limits: RequestLimits) -> None:
        self.request = request
        self.limits = limits

    def signature_name(self) -> str:
        return DEFAULT_SIGNATURE

    def tensor(self, signature_input: SignatureInput) -> np.ndarray:
        tensors, names = self.request.input_tensors, self.request.input_names
        if len(tensors) != 1:
            raise InvalidArgumentError(
                f"the model takes 1 input tensor ({signature_input.name}), the request holds {len(tensors)}")
        if names and list(names) != [signature_input.name]:
            raise InvalidArgumentError(
                f"unknown input names {list(names)}: the model's input is {signature_input.name}")
        return tensor_to_images(tensors[0], self.limits)


def tensor_to_images(tensor: wire.Tensor, limits: RequestLimits) -> np.ndarray:
    """A GraphPipe tensor of pixels -> float32 [N,784]."""
    where = "input tensor"
    dtype = wire.DTYPE_OF_TYPE.get(tensor.type)
    if dtype is None:
        try:
            name = wire.TensorType(tensor.type).name
        except ValueError:
            name = str(tensor.type)
        raise InvalidArgumentError(
            f"{where}: type {name} is not accepted: send pixels/255 as Float16/32/64 "
            "or pixels 0-255 as Uint8")
    return pixels_to_images(raw_to_array(tensor.data, dtype, tensor.shape, where), where, limits)


def answer(service: InferenceService, limits: RequestLimits, spec: ModelSpec, body: bytes) -> Answer:
    """The answer to one GraphPipe request body (see the module doc)."""
    try:
        try:
            request = wire.read_request(body)
        except wire.WireError as exc:
            raise InvalidArgumentError(f"the body is not a GraphPipe Request: {exc}") from None
        if isinstance(request, wire.MetadataRequest):
            return Answer(200, wire.write_metadata_response(metadata(service, spec)))
        return Answer(200, wire.write_infer_response(infer(service, limits, spec, request)))
    except ServingError as error:
        return error_answer(error)


def error_answer(error: ServingError) -> Answer:
    """An InferResponse holding the one error, with the error's HTTP status."""
    return Answer(error.http_status, wire.write_infer_response([], [(int(error.code), error.message)]))


def infer(service: InferenceService, limits: RequestLimits, spec: ModelSpec,
          request: wire.InferRequest) -> list[np.ndarray]:
    """The output tensors the request names (default: the signature's), in the order it names them."""
    prediction = service.predict(spec, GraphPipeInputs(request, limits))
    names = list(request.output_names) or list(prediction.outputs)
    unknown = [name for name in names if name not in prediction.outputs]
    if unknown:
        raise InvalidArgumentError(
            f"unknown output names {unknown}: the model answers {sorted(prediction.outputs)}")
    outputs = [prediction.outputs[name] for name in names]
    if any(value.dtype.newbyteorder("<") not in wire.TYPE_OF_DTYPE for value in outputs):
        raise InvalidArgumentError("GraphPipe answers numeric tensors; ask for the numeric outputs only")
    return outputs


def _shape(info: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(dim.get("size", -1)) for dim in info.get("tensor_shape", {}).get("dim", []))


def metadata(service: InferenceService, spec: ModelSpec) -> wire.MetadataResponse:
    """The default signature's inputs and outputs, and the version that would answer."""
    result = service.metadata(spec)
    signature = result.signature_defs["signature_def"][DEFAULT_SIGNATURE]

    def describe(tensors: dict[str, Any], description: str) -> tuple[wire.IOMetadata, ...]:
        return tuple(
            wire.IOMetadata(name, _shape(info), TYPE_OF_TF_DTYPE.get(info.get("dtype"), wire.TensorType.NULL),
                            description)
            for name, info in tensors.items())

    model = result.model
    return wire.MetadataResponse(
        name=model.name,
        version=server_version(),
        server=SERVER_NAME,
        description=(f"EMNIST ByClass classifier: model {model.name} version {model.version} "
                     f"({model.engine} engine), signature {DEFAULT_SIGNATURE}"),
        inputs=describe(signature.get("inputs", {}), INPUT_DESCRIPTION),
        outputs=describe(signature.get("outputs", {}), OUTPUT_DESCRIPTION),
    )


def metadata_json(service: InferenceService, spec: ModelSpec) -> dict[str, Any]:
    """The same metadata as JSON (GraphPipe's reference servers answer a GET with it)."""
    result = metadata(service, spec)

    def io(item: wire.IOMetadata) -> dict[str, Any]:
        return {"name": item.name, "description": item.description, "shape": list(item.shape),
                "type": wire.TensorType(item.type).name.capitalize()}

    return {"name": result.name, "version": result.version, "server": result.server,
            "description": result.description, "inputs": [io(i) for i in result.inputs],
            "outputs": [io(o) for o in result.outputs]}
