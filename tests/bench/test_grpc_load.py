"""bench/grpc_load.py's request bodies: length-prefixed PredictRequests of real images (its cells run in
run_bench's quick mode, tests/bench/test_bench_scripts.py)."""

from __future__ import annotations

import numpy as np

from tests.support.paths import REPO


def test_request_bodies_are_length_prefixed_predict_requests(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "bench"))  # the script's own folder, as when it runs
    from grpc_load import grpc_frame, predict_request, validation_images
    from tensorflow_serving.apis import predict_pb2

    images = validation_images(3)
    frame = grpc_frame(predict_request(images).SerializeToString())
    assert frame[0] == 0 and int.from_bytes(frame[1:5], "big") == len(frame) - 5
    decoded = predict_pb2.PredictRequest.FromString(frame[5:])
    tensor = decoded.inputs["images"]
    assert [d.size for d in tensor.tensor_shape.dim] == [3, 784]
    with np.load(REPO / "data" / "validation.npz") as data:
        expected = data["images"][:3].reshape(3, 784) / 255.0
    sent = np.frombuffer(tensor.tensor_content, "<f4").reshape(3, 784)
    np.testing.assert_allclose(sent, expected, atol=1e-6)
