"""The tensor protocols of ``eval-serving`` and ``throughput``: GraphPipe and the Open Inference Protocol.

Endpoints: ``http://host:port/graphpipe/<model>`` (or any path on a GraphPipe port, named with
``--format graphpipe``), ``http://host:port/v2/models/<model>[/versions/<v>]`` (V2 REST) and
``grpc://host:port/v2/models/<model>[/versions/<v>]`` (V2 gRPC). Requests are made by the protocols'
own clients: GraphPipe's ``convert`` (``pip install --no-deps graphpipe==1.0.4``), tritonclient's
``generate_request_body`` and gRPC messages (``tritonclient[http]``); answers are read back into class
ids. The payload kind keeps its meaning across protocols: ``json`` is the blog's pixels/255 (float64,
as numpy gives them, for GraphPipe; JSON tensors for V2), ``npy`` binary float32 tensors, ``b64``
binary uint8 pixels.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from emnist_contract.signatures import INPUT_KEY, SCORES_KEY
from emnist_contract.tensors import NUM_PIXELS, pixels_to_unit

V2_HEADER = "Inference-Header-Content-Length"
GRPC_INFER = "/inference.GRPCInferenceService/ModelInfer"
#: gRPC status -> the HTTP status a REST server gives it (so the reports count them alike).
HTTP_OF_GRPC = {"INVALID_ARGUMENT": 400, "NOT_FOUND": 404, "RESOURCE_EXHAUSTED": 429, "UNAVAILABLE": 503,
                "DEADLINE_EXCEEDED": 504, "UNIMPLEMENTED": 501, "FAILED_PRECONDITION": 412}


class ProtocolError(RuntimeError):
    """An answer that is not the prediction asked for, or a protocol client that is not installed."""


class EndpointError(RuntimeError):
    """An endpoint that cannot be reached or answers something that is not a prediction."""


@dataclass(frozen=True)
class Request:
    """A request body ready to send, with its media type and any protocol headers."""

    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def v2_model(url: str) -> tuple[str, str]:
    """(model, version) of a ``.../v2/models/<model>[/versions/<v>][/infer]`` URL."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    try:
        start = parts.index("models", parts.index("v2"))
        model = parts[start + 1]
    except (ValueError, IndexError):
        raise ValueError(f"{url}: expected .../v2/models/<model>[/versions/<v>]") from None
    rest = parts[start + 2:]
    version = rest[1] if len(rest) >= 2 and rest[0] == "versions" else ""
    return model, version


def v2_infer_path(url: str) -> str:
    model, version = v2_model(url)
    return f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"


def _pixels(images: np.ndarray, payload: str) -> np.ndarray:
    rows = np.asarray(images, dtype=np.uint8).reshape(len(images), NUM_PIXELS)
    if payload == "b64":
        return rows
    unit = pixels_to_unit(rows)
    return unit.astype(np.float64) if payload == "json" else unit


def graphpipe_request(images: np.ndarray, payload: str) -> Request:
    try:
        from graphpipe import convert
    except ImportError:
        raise ProtocolError("GraphPipe endpoints need GraphPipe's client: "
                            "pip install --no-deps graphpipe==1.0.4") from None
    body = convert.serialize_infer_request(convert.InferReq(None, [_pixels(images, payload)], None, None))
    return Request(bytes(body), "application/octet-stream")


def v2_rest_request(images: np.ndarray, payload: str) -> Request:
    try:
        import tritonclient.http as httpclient
    except ImportError:
        raise ProtocolError("V2 endpoints need Triton's client: pip install 'tritonclient[http]'") from None
    x = _pixels(images, payload)
    binary = payload != "json"
    datatype = "UINT8" if x.dtype == np.uint8 else "FP32"
    tensor = httpclient.InferInput(INPUT_KEY, list(x.shape), datatype)
    tensor.set_data_from_numpy(x.astype(np.float32) if datatype == "FP32" else x, binary_data=binary)
    wanted = [httpclient.InferRequestedOutput(SCORES_KEY, binary_data=binary)]
    body, json_size = httpclient.InferenceServerClient.generate_request_body([tensor], outputs=wanted)
    headers = {} if json_size is None else {V2_HEADER: str(json_size)}
    return Request(body, "application/octet-stream" if binary else "application/json", headers)


