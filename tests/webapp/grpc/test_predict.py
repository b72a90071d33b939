"""PredictionService.Predict with the stock tensorflow-serving-api stubs: every tensor encoding TF Serving
accepts, the answer's model spec, and every refusal with its status code and TF Serving's message."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2

from tests.support.paths import SERVED_MODEL, served_version_dir

DT_FLOAT, DT_INT32, DT_UINT8, DT_STRING = 1, 3, 4, 7
SERVED_VERSION = int(served_version_dir().name)


def tensor(array: np.ndarray, dtype: int = DT_FLOAT, field: str = "tensor_content", shape=None):
    """A TensorProto built by hand (numpy only), as a client without TensorFlow builds it."""
    from tensorflow.core.framework import tensor_pb2

    proto = tensor_pb2.TensorProto(dtype=dtype)
    for size in array.shape if shape is None else shape:
        proto.tensor_shape.dim.add(size=size)
    if field == "tensor_content":
        proto.tensor_content = array.tobytes()
    else:
        getattr(proto, field).extend(array.reshape(-1).tolist())
    return proto


def request(inputs: dict, name: str = SERVED_MODEL, signature: str = "", version: int | None = None,
            label: str | None = None, output_filter: tuple[str, ...] = ()):
    message = predict_pb2.PredictRequest()
    message.model_spec.name = name
    message.model_spec.signature_name = signature
    if version is not None:
        message.model_spec.version.value = version
    if label is not None:
        message.model_spec.version_label = label
    for key, value in inputs.items():
        message.inputs[key].CopyFrom(value)
    message.output_filter.extend(output_filter)
    return message


def read(proto) -> np.ndarray:
    """An answer tensor read with numpy alone (the server answers tensor_content)."""
    dtypes = {DT_FLOAT: "<f4", 9: "<i8"}
    shape = [d.size for d in proto.tensor_shape.dim]
    return np.frombuffer(proto.tensor_content, dtypes[proto.dtype]).reshape(shape)


@pytest.fixture(scope="module")
def pixels(validation_images) -> np.ndarray:
    images, _ = validation_images
    return images[:6]  # uint8 [6,28,28]


@pytest.mark.parametrize("encoding", [
    "float32 tensor_content [N,784]", "float32 tensor_content [N,28,28]", "float32 float_val [N,784]",
    "uint8 int_val [N,28,28]", "uint8 tensor_content [N,784]",
])
def test_predict_accepts_tf_servings_encodings(prediction, onnx_reference, pixels, encoding):
    unit = pixels.astype(np.float32) / 255.0
    inputs = {
        "float32 tensor_content [N,784]": tensor(unit.reshape(-1, 784)),
        "float32 tensor_content [N,28,28]": tensor(unit),
        "float32 float_val [N,784]": tensor(unit.reshape(-1, 784), field="float_val"),
        "uint8 int_val [N,28,28]": tensor(pixels, DT_UINT8, "int_val"),
        "uint8 tensor_content [N,784]": tensor(pixels.reshape(-1, 784), DT_UINT8),
    }[encoding]
    response = prediction.Predict(request({"images": inputs}), 10.0)
    assert response.model_spec.name == SERVED_MODEL
    assert response.model_spec.version.value == SERVED_VERSION
    assert response.model_spec.signature_name == "serving_default"
    assert list(response.outputs) == ["scores"]
    scores = read(response.outputs["scores"])
    assert scores.shape == (len(pixels), 62)
    np.testing.assert_allclose(scores, onnx_reference(unit.reshape(-1, 784)), rtol=1e-5, atol=1e-6)


def test_the_largest_request_is_answered_for_every_image(prediction, onnx_reference, validation_images):
    """MAX_INSTANCES float32 images in one Predict (3.2 MB: many HTTP/2 frames and flow-control windows):
    every row is answered, in tensor_content that TensorFlow's own tf.make_ndarray reads."""
    import tensorflow as tf

    images, _ = validation_images
    unit = np.resize(images.reshape(-1, 784), (1024, 784)).astype(np.float32) / 255  # MAX_INSTANCES
    response = prediction.Predict(request({"images": tensor(unit)}), 30.0)
    answer = response.outputs["scores"]
    assert answer.tensor_content and not answer.float_val
    scores = tf.make_ndarray(answer)
    assert scores.shape == (1024, 62) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, onnx_reference(unit), rtol=1e-5, atol=1e-6)


