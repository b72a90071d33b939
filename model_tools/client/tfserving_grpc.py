"""TensorFlow Serving's gRPC API for ``eval-serving`` and ``throughput``: ``grpc://host:port/<model>``.

An endpoint ``grpc://host:port/<model>[/versions/<v>|/labels/<label>]`` is TF Serving's
``PredictionService/Predict`` (ours on port 8500, or a real TF Serving), asked with the stock
``tensorflow-serving-api`` messages; the payload kinds keep their meaning: ``json`` sends pixels/255 in
the typed ``float_val`` field (numbers, no binary), ``npy`` float32 ``tensor_content``, ``b64`` uint8
pixels as ``DT_UINT8`` ``tensor_content``. The answer's ``scores`` are read back into class ids.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from emnist_contract.signatures import INPUT_KEY, SCORES_KEY
from emnist_contract.tensors import NUM_PIXELS, pixels_to_unit
from model_tools.client.protocols import ProtocolError, Request

PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
_MODEL_PATH = re.compile(r"/(?P<model>[^/:]+)(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[^/:]+))?/?")
DT_FLOAT, DT_UINT8 = 1, 4


def is_tfserving_url(url: str) -> bool:
    """True for ``grpc://host:port/<model>[/versions/<v>|/labels/<label>]``."""
    split = urlsplit(url)
    return split.scheme == "grpc" and _MODEL_PATH.fullmatch(split.path) is not None


def model_spec(url: str) -> tuple[str, int | None, str | None]:
    """(model, version, label) of a TF Serving gRPC endpoint."""
    match = _MODEL_PATH.fullmatch(urlsplit(url).path)
    if match is None:
        raise ValueError(f"{url}: expected grpc://host:port/<model>[/versions/<v>|/labels/<label>]")
    version = match["version"]
    return match["model"], None if version is None else int(version), match["label"]


def _predict_pb2() -> Any:
    try:
        from tensorflow_serving.apis import predict_pb2
    except ImportError:
        raise ProtocolError("TF Serving gRPC endpoints need its client: pip install "
                            "tensorflow-serving-api (the serve extra has it)") from None
    return predict_pb2


def predict_request(images: np.ndarray, payload: str, url: str) -> Request:
    """uint8 [N,28,28] images -> a serialized ``PredictRequest`` for the endpoint's model spec."""
    rows = np.asarray(images, dtype=np.uint8).reshape(len(images), NUM_PIXELS)
    request = _predict_pb2().PredictRequest()
    name, version, label = model_spec(url)
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    elif label is not None:
        request.model_spec.version_label = label
    tensor = request.inputs[INPUT_KEY]
    tensor.tensor_shape.dim.add(size=len(rows))
    tensor.tensor_shape.dim.add(size=NUM_PIXELS)
    if payload == "b64":
        tensor.dtype = DT_UINT8
        tensor.tensor_content = rows.tobytes()
    else:
        tensor.dtype = DT_FLOAT
        unit = pixels_to_unit(rows)
        if payload == "json":
            tensor.float_val.extend(unit.reshape(-1).tolist())
        else:
            tensor.tensor_content = unit.astype("<f4").tobytes()
    return Request(request.SerializeToString(), "application/grpc")


def looks_like_response(body: bytes) -> bool:
    """A serialized PredictResponse starts with its outputs (field 1) or model_spec (field 2); JSON with
    ``{`` and a .npy answer with its magic."""
    return body[:1] in (b"\x0a", b"\x12")


def predict_scores(body: bytes) -> np.ndarray:
    """The ``scores`` output of a serialized PredictResponse (tensor_content or float_val)."""
    try:
        response = _predict_pb2().PredictResponse.FromString(body)
    except ProtocolError:
        raise
    except Exception as exc:  # protobuf's DecodeError
        raise ProtocolError(f"not a PredictResponse: {exc}") from None
    if SCORES_KEY not in response.outputs:
        raise ProtocolError(f"PredictResponse has no '{SCORES_KEY}' output: {sorted(response.outputs)}")
    tensor = response.outputs[SCORES_KEY]
    shape = tuple(dim.size for dim in tensor.tensor_shape.dim)
    if tensor.dtype != DT_FLOAT:
        raise ProtocolError(f"'{SCORES_KEY}' has dtype {tensor.dtype}, expected DT_FLOAT")
    if tensor.tensor_content:
        return np.frombuffer(tensor.tensor_content, "<f4").reshape(shape)
    return np.asarray(tensor.float_val, dtype=np.float32).reshape(shape)
