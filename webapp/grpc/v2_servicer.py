"""The Open Inference Protocol's gRPC service, ``inference.GRPCInferenceService``, over the serving core.

ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata and ModelInfer, translated to and from
``webapp.open_inference`` (the same answers as the REST front end). Inputs come as
``raw_input_contents`` (one little-endian buffer per input, the fast case Triton's client uses) or in the
typed ``contents`` fields; outputs are always answered in ``raw_output_contents``, which is what
Triton's client reads. Refusals abort with the canonical status of the ``ServingError`` (NOT_FOUND,
INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE) and its message; a request whose deadline has passed
is not run. ``add_to_server`` registers it on a ``grpc.Server`` the caller owns.
"""

from __future__ import annotations

import logging

import grpc
import numpy as np

from serving_core.errors import InvalidArgumentError
from serving_core.payloads.limits import ServerLimits
from serving_core.service import InferenceBackend
from webapp import open_inference
from webapp.grpc.calls import inference_request
from webapp.grpc.status import rpc
from webapp.grpc.v2 import open_inference_grpc_pb2 as pb
from webapp.grpc.v2 import open_inference_grpc_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

#: Which typed field of InferTensorContents holds each data type.
CONTENTS_FIELD = {
    "BOOL": "bool_contents", "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}
Context = grpc.ServicerContext
PROTOCOL = "v2-grpc"


def input_tensors(request: pb.ModelInferRequest) -> list[open_inference.InputTensor]:
    """The request's inputs, with their data from raw_input_contents or from the typed contents."""
    open_inference.check_parameters(request.parameters, "the request")
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidArgumentError(
            f"raw_input_contents holds {len(raw)} buffers for {len(request.inputs)} inputs: one per input")
    tensors = []
    for index, tensor in enumerate(request.inputs):
        where = f"input '{tensor.name}'"
        open_inference.check_parameters(tensor.parameters, where)
        shape = tuple(tensor.shape)
        if raw:
            if tensor.HasField("contents"):
                raise InvalidArgumentError(f"{where}: contents must not be set when raw_input_contents is")
            tensors.append(open_inference.InputTensor(tensor.name, tensor.datatype, shape, raw=raw[index]))
            continue
        field = CONTENTS_FIELD.get(tensor.datatype)
        if field is None:
            raise InvalidArgumentError(
                f"{where}: datatype {tensor.datatype!r} must be sent in raw_input_contents")
        values = np.asarray(getattr(tensor.contents, field))
        tensors.append(open_inference.InputTensor(tensor.name, tensor.datatype, shape, values=values))
    return tensors


def requested_outputs(request: pb.ModelInferRequest) -> list[str]:
    for output in request.outputs:
        open_inference.check_parameters(output.parameters, f"output '{output.name}'")
    return [output.name for output in request.outputs]


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """``inference.GRPCInferenceService`` on one inference service (see the module doc)."""

    def __init__(self, service: InferenceBackend, limits: ServerLimits) -> None:
        self.service = service
        self.limits = limits

    @rpc
    def ServerLive(self, request: pb.ServerLiveRequest, context: Context) -> pb.ServerLiveResponse:  # noqa: N802
        return pb.ServerLiveResponse(live=True)

    @rpc
    def ServerReady(self, request: pb.ServerReadyRequest, context: Context) -> pb.ServerReadyResponse:  # noqa: N802
        return pb.ServerReadyResponse(ready=open_inference.server_ready(self.service))

    @rpc
    def ModelReady(self, request: pb.ModelReadyRequest, context: Context) -> pb.ModelReadyResponse:  # noqa: N802
        spec = open_inference.model_spec(request.name, request.version)
        return pb.ModelReadyResponse(ready=open_inference.model_ready(self.service, spec))

    @rpc
    def ServerMetadata(self, request: pb.ServerMetadataRequest,  # noqa: N802
                       context: Context) -> pb.ServerMetadataResponse:
        # The REST extensions (binary tensor data) have no gRPC counterpart: raw contents are core here.
        return pb.ServerMetadataResponse(**open_inference.server_metadata(()))

    @rpc
    def ModelMetadata(self, request: pb.ModelMetadataRequest,  # noqa: N802
                      context: Context) -> pb.ModelMetadataResponse:
        spec = open_inference.model_spec(request.name, request.version)
        metadata = open_inference.model_metadata(self.service, spec)
        return pb.ModelMetadataResponse(
            name=metadata["name"], versions=metadata["versions"], platform=metadata["platform"],
            inputs=[pb.ModelMetadataResponse.TensorMetadata(**tensor) for tensor in metadata["inputs"]],
            outputs=[pb.ModelMetadataResponse.TensorMetadata(**tensor) for tensor in metadata["outputs"]],
        )

    @rpc
    def ModelInfer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:  # noqa: N802
        spec = open_inference.model_spec(request.model_name, request.model_version)
        inputs = open_inference.TensorInputs(input_tensors(request))
        call = inference_request(context, self.limits, spec, inputs, PROTOCOL, "ModelInfer")
        result = open_inference.infer(self.service, call, requested_outputs(request))
        response = pb.ModelInferResponse(
            model_name=result.model.name, model_version=str(result.model.version), id=request.id)
        for output in result.outputs:
            response.outputs.add(name=output.name, datatype=output.datatype, shape=output.array.shape)
            response.raw_output_contents.append(
                output.array.astype(output.array.dtype.newbyteorder("<"), copy=False).tobytes())
        return response


def add_to_server(server: grpc.Server, service: InferenceBackend, limits: ServerLimits) -> InferenceServicer:
    """Register ``inference.GRPCInferenceService`` on ``server`` (before it starts); returns the servicer."""
    servicer = InferenceServicer(service, limits)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
    return servicer
