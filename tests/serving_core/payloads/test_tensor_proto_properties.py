"""TensorProto decoding: whatever a message declares (dtype, huge, negative or overflowing dimensions,
tensor_content of any length, typed fields of any count), the decoder answers an array within the limits
or a ``ServingError``, and allocates only what the limits and the message's own bytes allow."""

from __future__ import annotations

import math

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from emnist_contract.tensors import NUM_PIXELS
from serving_core.errors import InvalidArgumentError
from serving_core.payloads import tensor_protos
from serving_core.payloads.tensor_protos import tensor_to_array
from tests.support.decoding import LIMITS, budget, decode_bounded, properties
from tf_serving_protos.tensorflow.core.framework import tensor_pb2, types_pb2

TensorProto = tensor_pb2.TensorProto
TYPED_FIELDS = {  # the typed field of each dtype, and a strategy for one of its wire values
    "float_val": st.floats(width=32, allow_nan=True),
    "double_val": st.floats(allow_nan=True),
    "int_val": st.integers(-2**31, 2**31 - 1),
    "half_val": st.integers(-2**31, 2**31 - 1),
    "int64_val": st.integers(-2**63, 2**63 - 1),
    "bool_val": st.booleans(),
    "uint32_val": st.integers(0, 2**32 - 1),
    "uint64_val": st.integers(0, 2**64 - 1),
    "string_val": st.binary(max_size=16),
}
DIMS = st.one_of(
    st.integers(0, 6),
    st.sampled_from([28, NUM_PIXELS, 785, 250_000, 1_000_000, 2**31, 2**40, 2**62, 2**63 - 1]),
    st.integers(-2**63, 2**63 - 1),
)


def proto(dtype: int, dims: list[int], **fields) -> object:
    message = TensorProto(dtype=dtype, **fields)
    for size in dims:
        message.tensor_shape.dim.add(size=size)
    return message


@st.composite
def tensor_protos_(draw) -> object:
    dtype = draw(st.one_of(st.sampled_from(sorted(types_pb2.DataType.values())), st.integers(-3, 200)))
    dims = draw(st.lists(DIMS, max_size=4))
    message = proto(dtype, dims)
    if draw(st.integers(0, 9)) == 0:
        message.tensor_shape.unknown_rank = True
    count = math.prod(dims) if all(d >= 0 for d in dims) else 0
    itemsize = tensor_protos.NUMERIC[dtype][0].itemsize if dtype in tensor_protos.NUMERIC else 4
    how = draw(st.sampled_from(["content", "exact content", "typed", "other typed", "none"]))
    if how == "content":
        message.tensor_content = draw(st.binary(max_size=64))
    elif how == "exact content" and 0 < count * itemsize <= 4 * NUM_PIXELS * 8:
        message.tensor_content = bytes(count * itemsize)
    elif how in ("typed", "other typed"):
        field = (tensor_protos.NUMERIC[dtype][1] if dtype in tensor_protos.NUMERIC and how == "typed"
                 else "string_val" if dtype == tensor_protos.DT_STRING and how == "typed"
                 else draw(st.sampled_from(sorted(TYPED_FIELDS))))
        value = draw(TYPED_FIELDS[field])
        repeat = draw(st.one_of(st.integers(0, 3), st.sampled_from([count, count - 1, count + 1])))
        getattr(message, field).extend([value] * max(0, min(repeat, 4 * NUM_PIXELS + 1)))
    return message


@properties(max_examples=2500)
@given(tensor_protos_())
def test_any_declared_tensor_decodes_within_the_limits_or_is_refused(message):
    size = message.ByteSize()
    array = decode_bounded(lambda: tensor_to_array(message, budget(), "input images"), size)
    if array is not None:
        per_instance = 1 if message.dtype == tensor_protos.DT_STRING else NUM_PIXELS
        assert array.size <= LIMITS.max_instances * per_instance
        assert list(array.shape) == [dim.size for dim in message.tensor_shape.dim]


@properties(max_examples=800)
@given(st.binary(max_size=200))
def test_any_bytes_parsed_as_a_tensor_proto(data):
    message = TensorProto()
    try:
        message.ParseFromString(data)
    except DecodeError:
        return
    decode_bounded(lambda: tensor_to_array(message, budget(), "input images"), len(data))


@pytest.mark.parametrize(("message", "refusal"), [
    (proto(tensor_protos.DT_FLOAT, [250_000, NUM_PIXELS], float_val=[0.5]),
     "250000 instances in one request is over the limit MAX_INSTANCES=4"),
    (proto(tensor_protos.DT_UINT8, [1_000_000, NUM_PIXELS], int_val=[7]),
     "1000000 instances in one request is over the limit MAX_INSTANCES=4"),
    (proto(tensor_protos.DT_FLOAT, [2**31, NUM_PIXELS], float_val=[0.5]),
     "2147483648 instances in one request is over the limit MAX_INSTANCES=4"),
    (proto(tensor_protos.DT_FLOAT, [2**40, 2**40]),
     "input images: shape [1099511627776, 1099511627776] (1208925819614629174706176 values) is over the "
     "limit MAX_INSTANCES=4: a request holds at most 4 x 784 values"),
    (proto(tensor_protos.DT_STRING, [5], string_val=[b"x"]),
     "5 instances in one request is over the limit MAX_INSTANCES=4"),
    (proto(tensor_protos.DT_HALF, [1], half_val=[70_000]),
     "input images: half_val values must lie in [0, 65535] for float16 bit patterns"),
])
def test_the_issues_tiny_messages_are_refused_before_their_declared_shape_is_allocated(message, refusal):
    """The messages of the issue (43 bytes declaring 784 MB, [2**31, 784], [2**40, 2**40]): refused
    naming the limit, with nothing of their declared size allocated."""
    def decode() -> None:
        with pytest.raises(InvalidArgumentError) as caught:
            tensor_to_array(message, budget(), "input images")
        assert str(caught.value).startswith(refusal), str(caught.value)

    decode_bounded(decode, message.ByteSize())


def test_the_fill_rule_applies_within_the_limits():
    """TensorFlow's rule once the shape is admitted: one value repeated, none as zeros."""
    one = tensor_to_array(proto(tensor_protos.DT_FLOAT, [2, NUM_PIXELS], float_val=[0.5]), budget())
    assert one.shape == (2, NUM_PIXELS) and (one == 0.5).all()
    none = tensor_to_array(proto(tensor_protos.DT_UINT8, [3, 28, 28]), budget())
    assert none.dtype == np.uint8 and none.shape == (3, 28, 28) and not none.any()
    strings = tensor_to_array(proto(tensor_protos.DT_STRING, [3], string_val=[b"a", b"b"]), budget())
    assert strings.tolist() == [b"a", b"b", b"b"]