def test_the_answer_names_the_version_asked_for(prediction, pixels):
    images = tensor(pixels.reshape(-1, 784).astype(np.float32) / 255)
    response = prediction.Predict(request({"images": images}, version=SERVED_VERSION), 10.0)
    assert response.model_spec.version.value == SERVED_VERSION


def test_predict_images_signature_answers_classes_and_scores(prediction, onnx_reference, pixels):
    unit = pixels.reshape(-1, 784).astype(np.float32) / 255
    response = prediction.Predict(request({"images": tensor(unit)}, signature="predict_images"), 10.0)
    assert response.model_spec.signature_name == "predict_images"
    assert sorted(response.outputs) == ["classes", "scores"]
    expected = onnx_reference(unit)
    np.testing.assert_array_equal(read(response.outputs["classes"]), expected.argmax(axis=1))
    filtered = prediction.Predict(
        request({"images": tensor(unit)}, signature="predict_images", output_filter=("classes",)), 10.0)
    assert list(filtered.outputs) == ["classes"]


def rejection(prediction, message) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        prediction.Predict(message, 10.0)
    return caught.value


IMAGES = np.full((2, 784), 0.5, dtype=np.float32)


@pytest.mark.parametrize(("message", "code", "details"), [
    (request({"images": tensor(IMAGES)}, name="nope"), grpc.StatusCode.NOT_FOUND,
     "Servable not found for request: Latest(nope)"),
    (request({"images": tensor(IMAGES)}, version=99), grpc.StatusCode.NOT_FOUND,
     "Servable not found for request: Specific(emnist, 99)"),
    (request({"images": tensor(IMAGES)}, label="canary"), grpc.StatusCode.INVALID_ARGUMENT,
     "Unrecognized servable version label: canary"),
    (request({"images": tensor(IMAGES)}, signature="nope"), grpc.StatusCode.INVALID_ARGUMENT,
     'Serving signature name: "nope" not found in signature def'),
    (request({"pixels": tensor(IMAGES)}), grpc.StatusCode.INVALID_ARGUMENT,
     "input tensor alias not found in signature: pixels. Inputs expected to be in the set {images}."),
    (request({"images": tensor(IMAGES), "extra": tensor(IMAGES)}), grpc.StatusCode.INVALID_ARGUMENT,
     "input size does not match signature: 2!=1 len({extra,images}) != len({images}). Sent extra: {extra}. "
     "Missing but required: {}."),
    (request({}), grpc.StatusCode.INVALID_ARGUMENT,
     "input size does not match signature: 0!=1 len({}) != len({images}). Sent extra: {}. Missing but "
     "required: {images}."),
    (request({"images": tensor(np.zeros((2, 100), np.float32))}), grpc.StatusCode.INVALID_ARGUMENT,
     "input images: shape [2, 100] does not hold images of 784 pixels: send [N,784], [N,28,28] or "
     "[N,1,784]"),
    (request({"images": tensor(np.zeros((0, 784), np.float32))}), grpc.StatusCode.INVALID_ARGUMENT,
     "No values in 'instances' array"),
    (request({"images": tensor(np.zeros((1, 784), np.int32), DT_INT32)}), grpc.StatusCode.INVALID_ARGUMENT,
     "input images: tensors of int32 are not accepted: send pixels/255 as floats"),
    (request({"images": tensor(np.full((1, 784), np.nan, np.float32))}), grpc.StatusCode.INVALID_ARGUMENT,
     "inputs contain NaN or infinite values"),
    (request({"images": tensor(IMAGES[:, :10], shape=(2, 784))}), grpc.StatusCode.INVALID_ARGUMENT,
     "input images: tensor_content of 80 bytes does not hold shape [2, 784] of DT_FLOAT (6272 bytes)"),
    (request({"images": tensor(np.array([b"x"], dtype=object), DT_STRING, "string_val")}),
     grpc.StatusCode.INVALID_ARGUMENT, "input images: tensors of object are not accepted"),
    (request({"images": tensor(np.zeros((1025, 784), np.float32))}), grpc.StatusCode.INVALID_ARGUMENT,
     "1025 instances in one request is over the limit MAX_INSTANCES=1024"),
    (request({"images": tensor(IMAGES)}, signature="predict_images", output_filter=("labels",)),
     grpc.StatusCode.INVALID_ARGUMENT,
     "output tensor alias not found in signature: labels Outputs expected to be in the set "
     "{classes,scores}."),
])
def test_refusals_have_tf_servings_codes_and_messages(prediction, message, code, details):
    error = rejection(prediction, message)
    assert error.code() == code
    assert error.details().startswith(details), error.details()


