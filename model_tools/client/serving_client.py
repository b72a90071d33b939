"""A small HTTP client for model servers: endpoints, request bodies, persistent connections, answers.

Shared by ``eval-serving`` (accuracy and latency, one image per request) and ``throughput`` (closed
loop load). It speaks TF Serving's REST predict contract (``POST .../v1/models/<name>:predict`` with
``{"instances": ...}``) and its gRPC API (``grpc://host:port/<model>``,
``model_tools.client.tfserving_grpc``), this app's ``POST /predict``, and GraphPipe and the Open
Inference Protocol (REST and gRPC, ``model_tools.client.protocols``), so the same run can compare this
app, a real TF Serving and any other server that speaks one of them. ``http.client`` rather than
``requests``: one persistent connection per worker and much less client CPU per request, which
matters when client and server share the machine's cores.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

from emnist_contract.signatures import CLASSES_KEY, SCORES_KEY
from emnist_contract.tensors import PIXEL_MAX
from model_tools.client import protocols, tfserving_grpc
from model_tools.client.protocols import EndpointError

#: Request body kinds: the blog's JSON of pixels/255, TF Serving's ``{"b64": ...}`` of raw uint8
#: pixels (one per instance), and an ``application/octet-stream`` ``.npy`` body of uint8 images.
PAYLOADS = ("json", "b64", "npy")
FORMATS = ("tfserving", "predict", "graphpipe", "v2")
CONTENT_TYPES = {"json": "application/json", "b64": "application/json", "npy": "application/octet-stream"}
#: Answer kinds: TF Serving's JSON, or (this app, ``Accept: application/x-npy``) a .npy of the scores.
ANSWERS = ("json", "npy")
ACCEPT_TYPES = {"json": None, "npy": "application/x-npy"}
NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class Endpoint:
    """One deployment to measure: a display name and its predict URL."""

    name: str
    url: str
    format: str

    @property
    def parts(self) -> tuple[str, str, int, str]:
        """(scheme, host, port, path with query)."""
        split = urlsplit(self.url)
        port = split.port or (443 if split.scheme == "https" else 80)
        path = split.path or "/"
        if split.query:
            path += "?" + split.query
        return split.scheme, split.hostname or "", port, path


def guess_format(url: str) -> str:
    """``tfserving`` for ``...:predict`` URLs (TF Serving's REST API), ``graphpipe`` for ``/graphpipe/``,
    ``v2`` for ``/v2/models/`` (the Open Inference Protocol), ``predict`` for the app's /predict."""
    path = urlsplit(url).path
    if "/graphpipe/" in path:
        return "graphpipe"
    if "/v2/models/" in path:
        return "v2"
    return "tfserving" if path.endswith(":predict") or "/v1/models/" in path else "predict"


def parse_endpoint(text: str, default_format: str | None = None) -> Endpoint:
    """``NAME=URL`` (or a bare URL, named after its host and port) -> Endpoint; clear errors otherwise."""
    name, sep, url = text.partition("=")
    if not sep or "://" in name:
        name, url = "", text
    url = url.strip()
    split = urlsplit(url)
    grpc_v2 = split.scheme == "grpc" and "/v2/models/" in split.path
    grpc_tfserving = not grpc_v2 and tfserving_grpc.is_tfserving_url(url)
    if not (split.scheme in ("http", "https") or grpc_v2 or grpc_tfserving) or not split.hostname:
        raise ValueError(f"endpoint {text!r}: expected NAME=http://host:port/path, e.g. "
                         "app=http://127.0.0.1:8000/v1/models/emnist:predict, NAME=grpc://host:port/<model> "
                         "(TF Serving's gRPC API), or NAME=grpc://host:port/v2/models/<model> (the Open "
                         "Inference Protocol)")
    try:
        split.port  # noqa: B018 - validates the port number
    except ValueError as exc:
        raise ValueError(f"endpoint {text!r}: {exc}") from None
    if default_format is not None and default_format not in FORMATS:
        raise ValueError(f"unknown format {default_format!r}: expected one of {', '.join(FORMATS)}")
    fmt = "v2" if grpc_v2 else "tfserving" if grpc_tfserving else default_format or guess_format(url)
    default_name = f"{split.hostname}:{split.port or 80}{split.path}"
    return Endpoint(name=name.strip() or default_name, url=url, format=fmt)


def parse_endpoints(texts: list[str], default_format: str | None = None) -> list[Endpoint]:
    endpoints = [parse_endpoint(text, default_format) for text in texts]
    names = [endpoint.name for endpoint in endpoints]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"endpoint names must be unique, repeated: {', '.join(duplicates)}")
    return endpoints


