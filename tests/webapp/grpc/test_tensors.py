"""TensorProto <-> numpy without TensorFlow, checked against TensorFlow's own tensor_util (the reader is
the serving core's, the writer the gRPC front end's)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from serving_core.errors import InvalidArgumentError
from serving_core.payloads.limits import ServerLimits
from serving_core.payloads.tensor_protos import tensor_to_array
from webapp.grpc.tensors import array_to_tensor

LIMITS = ServerLimits(max_instances=8, max_image_pixels=1_000_000).budget()


@pytest.fixture(scope="module")
def tf():
    import tensorflow

    return tensorflow


ARRAYS = [
    np.random.default_rng(0).random((3, 784), dtype=np.float32),
    np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28),
    np.array([[1.5, -2.25]], dtype=np.float64),
    np.array([7, -3, 2**40], dtype=np.int64),
    np.array([[-128, 127]], dtype=np.int8),
    np.array([1, 65535], dtype=np.uint16),
    np.array([0.5, -1.0], dtype=np.float16),
    np.array([True, False]),
    np.array([b"tf.Example bytes", b""], dtype=object),
    (np.arange(6).reshape(2, 3) / 7).astype(">f4"),  # big-endian arrays are answered little-endian
    np.array([-5, 2**40], dtype=">i8"),
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_tensorflows_protos_decode_as_tensorflow_reads_them(tf, array):
    """tf.make_tensor_proto writes tensor_content (numbers) or string_val: read as tf.make_ndarray reads."""
    proto = tf.make_tensor_proto(array)
    decoded = tensor_to_array(proto, LIMITS)
    expected = tf.make_ndarray(proto)
    assert decoded.shape == expected.shape
    if array.dtype == object:
        assert decoded.tolist() == expected.tolist()
    else:
        assert decoded.dtype == expected.dtype
        np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_our_answers_read_back_with_tensorflow(tf, array):
    proto = array_to_tensor(array)
    read = tf.make_ndarray(proto)
    assert read.shape == array.shape
    if array.dtype == object:
        assert read.tolist() == array.tolist()
    else:
        np.testing.assert_array_equal(read, array)
    if array.dtype != object:
        assert proto.tensor_content == array.astype(array.dtype.newbyteorder("<")).tobytes()


def test_typed_fields_follow_tensorflows_fill_rule(tf):
    """float_val and int_val as TensorFlow reads them: one value repeated, none as zeros."""
    from tensorflow.core.framework import tensor_pb2, types_pb2

    cases = []
    full = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[0.25] * 6)
    one = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[0.5])
    none = tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT8)
    pixels = tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT8, int_val=[0, 17, 255, 3, 4, 5])
    for proto in (full, one, none, pixels):
        proto.tensor_shape.dim.add(size=2)
        proto.tensor_shape.dim.add(size=3)
        cases.append(proto)
    for proto in cases:
        decoded = tensor_to_array(proto, LIMITS)
        expected = tf.make_ndarray(proto)
        assert decoded.dtype == expected.dtype
        np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize(("fields", "message"), [
    ({"dtype": 1, "tensor_content": b"\x00" * 12, "dims": [2, 2]}, "tensor_content of 12 bytes"),
    ({"dtype": 1, "float_val": [1.0, 2.0, 3.0], "dims": [2]}, "3 values do not fit the shape [2]"),
    ({"dtype": 4, "int_val": [300], "dims": [1]}, "int_val values must lie in [0, 255]"),
    ({"dtype": 18, "dims": [1]}, "DT_COMPLEX128 are not accepted"),
    ({"dtype": 7, "tensor_content": b"abc", "dims": [1]}, "holds its values in string_val"),
])
def test_malformed_tensors_are_refused_with_their_reason(fields, message):
    from tensorflow.core.framework import tensor_pb2

    dims = fields.pop("dims")
    proto = tensor_pb2.TensorProto(**fields)
    for size in dims:
        proto.tensor_shape.dim.add(size=size)
    with pytest.raises(InvalidArgumentError, match=f"^input: .*{re.escape(message)}"):
        tensor_to_array(proto, LIMITS)


def test_float32_tensor_content_reaches_the_model_as_a_view_of_the_request():
    """The fast case: float32 [N,784] tensor_content is read in place (np.frombuffer on the field's bytes),
    and PredictInputs hands that read-only view on as the model's input: no copy of the pixels."""
    from serving_core.request import SignatureInput
    from tf_serving_protos.tensorflow_serving.apis import predict_pb2
    from webapp.grpc.inputs import PredictInputs

    images = np.random.default_rng(1).random((8, 784), dtype=np.float32)
    proto = array_to_tensor(images)
    decoded = tensor_to_array(proto, LIMITS)
    assert not decoded.flags.owndata and not decoded.flags.writeable
    np.testing.assert_array_equal(decoded, images)
    request = predict_pb2.PredictRequest()
    request.inputs["images"].CopyFrom(proto)
    fed = PredictInputs(request).tensor(SignatureInput("images", "DT_FLOAT"), LIMITS)
    assert fed.dtype == np.float32 and not fed.flags.writeable  # a copy would be writeable
    np.testing.assert_array_equal(fed, images)
