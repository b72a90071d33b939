"""The Open Inference Protocol's gRPC ModelInferRequest: any shapes (negative, huge, overflowing),
datatypes, raw_input_contents of any length and typed contents of any count decode to images within the
limits or are refused with a ``ServingError``, within bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emnist_contract.tensors import NUM_PIXELS
from serving_core.errors import InvalidArgumentError
from tests.support.decoding import LIMITS, budget, decode_bounded, properties
from webapp.grpc.v2 import open_inference_grpc_pb2 as pb
from webapp.grpc.v2_servicer import CONTENTS_FIELD, input_tensors
from webapp.open_inference import DTYPE_OF_DATATYPE, UNSUPPORTED_PARAMETERS, decode_input

DATATYPES = sorted(CONTENTS_FIELD) + ["FP16", "BF16", "fp32", ""]
HUGE = [28, NUM_PIXELS, 250_000, 2**31, 2**40, 2**62, 2**63 - 1]
DIMS = st.one_of(st.integers(0, 6), st.sampled_from(HUGE), st.integers(-2**63, -1))
CONTENT_VALUES = {
    "bool_contents": st.booleans(), "int_contents": st.integers(-2**31, 2**31 - 1),
    "int64_contents": st.integers(-2**63, 2**63 - 1), "uint_contents": st.integers(0, 2**32 - 1),
    "uint64_contents": st.integers(0, 2**64 - 1), "fp32_contents": st.floats(width=32),
    "fp64_contents": st.floats(), "bytes_contents": st.binary(max_size=8),
}


@st.composite
def infer_requests(draw) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="emnist")
    raw = draw(st.booleans())
    for index in range(draw(st.integers(0, 2))):
        datatype = draw(st.sampled_from(DATATYPES))
        shape = draw(st.lists(DIMS, max_size=4))
        tensor = request.inputs.add(name=f"images{index}", datatype=datatype, shape=shape)
        if draw(st.integers(0, 9)) == 0:
            tensor.parameters[draw(st.sampled_from(sorted(UNSUPPORTED_PARAMETERS)))].int64_param = 1
        count = 1
        for dim in shape:
            count *= max(dim, 0)
        if raw:
            itemsize = DTYPE_OF_DATATYPE[datatype].itemsize if datatype in DTYPE_OF_DATATYPE else 4
            exact = count * itemsize if count * itemsize <= 8 * NUM_PIXELS * (LIMITS.max_instances + 1) else 0
            size = draw(st.one_of(st.integers(0, 32), st.just(exact)))
            request.raw_input_contents.append(bytes([draw(st.integers(0, 255))]) * size)
        else:
            field = draw(st.sampled_from([CONTENTS_FIELD.get(datatype, "fp32_contents"), *CONTENT_VALUES]))
            full = min(count, NUM_PIXELS * LIMITS.max_instances)
            repeat = draw(st.one_of(st.integers(0, 3), st.just(full)))
            getattr(tensor.contents, field).extend([draw(CONTENT_VALUES[field])] * repeat)
    if raw and draw(st.integers(0, 9)) == 0:
        request.raw_input_contents.append(b"")
    return request


@properties(max_examples=1200)
@given(infer_requests())
def test_any_infer_request_decodes_within_the_limits_or_is_refused(request):
    def decode() -> list:
        return [decode_input(tensor, budget()) for tensor in input_tensors(request)]

    images = decode_bounded(decode, request.ByteSize())
    for batch in images or ():
        assert 1 <= len(batch) <= LIMITS.max_instances and batch.shape[1:] == (NUM_PIXELS,)


def test_a_declared_shape_over_the_limit_is_refused_naming_it():
    request = pb.ModelInferRequest(model_name="emnist")
    tensor = request.inputs.add(name="images", datatype="FP32", shape=[2**40, 2**40])
    tensor.contents.fp32_contents.append(0.5)
    (tensor,) = input_tensors(request)
    with pytest.raises(InvalidArgumentError, match=r"^input 'images': shape \[1099511627776, 1099511627776\] "
                       r"\(\d+ values\) is over the limit MAX_INSTANCES=4"):
        decode_input(tensor, budget())