def encode_payload(images: np.ndarray, payload: str) -> tuple[bytes, str]:
    """uint8 [N,28,28] images -> (request body, content type) in the chosen payload kind."""
    images = np.asarray(images, dtype=np.uint8)
    rows = images.reshape(len(images), -1)
    if payload == "json":
        # The blog's client: pixels/255 as Python floats, ``json.dumps({"instances": x.tolist()})``.
        body = json.dumps({"instances": (rows / PIXEL_MAX).tolist()}).encode()  # float64, as the blog's
    elif payload == "b64":
        instances = [{"b64": base64.b64encode(row.tobytes()).decode("ascii")} for row in rows]
        body = json.dumps({"instances": instances}).encode()
    elif payload == "npy":
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(images), allow_pickle=False)
        body = buffer.getvalue()
    else:
        raise ValueError(f"unknown payload {payload!r}: expected one of {', '.join(PAYLOADS)}")
    return body, CONTENT_TYPES[payload]


def encode_request(endpoint: Endpoint, images: np.ndarray, payload: str) -> protocols.Request:
    """uint8 [N,28,28] images -> the request the endpoint's protocol takes, in the chosen payload kind."""
    if payload not in PAYLOADS:
        raise ValueError(f"unknown payload {payload!r}: expected one of {', '.join(PAYLOADS)}")
    if endpoint.format == "graphpipe":
        return protocols.graphpipe_request(images, payload)
    if endpoint.format == "v2":
        if endpoint.url.startswith("grpc://"):
            return protocols.v2_grpc_request(images, payload, endpoint.url)
        return protocols.v2_rest_request(images, payload)
    if endpoint.url.startswith("grpc://"):
        return tfserving_grpc.predict_request(images, payload, endpoint.url)
    return protocols.Request(*encode_payload(images, payload))


def open_connection(endpoint: Endpoint, timeout: float = 30.0) -> Connection | protocols.GrpcConnection:
    """A persistent connection to the endpoint: HTTP keep-alive, or a gRPC channel."""
    if endpoint.url.startswith("grpc://"):
        method = protocols.GRPC_INFER if endpoint.format == "v2" else tfserving_grpc.PREDICT_METHOD
        return protocols.GrpcConnection(endpoint.url, timeout, method)
    return Connection(endpoint, timeout)


def _scores_classes(scores: np.ndarray, count: int) -> np.ndarray:
    if scores.ndim != 2 or len(scores) != count:
        raise EndpointError(f"answer has scores of shape {list(scores.shape)}, expected [{count}, classes]")
    return scores.argmax(axis=1)


