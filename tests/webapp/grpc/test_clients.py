"""The clients users run: TF Serving's own snippet (tf.make_tensor_proto) unchanged, and the numpy-only
client of docs/serving-protocols.md, both against a real gRPC server."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.support.paths import REPO, SERVED_MODEL, served_version_dir


@pytest.fixture(scope="module")
def images(validation_images) -> np.ndarray:
    pixels, _ = validation_images
    return pixels[:5].reshape(5, 784).astype(np.float32) / 255


@pytest.mark.parametrize("shape", [(5, 784), (5, 28, 28)])
def test_tf_servings_client_works_unchanged(served, onnx_reference, images, shape):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    x = images.reshape(shape)
    # The client, word for word (only the address is the test server's).
    channel = grpc.insecure_channel(served.target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "emnist"
    request.model_spec.signature_name = "serving_default"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(x, shape=x.shape))
    result = stub.Predict(request, 30.0)

    scores = tf.make_ndarray(result.outputs["scores"])
    np.testing.assert_allclose(scores, onnx_reference(images), rtol=1e-5, atol=1e-6)
    assert result.model_spec.name == SERVED_MODEL
    assert result.model_spec.version.value == int(served_version_dir().name)
    channel.close()


def docs_snippet(name: str) -> str:
    page = (REPO / "docs" / "serving-protocols.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- snippet: {name}\b.*?-->\n```python\n(.*?)```", page, re.S)
    assert match, f"docs/serving-protocols.md has no snippet {name}"
    return match.group(1)


def test_the_documented_numpy_only_client_works(served, onnx_reference, capsys):
    code = docs_snippet("grpc-numpy-client")
    assert "tensor_util" not in code and "make_tensor_proto" not in code
    namespace: dict = {}
    code = code.replace("127.0.0.1:8500", served.target)
    exec(compile(code, "docs/serving-protocols.md", "exec"), namespace)
    np.testing.assert_allclose(namespace["scores"], onnx_reference(namespace["x"]), rtol=1e-5, atol=1e-6)
    assert capsys.readouterr().out.startswith(f"{SERVED_MODEL} {served_version_dir().name} [")
    namespace["channel"].close()


def test_the_open_inference_protocol_shares_the_port(served, onnx_reference, images):
    """Triton's own gRPC client against the same server: V2's GRPCInferenceService beside TF Serving's."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(served.target)
    try:
        assert client.is_server_live() and client.is_model_ready(SERVED_MODEL)
        tensor = grpcclient.InferInput("images", list(images.shape), "FP32")
        tensor.set_data_from_numpy(images)
        scores = client.infer(SERVED_MODEL, [tensor]).as_numpy("scores")
    finally:
        client.close()
    np.testing.assert_allclose(scores, onnx_reference(images), rtol=1e-5, atol=1e-6)
