"""GraphPipe over the inference service: a flatbuffers ``Request`` in, an ``InferResponse`` or
``MetadataResponse`` out, on the app's port and on a port of its own.

``ROUTES``: ``POST /graphpipe/<model>[/versions/<v>]`` takes a GraphPipe ``Request`` and answers in
flatbuffers, errors included (a GraphPipe client reads an ``InferResponse`` holding the ``Error``); a
``GET`` answers the model's GraphPipe metadata as JSON, as GraphPipe's reference servers do.
``PORT_ROUTES``: with ``GRAPHPIPE_PORT`` set, every request on that port (as GraphPipe's servers listen
on ``:9000``) is GraphPipe for the default model, ``MODEL_NAME``: a ``POST`` to any path is a
``Request``, ``GET /control/is_alive`` and ``GET /control/is_ready`` are the probes, any other ``GET``
is the metadata as JSON (``webapp.http.routing.FastRoutes`` serves them, bound to that port).

An ``InferRequest`` runs the model's default signature: its one
input takes any tensor holding N images of 784 pixels (pixels/255 as float16/32/64, or uint8 0-255;
[N,784], [N,28,28], [N,1,784]); ``input_names`` and ``output_names`` may be left out (the signature's
own) or must name the signature's tensors; ``config`` is application-specific in GraphPipe and, as in
GraphPipe's reference servers, not used. Every refusal is an ``InferResponse`` holding one ``Error``
(code: the canonical error code, message: the server's) with the refusal's 4xx status, never a 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emnist_contract.signatures import DEFAULT_SIGNATURE
from emnist_contract.tensors import NUM_PIXELS
from serving_core.errors import InvalidArgumentError
from serving_core.payloads.limits import RequestBudget
from serving_core.payloads.typed_tensors import checked_shape, pixels_to_images, raw_to_array
from serving_core.request import InferenceRequest, ModelSpec, SignatureInput
from serving_core.service import InferenceBackend
from webapp.http import graphpipe_wire as wire
from webapp.http.calls import HttpCall
from webapp.http.refusals import GRAPHPIPE, JSON
from webapp.http.responses import HttpAnswer, json_bytes
from webapp.http.routing import Route, RouteGroup
from webapp.server_info import SERVER_NAME, server_version

PROTOCOL = "graphpipe"

CONTENT_TYPE = wire.CONTENT_TYPE
#: The TensorFlow dtypes of our signatures, as GraphPipe types.
TYPE_OF_TF_DTYPE = {
    "DT_FLOAT": wire.TensorType.FLOAT32, "DT_DOUBLE": wire.TensorType.FLOAT64,
    "DT_HALF": wire.TensorType.FLOAT16, "DT_UINT8": wire.TensorType.UINT8, "DT_INT8": wire.TensorType.INT8,
    "DT_INT32": wire.TensorType.INT32, "DT_INT64": wire.TensorType.INT64, "DT_STRING": wire.TensorType.STRING,
}
INPUT_DESCRIPTION = ("N images of 28x28 pixels, row by row: pixels/255 in any float type, or uint8 0-255; "
                     "shaped [N,784], [N,28,28] or [N,1,784]")
OUTPUT_DESCRIPTION = "softmax scores float32 [N,62] in EMNIST ByClass order (0-9, A-Z, a-z)"


class GraphPipeInputs:
    """An InferRequest's one input tensor, decoded once the service has pinned a version."""

    def __init__(self, request: wire.InferRequest) -> None:
        self.request = request

    def signature_name(self) -> str:
        return DEFAULT_SIGNATURE

    def tensor(self, signature_input: SignatureInput, budget: RequestBudget) -> np.ndarray:
        tensors, names = self.request.input_tensors, self.request.input_names
        if len(tensors) != 1:
            raise InvalidArgumentError(
                f"the model takes 1 input tensor ({signature_input.name}), the request holds {len(tensors)}")
        if names and list(names) != [signature_input.name]:
            raise InvalidArgumentError(
                f"unknown input names {list(names)}: the model's input is {signature_input.name}")
        return tensor_to_images(tensors[0], budget)


def tensor_to_images(tensor: wire.Tensor, budget: RequestBudget) -> np.ndarray:
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
    shape = checked_shape(tensor.shape, where)
    budget.check_shape(shape, NUM_PIXELS, where)
    return pixels_to_images(raw_to_array(tensor.data, dtype, shape, where), where, budget)