def _v2_messages() -> Any:
    try:
        from tritonclient.grpc import service_pb2
    except ImportError:
        raise ProtocolError("V2 gRPC endpoints need Triton's client: pip install 'tritonclient[http]' "
                            "(its gRPC module runs on the installed grpcio and protobuf)") from None
    return service_pb2


def v2_grpc_request(images: np.ndarray, payload: str, url: str) -> Request:
    pb = _v2_messages()
    x = _pixels(images, payload)
    model, version = v2_model(url)
    request = pb.ModelInferRequest(model_name=model, model_version=version)
    request.inputs.add(name=INPUT_KEY, datatype="UINT8" if x.dtype == np.uint8 else "FP32", shape=x.shape)
    request.outputs.add(name=SCORES_KEY)
    request.raw_input_contents.append((x if x.dtype == np.uint8 else x.astype("<f4")).tobytes())
    return Request(request.SerializeToString(), "application/grpc")


def v2_scores(body: bytes) -> np.ndarray:
    """The scores of a V2 answer: a gRPC ModelInferResponse, or REST JSON (binary outputs after it)."""
    if not body.startswith(b"{"):
        response = _v2_messages().ModelInferResponse.FromString(body)
        for index, output in enumerate(response.outputs):
            if output.name == SCORES_KEY and index < len(response.raw_output_contents):
                return np.frombuffer(response.raw_output_contents[index], "<f4").reshape(tuple(output.shape))
        raise ProtocolError(f"gRPC answer has no raw '{SCORES_KEY}' output")
    # The JSON header's end is found by parsing it (Inference-Header-Content-Length says the same).
    header, end = json.JSONDecoder().raw_decode(body.decode("latin-1"))
    offset = end
    for output in header.get("outputs", []):
        size = (output.get("parameters") or {}).get("binary_data_size")
        if output.get("name") == SCORES_KEY:
            if size is None:
                return np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])
            return np.frombuffer(body[offset:offset + size], "<f4").reshape(output["shape"])
        offset += size or 0
    raise ProtocolError(f"answer has no '{SCORES_KEY}' output: {body[:160]!r}")


def graphpipe_scores(body: bytes) -> np.ndarray:
    from graphpipe import convert

    tensors, errors = convert.deserialize_infer_response(body)
    if errors:
        raise ProtocolError(f"GraphPipe error: {errors[0]['message'].decode('utf-8', 'replace')}")
    if not tensors:
        raise ProtocolError("GraphPipe answer holds no tensor")
    return tensors[0]


def graphpipe_error(body: bytes) -> str | None:
    """The message of a GraphPipe error answer (None when the body is not one)."""
    try:
        from graphpipe import convert

        _, errors = convert.deserialize_infer_response(body)
    except Exception:  # any undecodable body (or no GraphPipe client): not a GraphPipe error
        return None
    return errors[0]["message"].decode("utf-8", "replace") if errors else None


class GrpcConnection:
    """One long-lived gRPC channel posting serialized requests to one method (V2's ModelInfer by default,
    TF Serving's Predict for ``model_tools.client.tfserving_grpc``)."""

    def __init__(self, url: str, timeout: float = 30.0, method: str = GRPC_INFER) -> None:
        import grpc

        self.url, self.timeout = url, timeout
        split = urlsplit(url)
        self.target = f"{split.hostname}:{split.port or 8500}"
        self._grpc = grpc
        self._channel = grpc.insecure_channel(self.target)
        self._call = self._channel.unary_unary(method)  # bytes in, bytes out

    def post(self, body: bytes, content_type: str = "", accept: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        """(status, answer, seconds): 200 and the response bytes, or the status a REST server would give."""
        started = time.perf_counter()
        try:
            answer = self._call(body, timeout=self.timeout)
        except self._grpc.RpcError as exc:
            code = exc.code()
            if code in (self._grpc.StatusCode.UNAVAILABLE, self._grpc.StatusCode.DEADLINE_EXCEEDED):
                reason = f"gRPC {code.name}: {exc.details()}"
                raise EndpointError(f"cannot reach {self.target}: {reason}") from None
            message = json.dumps({"error": f"gRPC {code.name}: {exc.details()}"}).encode()
            return HTTP_OF_GRPC.get(code.name, 500), message, time.perf_counter() - started
        return 200, answer, time.perf_counter() - started

    def close(self) -> None:
        self._channel.close()
