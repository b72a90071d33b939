"""The Open Inference Protocol ("V2": KServe, Triton, MLServer) over the inference service.

What its REST (``webapp.http.v2_rest``) and gRPC (``webapp.grpc.v2_servicer``) front ends share: model
specs from the protocol's string versions, server and model metadata, readiness, and inference on
decoded tensors. The front ends only parse their transport's messages into ``InputTensor`` and write
``OutputTensor`` back. The model's one input is its default signature's (``images``); it takes any
tensor holding N images of 784 pixels (FP32/FP64/FP16 pixels/255 or UINT8 0-255; [N,784], [N,28,28],
[N,1,784]), and the answer holds the outputs asked for (default: all of the signature's).
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emnist_contract.signatures import DEFAULT_SIGNATURE
from emnist_contract.tensors import NUM_PIXELS
from serving_core.errors import InvalidArgumentError, ModelNotFoundError, ServingError
from serving_core.payloads.limits import RequestBudget
from serving_core.payloads.typed_tensors import checked_shape, pixels_to_images, raw_to_array, values_to_array
from serving_core.request import InferenceRequest, ModelSpec, SignatureInput
from serving_core.service import InferenceBackend, ServedVersion
from webapp.server_info import SERVER_NAME, server_version

#: The protocol's tensor data types and their numpy element types (BYTES has none: variable length).
DTYPE_OF_DATATYPE = {
    "BOOL": np.dtype(np.bool_), "UINT8": np.dtype(np.uint8), "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64), "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16), "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64),
}
DATATYPE_OF_DTYPE = {dtype: name for name, dtype in DTYPE_OF_DATATYPE.items()}
#: Our signatures' TensorFlow dtypes as the protocol's data types.
DATATYPE_OF_TF_DTYPE = {
    "DT_FLOAT": "FP32", "DT_DOUBLE": "FP64", "DT_HALF": "FP16", "DT_UINT8": "UINT8", "DT_INT8": "INT8",
    "DT_INT32": "INT32", "DT_INT64": "INT64", "DT_BOOL": "BOOL", "DT_STRING": "BYTES",
}
#: The protocol's platform names ("<project>_<format>") for our engines.
PLATFORM_OF_ENGINE = {"tensorflow": "tensorflow_savedmodel", "onnxruntime": "onnx_onnxv1"}
#: The extensions the REST front end implements (the server metadata lists them).
REST_EXTENSIONS = ("binary_tensor_data",)
_SHARED_MEMORY = "the shared memory extension: send the tensor's data"
#: Parameters of other servers' extensions that this server does not implement: refused, not ignored.
UNSUPPORTED_PARAMETERS = {
    "shared_memory_region": _SHARED_MEMORY,
    "shared_memory_byte_size": _SHARED_MEMORY,
    "shared_memory_offset": _SHARED_MEMORY,
    "classification": "the classification extension: ask for the scores",
}


@dataclass(frozen=True)
class InputTensor:
    """One request input as the transport gave it: elements as raw bytes or as a list of numbers."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    raw: bytes | memoryview | None = None
    values: Any = None


@dataclass(frozen=True)
class OutputTensor:
    name: str
    datatype: str
    array: np.ndarray


@dataclass(frozen=True)
class InferResult:
    model: ServedVersion
    outputs: list[OutputTensor]


def model_spec(name: str, version: str = "") -> ModelSpec:
    """The protocol's (name, version string): "" is the latest, digits a version, anything else a label."""
    if not version:
        return ModelSpec(name)
    if version.isdigit():
        return ModelSpec(name, int(version))
    return ModelSpec(name, label=version)


def check_parameters(parameters: Container[str], where: str) -> None:
    """Refuse the parameters of an extension this server does not implement (a request's, an input's or an
    output's; a JSON object or a protobuf map), with the same message on REST and gRPC."""
    for key, extension in UNSUPPORTED_PARAMETERS.items():
        if key in parameters:
            raise InvalidArgumentError(
                f"{where}: parameter '{key}' is not supported: this server does not implement {extension}")


def server_metadata(extensions: Sequence[str]) -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": server_version(), "extensions": list(extensions)}


def server_ready(service: InferenceBackend) -> bool:
    """Every configured model loaded and answering (the REST ``/readyz`` question, for each model)."""
    names = service.model_names()
    return bool(names) and all(service.readiness(name).ready for name in names)


