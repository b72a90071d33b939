"""GraphPipe's flatbuffers requests: truncated tables, offsets out of range, shapes of any int64 and data
of any length decode to images within the limits or are refused with a ``ServingError``, within bounded
memory (the wire reader's own WireError becomes one in ``graphpipe.parse_request``)."""

from __future__ import annotations

import flatbuffers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emnist_contract.tensors import NUM_PIXELS
from serving_core.errors import InvalidArgumentError
from serving_core.request import SignatureInput
from tests.support.decoding import LIMITS, budget, decode_bounded, properties
from webapp.http import graphpipe_wire as wire
from webapp.http.graphpipe import GraphPipeInputs, parse_request

DIMS = st.one_of(st.integers(0, 6), st.sampled_from([28, NUM_PIXELS, 2**31, 2**40, 2**62, 2**63 - 1]),
                 st.integers(-2**63, -1))


def request_bytes(kind: int, shape: list[int], data: bytes, names: list[str], tensors: int = 1) -> bytes:
    """A ``Request`` holding an ``InferRequest`` of ``tensors`` copies of one tensor (graphpipe.fbs)."""
    builder = flatbuffers.Builder(256 + len(data))
    made = []
    for _ in range(tensors):
        builder.StartVector(8, len(shape), 8)
        for dim in reversed(shape):
            builder.PrependInt64(dim)
        shape_vector = builder.EndVector()
        data_vector = builder.CreateByteVector(data)
        builder.StartObject(4)
        builder.PrependUint8Slot(0, kind, 0)
        builder.PrependUOffsetTRelativeSlot(1, shape_vector, 0)
        builder.PrependUOffsetTRelativeSlot(2, data_vector, 0)
        made.append(builder.EndObject())
    strings = [builder.CreateString(name) for name in names]
    vectors = []
    for offsets in (strings, made):
        builder.StartVector(4, len(offsets), 4)
        for offset in reversed(offsets):
            builder.PrependUOffsetTRelative(offset)
        vectors.append(builder.EndVector())
    builder.StartObject(4)
    builder.PrependUOffsetTRelativeSlot(1, vectors[0], 0)
    builder.PrependUOffsetTRelativeSlot(2, vectors[1], 0)
    infer = builder.EndObject()
    builder.StartObject(2)
    builder.PrependUint8Slot(0, wire.REQ_INFER, 0)
    builder.PrependUOffsetTRelativeSlot(1, infer, 0)
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


@st.composite
def graphpipe_bodies(draw) -> bytes:
    kind = draw(st.one_of(st.sampled_from([int(t) for t in wire.TensorType]), st.integers(0, 255)))
    shape = draw(st.lists(DIMS, max_size=4))
    count = 1
    for dim in shape:
        count *= max(dim, 0)
    itemsize = wire.DTYPE_OF_TYPE[kind].itemsize if kind in wire.DTYPE_OF_TYPE else 1
    exact = count * itemsize if count * itemsize <= 8 * NUM_PIXELS * (LIMITS.max_instances + 1) else 0
    data = bytes([draw(st.integers(0, 255))]) * draw(st.one_of(st.integers(0, 24), st.just(exact)))
    names = draw(st.lists(st.sampled_from(["images", "x"]), max_size=2))
    body = request_bytes(kind, shape, data, names, draw(st.integers(0, 2)))
    damage = draw(st.sampled_from(["none", "none", "truncate", "overwrite", "offset"]))
    if damage == "truncate":
        body = body[:draw(st.integers(0, len(body)))]
    elif damage == "overwrite":
        at = draw(st.integers(0, len(body) - 1))
        body = body[:at] + draw(st.binary(min_size=1, max_size=4)) + body[at + 4:]
    elif damage == "offset":  # a uoffset or vtable entry pointing anywhere, 4-aligned as most are
        at = draw(st.integers(0, len(body) // 4 - 1)) * 4
        body = body[:at] + draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little") + body[at + 4:]
    return body


def decode(body: bytes):
    request = parse_request(body)
    if isinstance(request, wire.MetadataRequest):
        return None
    return GraphPipeInputs(request).tensor(SignatureInput("images", "DT_FLOAT"), budget())


@properties(max_examples=1400)
@given(graphpipe_bodies())
def test_any_graphpipe_request_decodes_within_the_limits_or_is_refused(body):
    images = decode_bounded(lambda: decode(body), len(body))
    if images is not None:
        assert 1 <= len(images) <= LIMITS.max_instances and images.shape[1:] == (NUM_PIXELS,)


@properties(max_examples=500)
@given(st.binary(max_size=96))
def test_any_bytes_as_a_graphpipe_request(body):
    decode_bounded(lambda: decode(body), len(body))


def test_a_valid_request_is_read():
    body = request_bytes(int(wire.TensorType.UINT8), [2, 28, 28], bytes(2 * NUM_PIXELS), ["images"])
    assert decode(body).shape == (2, NUM_PIXELS)


def test_an_empty_tensor_with_a_dimension_numpy_cannot_hold_is_refused():
    """[0, 2**63-1] holds no values, but numpy cannot even shape an empty array so (main: a 500)."""
    body = request_bytes(int(wire.TensorType.FLOAT32), [0, 2**63 - 1], b"", ["images"])
    with pytest.raises(InvalidArgumentError, match=r"^input tensor: shape \[0, 9223372036854775807\] has a "
                       "dimension over the limit MAX_INSTANCES=4"):
        decode(body)
