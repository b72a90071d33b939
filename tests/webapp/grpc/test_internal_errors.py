"""An unexpected failure inside an RPC ends it INTERNAL with the one internal-error message: no
traceback, no path of the server's files, whichever service was called."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2

from emnist_contract.tensors import NUM_PIXELS
from serving_core.errors import INTERNAL_ERROR
from tests.support.paths import REPO, SERVED_MODEL
from webapp.grpc.v2 import open_inference_grpc_pb2 as v2_pb
from webapp.grpc.v2 import open_inference_grpc_pb2_grpc as v2_grpc


def predict_request() -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = SERVED_MODEL
    images = request.inputs["images"]
    images.dtype = types_pb2.DT_FLOAT
    images.tensor_shape.dim.add(size=1)
    images.tensor_shape.dim.add(size=NUM_PIXELS)
    images.tensor_content = np.zeros((1, NUM_PIXELS), np.float32).tobytes()
    return request


def v2_request() -> v2_pb.ModelInferRequest:
    request = v2_pb.ModelInferRequest(model_name=SERVED_MODEL)
    tensor = request.inputs.add(name="images", datatype="FP32", shape=[1, NUM_PIXELS])
    tensor.contents.fp32_contents.extend([0.0] * NUM_PIXELS)
    return request


def test_an_unexpected_error_shows_no_trace_or_path(served, channel, prediction, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError(f"disk failure in {REPO / 'serving_core' / 'service.py'}")

    monkeypatch.setattr(served.core.service, "predict", broken)
    calls = [(prediction.Predict, predict_request()),
             (v2_grpc.GRPCInferenceServiceStub(channel).ModelInfer, v2_request())]
    for method, request in calls:
        with pytest.raises(grpc.RpcError) as caught:
            method(request, timeout=30)
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        assert caught.value.details() == INTERNAL_ERROR