def test_a_request_without_model_spec_is_refused(prediction):
    message = predict_pb2.PredictRequest()
    message.inputs["images"].CopyFrom(tensor(IMAGES))
    error = rejection(prediction, message)
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")


def declared(dtype: int, shape: tuple[int, ...], **fields):
    """A tiny TensorProto declaring a shape its values do not fill (TensorFlow's fill rule would)."""
    from tensorflow.core.framework import tensor_pb2

    proto = tensor_pb2.TensorProto(dtype=dtype, **fields)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


#: The issue's messages: a few dozen bytes that declare hundreds of MB to TiB.
DECLARED_HUGE = [
    (declared(DT_FLOAT, (250_000, 784), float_val=[0.5]), "250000 instances in one request is over the limit "
     "MAX_INSTANCES=1024"),
    (declared(DT_UINT8, (1_000_000, 784), int_val=[7]), "1000000 instances in one request is over the limit "
     "MAX_INSTANCES=1024"),
    (declared(DT_FLOAT, (2**31, 784), float_val=[0.5]), "2147483648 instances in one request is over the "
     "limit MAX_INSTANCES=1024"),
    (declared(DT_FLOAT, (2**40, 2**40)), "input images: shape [1099511627776, 1099511627776] "
     "(1208925819614629174706176 values) is over the limit MAX_INSTANCES=1024"),
]


@pytest.mark.parametrize(("proto", "details"), DECLARED_HUGE, ids=["250000x784", "uint8", "2**31", "2**40"])
def test_declared_shapes_over_the_limit_are_invalid_argument_not_internal(prediction, proto, details):
    error = rejection(prediction, request({"images": proto}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(details), error.details()


@pytest.mark.parametrize(("proto", "details"), DECLARED_HUGE, ids=["250000x784", "uint8", "2**31", "2**40"])
def test_declared_shapes_are_refused_before_anything_of_their_size_is_allocated(proto, details):
    """The decode of a 43-byte message must not allocate the 784 MB its shape declares (it took a worker
    from 737 to 2,227 MB of RSS): tracemalloc's peak stays within a few MB."""
    import tracemalloc

    from serving_core.errors import InvalidArgumentError
    from serving_core.payloads.limits import ServerLimits
    from serving_core.request import SignatureInput
    from webapp.grpc.inputs import PredictInputs

    inputs = PredictInputs(request({"images": proto}))
    budget = ServerLimits(max_instances=1024, max_image_pixels=1).budget()
    tracemalloc.start()
    try:
        with pytest.raises(InvalidArgumentError, match="MAX_INSTANCES=1024"):
            inputs.tensor(SignatureInput("images", "DT_FLOAT"), budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{peak} bytes allocated to refuse a {proto.ByteSize()}-byte tensor"


def test_a_bad_tf_example_for_the_classify_signature_is_refused_in_the_servers_words(prediction):
    """Checked before any engine parses it (TensorFlow's graph answered with its own error text; this
    server's onnxruntime engine with a refusal of the signature)."""
    proto = tensor(np.array([b"\x0a\x03abc"], dtype=object), DT_STRING, "string_val")
    error = rejection(prediction, request({"inputs": proto}, signature="classify"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "example 0: not a serialized tf.Example"
