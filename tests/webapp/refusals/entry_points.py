"""Every entry point as a client sees it: a payload encoded in the protocol's bytes, the refusal read back.

HTTP goes over real sockets with ``requests``; gRPC with the stock stubs (``tensorflow_serving.apis``, and
the Open Inference Protocol's stubs); GraphPipe with flatbuffers built and read through GraphPipe's own
generated modules. Nothing here calls the server's code: only its wire protocols.
"""

from __future__ import annotations

import base64
import io
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import grpc
import numpy as np
import requests
from graphpipe import convert
from graphpipe.graphpipefb import InferRequest, Request, Tensor
from graphpipe.graphpipefb.Req import Req
from graphpipe.graphpipefb.Type import Type
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_service_pb2_grpc

from tests.support.paths import SERVED_MODEL
from tests.webapp.refusals.deployments import Deployment
from tests.webapp.refusals.expected import CLASSIFY_SIGNATURE
from tests.webapp.refusals.payloads import DeclaredShape, Examples, ImageFiles, Payload, Pixels

INPUT = "images"
#: The input of the classify signature (serialized tf.Example records), as TF Serving's exports name it.
CLASSIFY_INPUT = "inputs"


@dataclass(frozen=True)
class Answer:
    """What came back: the HTTP status (or the gRPC code's name), the error message ("" when answered),
    and for GraphPipe the code inside its Error."""

    status: int | str
    message: str
    graphpipe_code: int | None = None


NO_IMAGE_FILES = "takes pixel tensors, not image files"
NO_SIGNATURE = "names no signature"
JSON_NO_DTYPE = "JSON numbers carry no dtype"
JSON_NO_SHAPE = "JSON rows declare no shape"
JSON_NO_NAN = "JSON has no NaN"
NO_EXAMPLES = "runs serving_default only: no tf.Example input"


@dataclass
class EntryPoint(ABC):
    """One way into the server. ``cannot_carry``: the cases whose input the protocol cannot express."""

    name: str
    protocol: str  # "http" or "grpc"
    family: str = "predict"  # "classify" for TF Serving's Classification API
    cannot_carry: dict[str, str] = field(default_factory=dict)

    @abstractmethod
    def send(self, deployment: Deployment, payload: Payload, timeout: float) -> Answer:
        """Send ``payload`` the protocol's way; the answer, or what stood for one (no answer in time)."""


def _b64(data: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(data).decode("ascii")}


def _rows(payload: Pixels) -> list[Any]:
    """TF Serving JSON rows: numbers, or raw float32 bytes in b64 where JSON cannot hold the values."""
    array = payload.array
    if np.isfinite(array).all():
        return array.tolist()
    return [_b64(row.astype("<f4").tobytes()) for row in array]


def _serialized_examples(payload: Examples) -> list[bytes]:
    return [example.SerializeToString() for example in _examples(payload)]