def predicted_classes(body: bytes, fmt: str, count: int) -> np.ndarray:
    """Class ids [count] from a predict answer (TF Serving ``predictions`` or the app's ``results``).

    Accepts rows of scores, TF Serving's multi-output rows ``{"scores": [...], "classes": k}``, a
    ``.npy`` answer of scores [count, classes], and GraphPipe's and V2's answers.
    """
    if fmt in ("graphpipe", "v2"):
        try:
            scores = protocols.graphpipe_scores(body) if fmt == "graphpipe" else protocols.v2_scores(body)
        except (protocols.ProtocolError, ValueError, KeyError, TypeError) as exc:
            raise EndpointError(f"not a {fmt} prediction: {exc}") from None
        return _scores_classes(np.asarray(scores), count)
    if body.startswith(NPY_MAGIC):
        return _npy_classes(body, count)
    if fmt == "tfserving" and tfserving_grpc.looks_like_response(body):
        try:
            scores = tfserving_grpc.predict_scores(body)
        except protocols.ProtocolError as exc:
            raise EndpointError(f"not a TF Serving gRPC prediction: {exc}") from None
        return _scores_classes(scores, count)
    try:
        answer = json.loads(body)
    except ValueError as exc:
        raise EndpointError(f"answer is not JSON: {exc}: {body[:120]!r}") from None
    if not isinstance(answer, dict):
        raise EndpointError(f"answer is not a JSON object: {body[:120]!r}")
    if fmt == "predict" and isinstance(answer.get("results"), list):
        results = answer["results"]
        if len(results) == count and all(isinstance(r, dict) and "class_id" in r for r in results):
            return np.array([int(r["class_id"]) for r in results], dtype=np.int64)
    rows = answer.get("predictions", answer.get("outputs"))
    if isinstance(rows, dict):  # columnar answer with named outputs
        rows = rows.get(SCORES_KEY, rows.get("probabilities"))
    if not isinstance(rows, list) or len(rows) != count:
        raise EndpointError(f"answer has no {count} predictions: {body[:160]!r}")
    if rows and isinstance(rows[0], dict):
        first = rows[0]
        key = next((k for k in (SCORES_KEY, "probabilities", "predictions") if k in first), None)
        if key is not None:
            rows = [row[key] for row in rows]
        elif CLASSES_KEY in first:
            return np.array([int(row[CLASSES_KEY]) for row in rows], dtype=np.int64)
        else:
            raise EndpointError(f"prediction rows have no scores: keys {sorted(first)}")
    try:
        scores = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise EndpointError(f"predictions are not rows of scores: {body[:160]!r}") from None
    if scores.ndim != 2:
        raise EndpointError(f"predictions have shape {list(scores.shape)}, expected [N, classes]")
    return scores.argmax(axis=1)


def _npy_classes(body: bytes, count: int) -> np.ndarray:
    try:
        scores = np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise EndpointError(f"answer is not a readable .npy array: {exc}") from None
    if scores.ndim != 2 or len(scores) != count:
        raise EndpointError(f".npy answer has shape {list(scores.shape)}, expected [{count}, classes]")
    return scores.argmax(axis=1)


def error_message(status: int, body: bytes) -> str:
    """``HTTP 400: <TF Serving's "error" text>`` (a GraphPipe Error's message, or the start of the body)."""
    try:
        answer = json.loads(body)
        text = answer.get("error") if isinstance(answer, dict) else None
    except ValueError:
        text = protocols.graphpipe_error(body)
    if not text:
        text = body[:200].decode("utf-8", "replace").strip() or http.client.responses.get(status, "")
    return f"HTTP {status}: {text}"


class Connection:
    """One persistent (keep-alive) HTTP connection to an endpoint; reconnects after a failure."""

    def __init__(self, endpoint: Endpoint, timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.scheme, self.host, self.port, self.path = endpoint.parts
        if endpoint.format == "v2":
            self.path = protocols.v2_infer_path(endpoint.url)
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            factory = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            self._connection = factory(self.host, self.port, timeout=self.timeout)
        return self._connection

    def post(self, body: bytes, content_type: str, accept: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        """(status, answer body, seconds). Raises EndpointError when the server cannot be reached."""
        headers = {**(headers or {}), "Content-Type": content_type, "Content-Length": str(len(body))}
        if accept:
            headers["Accept"] = accept
        for attempt in (0, 1):
            connection = self._connect()
            started = time.perf_counter()
            try:
                connection.request("POST", self.path, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                # A kept-alive connection the server closed meanwhile: retry once on a fresh one.
                self.close()
                if attempt:
                    raise EndpointError(f"{self.endpoint.name}: connection lost: {exc}") from None
                continue
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                reason = "timed out" if isinstance(exc, socket.timeout | TimeoutError) else str(exc)
                raise EndpointError(f"cannot reach {self.endpoint.name} at {self.endpoint.url}: {reason}") \
                    from None
            elapsed = time.perf_counter() - started
            if response.will_close:
                self.close()
            return response.status, answer, elapsed
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def latency_summary(latencies_ms: np.ndarray) -> dict[str, float]:
    """mean, p50, p90, p99 and max of latencies in milliseconds (NaN when there are none)."""
    values = np.asarray(latencies_ms, dtype=np.float64)
    if values.size == 0:
        return {key: float("nan") for key in ("mean", "p50", "p90", "p99", "max")}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"mean": float(values.mean()), "p50": float(p50), "p90": float(p90), "p99": float(p99),
            "max": float(values.max())}
