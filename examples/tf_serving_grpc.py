"""TensorFlow Serving's gRPC API with its stock stubs: ``PredictionService.Predict`` on port 8500.

Run against ``make run``: ``python examples/tf_serving_grpc.py`` (``--target`` or ``MODEL_SERVER_GRPC``
for another server). Needs ``tensorflow-serving-api``, which brings TensorFlow for its tensor protos and
``tf.make_tensor_proto``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from emnist_contract.labels import BYCLASS_LABELS

VALIDATION = Path(__file__).resolve().parents[1] / "data" / "validation.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=os.environ.get("MODEL_SERVER_GRPC", "127.0.0.1:8500"))
    parser.add_argument("--model", default="emnist")
    parser.add_argument("--count", type=int, default=8, help="validation images to send")
    args = parser.parse_args()

    # x: float32 [N, 784], pixels/255, upright, white ink on black (EMNIST's own images are already so).
    validation = np.load(VALIDATION)
    x = validation["images"][: args.count].reshape(args.count, 784).astype(np.float32) / 255
    expected = validation["labels"][: args.count]

    request = predict_pb2.PredictRequest()
    request.model_spec.name = args.model
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(x, shape=x.shape))
    with grpc.insecure_channel(args.target) as channel:
        try:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, 30.0)
        except grpc.RpcError as error:
            sys.exit(f"{error.code().name}: {error.details()}")
    scores = tf.make_ndarray(response.outputs["scores"])
    for index, (want, row) in enumerate(zip(expected, scores, strict=True)):
        print(f"image {index}: expected {BYCLASS_LABELS[want]}, answered {BYCLASS_LABELS[row.argmax()]} "
              f"({row.max():.2f})")


if __name__ == "__main__":
    main()