def _examples(payload: Examples) -> list[Any]:
    examples = []
    for row in payload.rows:
        example = example_pb2.Example()
        example.features.feature[INPUT].float_list.value.extend(row.tolist())
        examples.append(example)
    return examples


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _declared_npy(payload: DeclaredShape) -> bytes:
    """A .npy file whose header declares ``payload.shape`` and whose data is one float32 value."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False,
                                                  "shape": payload.shape})
    return buffer.getvalue() + np.float32(payload.value).tobytes()


# --- HTTP ------------------------------------------------------------------------------------------------


def _post(url: str, timeout: float, **kwargs: Any) -> requests.Response | Answer:
    try:
        return requests.post(url, timeout=timeout, **kwargs)
    except requests.Timeout:
        return Answer(f"no answer within {timeout:g} s", "")


def _json_answer(response: requests.Response | Answer) -> Answer:
    if isinstance(response, Answer):
        return response
    if response.status_code == 200:
        return Answer(200, "")
    try:
        message = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        message = f"<not a JSON error: {response.content[:120]!r}>"
    return Answer(response.status_code, message)


@dataclass
class HttpEntryPoint(EntryPoint):
    protocol: str = "http"
    #: Which of the deployment's servers (a ``Deployment`` field) and the path on it.
    server: str = "fast_url"
    path: str = ""

    def url(self, deployment: Deployment) -> str:
        return getattr(deployment, self.server) + self.path


JSON_CANNOT_CARRY = {"wrong_dtype": JSON_NO_DTYPE, "declared_huge_shape": JSON_NO_SHAPE}


@dataclass
class TfServingJson(HttpEntryPoint):
    """``:predict`` and ``/predict`` with a JSON body: ``instances`` rows or ``{"b64": ...}`` files."""

    path: str = f"/v1/models/{SERVED_MODEL}:predict"
    cannot_carry: dict[str, str] = field(default_factory=lambda: dict(JSON_CANNOT_CARRY))

    def send(self, deployment: Deployment, payload: Payload, timeout: float) -> Answer:
        if isinstance(payload, ImageFiles):
            body: dict[str, Any] = {"instances": [_b64(file) for file in payload.files]}
        elif isinstance(payload, Examples):
            body = {"signature_name": CLASSIFY_SIGNATURE,
                    "instances": [_b64(example) for example in _serialized_examples(payload)]}
        else:
            body = {"instances": _rows(payload)}
            if payload.signature:
                body["signature_name"] = payload.signature
        return _json_answer(_post(self.url(deployment), timeout, json=body))


@dataclass
class TfServingClassify(HttpEntryPoint):
    """``:classify``: ``examples`` whose ``images`` feature holds pixels or ``{"b64": <image file>}``."""

    family: str = "classify"
    path: str = f"/v1/models/{SERVED_MODEL}:classify"
    cannot_carry: dict[str, str] = field(default_factory=lambda: dict(JSON_CANNOT_CARRY))

    def send(self, deployment: Deployment, payload: Payload, timeout: float) -> Answer:
        if isinstance(payload, ImageFiles):
            body: dict[str, Any] = {"examples": [{INPUT: _b64(file)} for file in payload.files]}
        elif isinstance(payload, Examples):
            body = {"examples": [{INPUT: row} for row in payload.rows.tolist()]}
        else:
            body = {"examples": [{INPUT: row} for row in _rows(payload)]}
            if payload.signature:
                body["signature_name"] = payload.signature
        return _json_answer(_post(self.url(deployment), timeout, json=body))


@dataclass
class Multipart(HttpEntryPoint):
    """``/predict`` with a multipart upload: the image files, or one ``.npy`` file of the tensor."""

    path: str = "/predict"
    cannot_carry: dict[str, str] = field(
        default_factory=lambda: {"unknown_signature": f"a multipart upload {NO_SIGNATURE}",
                                 "bad_example": f"/predict {NO_EXAMPLES}"})

    def send(self, deployment: Deployment, payload: Payload, timeout: float) -> Answer:
        if isinstance(payload, ImageFiles):
            files = [("image", (f"c{i}.png", file, "image/png")) for i, file in enumerate(payload.files)]
        elif isinstance(payload, DeclaredShape):
            files = [("image", ("x.npy", _declared_npy(payload), "application/octet-stream"))]
        else:
            files = [("image", ("x.npy", _npy(payload.array), "application/octet-stream"))]
        return _json_answer(_post(self.url(deployment), timeout, files=files))


V2_DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int32): "INT32"}
NO_FILES_CANNOT_CARRY = {"too_many_image_files": NO_IMAGE_FILES, "too_many_pixels": NO_IMAGE_FILES}
TENSOR_CANNOT_CARRY = {**NO_FILES_CANNOT_CARRY, "bad_example": NO_EXAMPLES}


def _v2_tensor(payload: Pixels | DeclaredShape) -> tuple[dict[str, Any], bytes]:
    """(the input's JSON without its data, its raw little-endian bytes)."""
    if isinstance(payload, DeclaredShape):
        return ({"name": INPUT, "datatype": "FP32", "shape": list(payload.shape)},
                np.float32(payload.value).tobytes())
    array = payload.array
    return ({"name": INPUT, "datatype": V2_DATATYPES[array.dtype], "shape": list(array.shape)},
            array.astype(array.dtype.newbyteorder("<")).tobytes())


@dataclass
class V2RestJson(HttpEntryPoint):
    """The Open Inference Protocol's REST ``.../infer`` with the tensor's data in JSON."""

    path: str = f"/v2/models/{SERVED_MODEL}/infer"
    cannot_carry: dict[str, str] = field(default_factory=lambda: {
        **TENSOR_CANNOT_CARRY, "unknown_signature": f"the V2 protocol {NO_SIGNATURE}", "nan": JSON_NO_NAN})

    def send(self, deployment: Deployment, payload: Payload, timeout: float) -> Answer:
        assert isinstance(payload, Pixels | DeclaredShape)
        tensor, _ = _v2_tensor(payload)
        if isinstance(payload, DeclaredShape):
            tensor["data"] = [payload.value]
        else:
            tensor["data"] = payload.array.reshape(-1).tolist()
        return _json_answer(_post(self.url(deployment), timeout, json={"inputs": [tensor]}))


@dataclass
class V2RestBinary(HttpEntryPoint):
    """The same route with the binary tensor data extension: the tensor's bytes after the JSON."""

    path: str = f"/v2/models/{SERVED_MODEL}/infer"
    cannot_carry: dict[str, str] = field(default_factory=lambda: {
        **TENSOR_CANNOT_CARRY, "unknown_signature": f"the V2 protocol {NO_SIGNATURE}"})

    def send(self, deployment: Deployment, payload: Payload, timeout: float) -> Answer:
        assert isinstance(payload, Pixels | DeclaredShape)
        tensor, raw = _v2_tensor(payload)
        tensor["parameters"] = {"binary_data_size": len(raw)}
        header = json.dumps({"inputs": [tensor]}).encode()
        return _json_answer(_post(self.url(deployment), timeout, data=header + raw, headers={
            "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}))


GRAPHPIPE_TYPES = {np.dtype(np.float32): Type.Float32, np.dtype(np.int32): Type.Int32}


def graphpipe_request(kind: int, shape: tuple[int, ...], data: bytes) -> bytes:
    """A GraphPipe ``Request`` holding an ``InferRequest`` of one tensor (type, shape, raw data as given)."""
    builder = flatbuffers.Builder(len(data) + 1024)
    Tensor.TensorStartShapeVector(builder, len(shape))
    for size in reversed(shape):
        builder.PrependInt64(size)
    shape_vector = builder.EndVector(len(shape))
    data_vector = builder.CreateByteVector(data)
    Tensor.TensorStart(builder)
    Tensor.TensorAddType(builder, kind)
    Tensor.TensorAddShape(builder, shape_vector)
    Tensor.TensorAddData(builder, data_vector)
    tensor = Tensor.TensorEnd(builder)
    InferRequest.InferRequestStartInputTensorsVector(builder, 1)
    builder.PrependUOffsetTRelative(tensor)
    tensors = builder.EndVector(1)
    InferRequest.InferRequestStart(builder)
    InferRequest.InferRequestAddInputTensors(builder, tensors)
    infer = InferRequest.InferRequestEnd(builder)
    Request.RequestStart(builder)
    Request.RequestAddReqType(builder, Req.InferRequest)
    Request.RequestAddReq(builder, infer)
    builder.Finish(Request.RequestEnd(builder))
    return bytes(builder.Output())


def _graphpipe_answer(response: requests.Response | Answer) -> Answer:
    """The error inside a GraphPipe ``InferResponse`` (anything else is reported as not GraphPipe)."""
    if isinstance(response, Answer):
        return response
    if response.headers.get("Content-Type", "").startswith("application/octet-stream"):
        try:
            _, errors = convert.deserialize_infer_response(response.content)
        except Exception as exc:  # any failure of the flatbuffers reader: not an InferResponse
            errors, failure = None, exc
        if errors is not None:
            if not errors:
                return Answer(response.status_code, "")
            message = errors[0]["message"]
            message = message.decode() if isinstance(message, bytes) else str(message)
            return Answer(response.status_code, message, errors[0]["code"])
        return Answer(response.status_code, f"<not a GraphPipe InferResponse: {failure}>")
    kind, head = response.headers.get("Content-Type"), response.content[:120]
    return Answer(response.status_code, f"<not a GraphPipe InferResponse ({kind}): {head!r}>")


@dataclass
class GraphPipe(HttpEntryPoint):
    """GraphPipe: POST /graphpipe/<model> on the REST port, or any path on the GraphPipe port."""

    path: str = f"/graphpipe/{SERVED_MODEL}"
    cannot_carry: dict[str, str] = field(default_factory=lambda: {
        **TENSOR_CANNOT_CARRY, "unknown_signature": f"GraphPipe {NO_SIGNATURE}"})

    def send(self, deployment: Deployment, payload: Payload, timeout: float) -> Answer:
        if isinstance(payload, DeclaredShape):
            body = graphpipe_request(Type.Float32, payload.shape, np.float32(payload.value).tobytes())
        else:
            assert isinstance(payload, Pixels)
            array = payload.array
            body = graphpipe_request(GRAPHPIPE_TYPES[array.dtype], array.shape,
                                     array.astype(array.dtype.newbyteorder("<")).tobytes())
        return _graphpipe_answer(_post(self.url(deployment), timeout, data=body))


# --- gRPC ------------------------------------------------------------------------------------------------


def _grpc_answer(call: Any, request: Any, timeout: float) -> Answer:
    try:
        call(request, timeout=timeout)
    except grpc.RpcError as error:
        return Answer(error.code().name, error.details() or "")
    return Answer(grpc.StatusCode.OK.name, "")


TF_DTYPES = {np.dtype(np.float32): types_pb2.DT_FLOAT, np.dtype(np.int32): types_pb2.DT_INT32}


@dataclass
class TfServingGrpcPredict(EntryPoint):
    """TF Serving's gRPC Predict, the input as a TensorProto (``tensor_content``, or one ``float_val``)."""

    protocol: str = "grpc"
    cannot_carry: dict[str, str] = field(default_factory=lambda: dict(NO_FILES_CANNOT_CARRY))

    def send(self, deployment: Deployment, payload: Payload, timeout: float) -> Answer:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = SERVED_MODEL
        tensor = request.inputs[CLASSIFY_INPUT if isinstance(payload, Examples) else INPUT]
        if isinstance(payload, DeclaredShape):
            tensor.dtype = types_pb2.DT_FLOAT
            tensor.float_val.append(payload.value)  # TensorFlow's rule: the last value fills the shape
            shape = payload.shape
        elif isinstance(payload, Examples):
            request.model_spec.signature_name = CLASSIFY_SIGNATURE
            tensor.dtype = types_pb2.DT_STRING
            tensor.string_val.extend(_serialized_examples(payload))
            shape = (len(payload.rows),)
        else:
            assert isinstance(payload, Pixels)
            request.model_spec.signature_name = payload.signature
            tensor.dtype = TF_DTYPES[payload.array.dtype]
            tensor.tensor_content = payload.array.astype(payload.array.dtype.newbyteorder("<")).tobytes()
            shape = payload.array.shape
        for size in shape:
            tensor.tensor_shape.dim.add(size=size)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(deployment.channel)
        return _grpc_answer(stub.Predict, request, timeout)


@dataclass
class TfServingGrpcClassify(EntryPoint):
    """TF Serving's gRPC Classify: one tf.Example per image, ``images`` a float_list or a bytes_list file."""

    protocol: str = "grpc"
    family: str = "classify"
    cannot_carry: dict[str, str] = field(default_factory=lambda: {
        "wrong_dtype": "tf.Example pixels are a float_list: no dtype to choose",
        "declared_huge_shape": "tf.Example lists declare no shape"})

    def send(self, deployment: Deployment, payload: Payload, timeout: float) -> Answer:
        request = classification_pb2.ClassificationRequest()
        request.model_spec.name = SERVED_MODEL
        examples = request.input.example_list.examples
        if isinstance(payload, ImageFiles):
            for file in payload.files:
                examples.add().features.feature[INPUT].bytes_list.value.append(file)
        elif isinstance(payload, Examples):
            examples.extend(_examples(payload))
        else:
            assert isinstance(payload, Pixels)
            request.model_spec.signature_name = payload.signature
            for row in payload.array:
                examples.add().features.feature[INPUT].float_list.value.extend(row.tolist())
        stub = prediction_service_pb2_grpc.PredictionServiceStub(deployment.channel)
        return _grpc_answer(stub.Classify, request, timeout)


@dataclass
class V2Grpc(EntryPoint):
    """The Open Inference Protocol's gRPC ModelInfer: ``raw_input_contents``, or one typed value."""

    protocol: str = "grpc"
    cannot_carry: dict[str, str] = field(default_factory=lambda: {
        **TENSOR_CANNOT_CARRY, "unknown_signature": f"the V2 protocol {NO_SIGNATURE}"})

    def send(self, deployment: Deployment, payload: Payload, timeout: float) -> Answer:
        from webapp.grpc.v2 import open_inference_grpc_pb2 as pb
        from webapp.grpc.v2 import open_inference_grpc_pb2_grpc as pb_grpc

        assert isinstance(payload, Pixels | DeclaredShape)
        tensor, raw = _v2_tensor(payload)
        request = pb.ModelInferRequest(model_name=SERVED_MODEL)
        request.inputs.add(name=INPUT, datatype=tensor["datatype"], shape=tensor["shape"])
        if isinstance(payload, DeclaredShape):
            request.inputs[0].contents.fp32_contents.append(payload.value)
        else:
            request.raw_input_contents.append(raw)
        return _grpc_answer(pb_grpc.GRPCInferenceServiceStub(deployment.channel).ModelInfer, request, timeout)


PREDICT_JSON_CANNOT_CARRY = {**JSON_CANNOT_CARRY, "bad_example": f"/predict {NO_EXAMPLES}"}

ENTRY_POINTS: tuple[EntryPoint, ...] = (
    TfServingJson("rest-predict-flask", server="flask_url"),
    TfServingJson("rest-predict-fast", server="fast_url"),
    TfServingClassify("rest-classify-flask", server="flask_url"),
    TfServingClassify("rest-classify-fast", server="fast_url"),
    TfServingJson("predict-json", path="/predict", cannot_carry=PREDICT_JSON_CANNOT_CARRY),
    Multipart("predict-multipart"),
    V2RestJson("v2-rest-json-flask", server="flask_url"),
    V2RestJson("v2-rest-json-fast", server="fast_url"),
    V2RestBinary("v2-rest-binary-flask", server="flask_url"),
    V2RestBinary("v2-rest-binary-fast", server="fast_url"),
    GraphPipe("graphpipe-route"),
    GraphPipe("graphpipe-port", server="graphpipe_port_url", path="/"),
    TfServingGrpcPredict("tfs-grpc-predict"),
    TfServingGrpcClassify("tfs-grpc-classify"),
    V2Grpc("v2-grpc-infer"),
    TfServingJson("remote-grpc-predict-json", server="remote_grpc_url", path="/predict",
                  cannot_carry=PREDICT_JSON_CANNOT_CARRY),
    TfServingJson("remote-grpc-rest-predict", server="remote_grpc_url"),
    TfServingJson("remote-http-predict-json", server="remote_http_url", path="/predict",
                  cannot_carry=PREDICT_JSON_CANNOT_CARRY),
    TfServingJson("remote-http-rest-predict", server="remote_http_url"),
)