def answer(call: HttpCall, spec: ModelSpec) -> HttpAnswer:
    """The answer to one GraphPipe request body (see the module doc)."""
    message = parse_request(call.body())
    if isinstance(message, wire.MetadataRequest):
        return HttpAnswer(wire.write_metadata_response(metadata(call.service, spec)), CONTENT_TYPE)
    request = call.inference_request(spec, GraphPipeInputs(message))
    outputs = infer(call.service, request, message.output_names)
    return HttpAnswer(wire.write_infer_response(outputs), CONTENT_TYPE)


def parse_request(body: bytes) -> wire.InferRequest | wire.MetadataRequest:
    """A GraphPipe ``Request`` body, or the refusal of bytes that are not one."""
    try:
        return wire.read_request(body)
    except wire.WireError as exc:
        raise InvalidArgumentError(f"the body is not a GraphPipe Request: {exc}") from None


def infer(service: InferenceBackend, request: InferenceRequest,
          output_names: Sequence[str]) -> list[np.ndarray]:
    """The output tensors the request names (default: the signature's), in the order it names them."""
    prediction = service.predict(request)
    names = list(output_names) or list(prediction.outputs)
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


def metadata(service: InferenceBackend, spec: ModelSpec) -> wire.MetadataResponse:
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


def metadata_json(service: InferenceBackend, spec: ModelSpec) -> dict[str, Any]:
    """The same metadata as JSON (GraphPipe's reference servers answer a GET with it)."""
    result = metadata(service, spec)

    def io(item: wire.IOMetadata) -> dict[str, Any]:
        return {"name": item.name, "description": item.description, "shape": list(item.shape),
                "type": wire.TensorType(item.type).name.capitalize()}

    return {"name": result.name, "version": result.version, "server": result.server,
            "description": result.description, "inputs": [io(i) for i in result.inputs],
            "outputs": [io(o) for o in result.outputs]}


def model_request(call: HttpCall, name: str, version: int | None = None) -> HttpAnswer:
    """One GraphPipe Request (infer or metadata) for the model."""
    return answer(call, ModelSpec(name, version))


def model_metadata(call: HttpCall, name: str, version: int | None = None) -> HttpAnswer:
    """The model's GraphPipe metadata as JSON."""
    return HttpAnswer(json_bytes(metadata_json(call.service, ModelSpec(name, version))))


def port_request(call: HttpCall, path: str = "") -> HttpAnswer:
    """A GraphPipe Request on the GraphPipe port: for the default model, whatever the path."""
    return answer(call, ModelSpec(call.settings["MODEL_NAME"]))


def port_metadata(call: HttpCall, path: str = "") -> HttpAnswer:
    return HttpAnswer(json_bytes(metadata_json(call.service, ModelSpec(call.settings["MODEL_NAME"]))))


def is_alive(call: HttpCall) -> HttpAnswer:
    return HttpAnswer(b"ok\n", "text/plain")


def is_ready(call: HttpCall) -> HttpAnswer:
    if call.front_end.readiness(call.settings["MODEL_NAME"]).ready:
        return HttpAnswer(b"ok\n", "text/plain")
    return HttpAnswer(b"not ready\n", "text/plain", 503)


MODELS = ("/graphpipe/<model:name>", "/graphpipe/<model:name>/versions/<int:version>")

ROUTES = RouteGroup("graphpipe", PROTOCOL, GRAPHPIPE, (
    *(Route(model, ("POST",), model_request) for model in MODELS),
    *(Route(model, ("GET",), model_metadata, refusal=JSON) for model in MODELS),
))

PORT_ROUTES = RouteGroup("graphpipe_port", PROTOCOL, GRAPHPIPE, (
    Route("/control/is_alive", ("GET",), is_alive, refusal=JSON, probe=True),
    Route("/control/is_ready", ("GET",), is_ready, refusal=JSON, probe=True),
    Route("/", ("POST",), port_request),
    Route("/<path:path>", ("POST",), port_request),
    Route("/", ("GET",), port_metadata, refusal=JSON),
    Route("/<path:path>", ("GET",), port_metadata, refusal=JSON),
))
