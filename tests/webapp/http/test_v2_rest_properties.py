"""The Open Inference Protocol's REST body with the binary tensor data extension: a JSON header whose
length (Inference-Header-Content-Length) and binary_data_size may lie, inputs of any shape, datatype and
data, decode to images within the limits or are refused with a ``ServingError``, within bounded memory."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emnist_contract.tensors import NUM_PIXELS
from serving_core.errors import InvalidArgumentError
from tests.support.decoding import LIMITS, budget, decode_bounded, properties
from webapp.http.v2_rest import parse_infer_request
from webapp.open_inference import DTYPE_OF_DATATYPE, UNSUPPORTED_PARAMETERS, decode_input

DATATYPES = sorted(DTYPE_OF_DATATYPE) + ["BYTES", "fp32", ""]
DIMS = st.one_of(st.integers(0, 6), st.sampled_from([28, NUM_PIXELS, 2**31, 2**40, 2**63, 2**80]),
                 st.integers(-5, -1), st.floats(0, 10), st.text(max_size=2))
VALUES = st.one_of(st.integers(-300, 300), st.floats(-2, 2), st.booleans(), st.none(), st.text(max_size=3))


@st.composite
def infer_bodies(draw) -> tuple[bytes, str | None]:
    """(body, the Inference-Header-Content-Length header): JSON, then binary data, with lengths that may
    lie."""
    inputs, chunks = [], []
    for index in range(draw(st.integers(0, 2))):
        datatype = draw(st.sampled_from(DATATYPES))
        shape = draw(st.one_of(st.lists(DIMS, max_size=4), st.just([2, NUM_PIXELS]), st.just([1, 28, 28])))
        item = {"name": "images" if index == 0 else f"x{index}", "datatype": datatype, "shape": shape}
        count = 1
        for dim in shape:
            count *= dim if isinstance(dim, int) and dim > 0 else 0
        if draw(st.booleans()):
            itemsize = DTYPE_OF_DATATYPE[datatype].itemsize if datatype in DTYPE_OF_DATATYPE else 4
            exact = count * itemsize if count * itemsize <= 8 * NUM_PIXELS * (LIMITS.max_instances + 1) else 0
            size = draw(st.one_of(st.integers(0, 16), st.just(exact)))
            chunks.append(bytes([draw(st.integers(0, 255))]) * size)
            declared = draw(st.one_of(st.just(size), st.integers(-2, 2**40), st.text(max_size=2)))
            item["parameters"] = {"binary_data_size": declared}
        else:
            full = min(count, NUM_PIXELS * LIMITS.max_instances)
            length = draw(st.one_of(st.integers(0, 3), st.just(full)))
            item["data"] = draw(st.one_of(st.just([draw(VALUES)] * length), st.lists(VALUES, max_size=3)))
        if draw(st.integers(0, 9)) == 0:
            item.setdefault("parameters", {})[draw(st.sampled_from(sorted(UNSUPPORTED_PARAMETERS)))] = 1
        inputs.append(item)
    header = json.dumps({"inputs": inputs}).encode()
    binary = b"".join(chunks) + draw(st.one_of(st.just(b""), st.binary(max_size=4)))
    if not binary and draw(st.booleans()):
        return header, None
    length = draw(st.one_of(st.just(str(len(header))), st.integers(-3, len(header) + 8).map(str),
                            st.text(max_size=3)))
    return header + binary, length


@properties(max_examples=1100)
@given(infer_bodies())
def test_any_infer_body_decodes_within_the_limits_or_is_refused(body_and_length):
    body, header_length = body_and_length

    def decode() -> list:
        request = parse_infer_request(body, header_length)
        return [decode_input(tensor, budget()) for tensor in request.inputs]

    images = decode_bounded(decode, len(body))
    for batch in images or ():
        assert 1 <= len(batch) <= LIMITS.max_instances and batch.shape[1:] == (NUM_PIXELS,)


def test_a_header_length_that_lies_is_refused():
    body = json.dumps({"inputs": []}).encode()
    with pytest.raises(InvalidArgumentError, match="is not a length within the body"):
        parse_infer_request(body, str(len(body) + 1))