def model_ready(service: InferenceBackend, spec: ModelSpec) -> bool:
    """The latest version answers a prediction, or the version asked for is AVAILABLE."""
    if spec.version is None and spec.label is None:
        return service.readiness(spec.name).ready
    try:
        return any(entry["state"] == "AVAILABLE" for entry in service.status(spec))
    except ServingError:
        return False


def _shape(info: dict[str, Any]) -> list[int]:
    return [int(dim.get("size", -1)) for dim in info.get("tensor_shape", {}).get("dim", [])]


def _tensors(tensors: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "datatype": DATATYPE_OF_TF_DTYPE.get(info.get("dtype"), "BYTES"),
             "shape": _shape(info)} for name, info in tensors.items()]


def model_metadata(service: InferenceBackend, spec: ModelSpec) -> dict[str, Any]:
    """Name, the versions that can be asked for, platform, and the default signature's tensors."""
    result = service.metadata(spec)
    signature = result.signature_defs["signature_def"].get(DEFAULT_SIGNATURE)
    if signature is None:
        raise ModelNotFoundError(f"model {spec.name} has no {DEFAULT_SIGNATURE} signature")
    available = [entry["version"] for entry in service.status(ModelSpec(spec.name))
                 if entry["state"] == "AVAILABLE"]
    return {
        "name": result.model.name,
        "versions": available,
        "platform": PLATFORM_OF_ENGINE.get(result.model.engine, result.model.engine),
        "inputs": _tensors(signature.get("inputs", {})),
        "outputs": _tensors(signature.get("outputs", {})),
    }


def decode_input(tensor: InputTensor, budget: RequestBudget) -> np.ndarray:
    """An input tensor of pixels -> float32 [N,784]; its shape is checked against the limits first."""
    where = f"input '{tensor.name}'"
    dtype = DTYPE_OF_DATATYPE.get(tensor.datatype)
    if dtype is None:
        raise InvalidArgumentError(
            f"{where}: datatype {tensor.datatype!r} is not accepted: send FP32 (or FP16/FP64) pixels/255 "
            "or UINT8 pixels 0-255")
    shape = checked_shape(tensor.shape, where)
    budget.check_shape(shape, NUM_PIXELS, where)
    if tensor.raw is not None:
        array = raw_to_array(tensor.raw, dtype, shape, where)
    else:
        array = values_to_array(tensor.values, dtype, shape, where)
    return pixels_to_images(array, where, budget)


class TensorInputs:
    """The request's input tensors, decoded once the service has pinned a version (its signature's input)."""

    def __init__(self, inputs: Sequence[InputTensor]) -> None:
        self.inputs = inputs

    def signature_name(self) -> str:
        return DEFAULT_SIGNATURE

    def tensor(self, signature_input: SignatureInput, budget: RequestBudget) -> np.ndarray:
        names = [tensor.name for tensor in self.inputs]
        if len(self.inputs) != 1:
            raise InvalidArgumentError(
                f"expected 1 input ({signature_input.name}) but got {len(self.inputs)} inputs {names}")
        if names[0] != signature_input.name:
            raise InvalidArgumentError(
                f"unexpected inference input '{names[0]}': the model's input is '{signature_input.name}'")
        return decode_input(self.inputs[0], budget)


def infer(service: InferenceBackend, request: InferenceRequest, requested: Sequence[str] = ()) -> InferResult:
    """Run the default signature on the request (its inputs: ``TensorInputs``); answer the outputs
    requested (default: all, in the signature's order)."""
    if len(set(requested)) != len(requested):
        raise InvalidArgumentError(f"outputs {list(requested)} name an output more than once")
    prediction = service.predict(request)
    names = list(requested) or list(prediction.outputs)
    unknown = [name for name in names if name not in prediction.outputs]
    if unknown:
        raise InvalidArgumentError(
            f"unexpected inference output '{unknown[0]}': the model's outputs are {list(prediction.outputs)}")
    outputs = []
    for name in names:
        array = np.ascontiguousarray(prediction.outputs[name])
        datatype = DATATYPE_OF_DTYPE.get(array.dtype.newbyteorder("="))
        if datatype is None:
            raise InvalidArgumentError(f"output '{name}' of dtype {array.dtype} has no datatype here")
        outputs.append(OutputTensor(name, datatype, array))
    return InferResult(prediction.model, outputs)
