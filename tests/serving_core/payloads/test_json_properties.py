"""TF Serving's JSON bodies (rows, columns, b64, examples, strings for the classify signature): any body
decodes to images within the limits or is refused with a ``ServingError``, within bounded memory."""

from __future__ import annotations

import base64
import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from emnist_contract.tensors import NUM_PIXELS
from serving_core.payloads.codecs import dump_npy
from serving_core.payloads.json_tensors import JsonPredictInputs, examples_to_images, parse_json_object
from serving_core.request import SignatureInput
from tests.support.decoding import LIMITS, budget, decode_bounded, properties

NUMBERS = st.one_of(st.integers(-300, 300), st.floats(-2.0, 2.0), st.sampled_from([1e39, -1e39, 2**70, 0.5]))
ODD = st.one_of(st.none(), st.booleans(), st.text(max_size=4), st.just([]), st.just({}))
JSON = st.recursive(st.one_of(NUMBERS, ODD), lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.sampled_from(["images", "b64", "x"]), children,
                                                    max_size=2)), max_leaves=12)


@st.composite
def b64_values(draw) -> dict:
    raw = draw(st.sampled_from(["pixels", "floats", "npy", "bytes", "text"]))
    if raw == "pixels":
        data = bytes([draw(st.integers(0, 255))]) * NUM_PIXELS
    elif raw == "floats":
        data = np.full(draw(st.integers(0, 6)) * NUM_PIXELS, draw(st.floats(width=32)), "<f4").tobytes()
    elif raw == "npy":
        rows = draw(st.integers(0, 6))
        data = dump_npy(np.full((rows, NUM_PIXELS), 0.5, draw(st.sampled_from(["<f4", "|u1", "<f8", "<i4"]))))
    elif raw == "bytes":
        data = draw(st.binary(max_size=40))
    else:
        return {"b64": draw(st.text(max_size=12))}
    return {"b64": base64.b64encode(data).decode()}


@st.composite
def rows(draw) -> list:
    """N rows of 784 numbers (flat or 28x28), sometimes one wrong length or one value that is no number."""
    count = draw(st.integers(0, LIMITS.max_instances + 1))
    value = draw(NUMBERS)
    nested = draw(st.booleans())
    width = draw(st.sampled_from([NUM_PIXELS, NUM_PIXELS, NUM_PIXELS - 1, 0]))
    batch = [[[value] * 28 for _ in range(width // 28)] if nested else [value] * width for _ in range(count)]
    if batch and draw(st.booleans()):
        odd = draw(ODD)
        target = batch[draw(st.integers(0, count - 1))]
        (target[0] if nested and target else target).append(odd)
    return batch


@st.composite
def predict_bodies(draw) -> bytes:
    tensor = draw(st.one_of(rows(), st.lists(b64_values(), max_size=LIMITS.max_instances + 1), b64_values(),
                            JSON))
    layout = draw(st.sampled_from(["instances", "inputs", "named inputs", "both"]))
    if layout == "named inputs":
        document = {"inputs": {draw(st.sampled_from(["images", "x"])): tensor}}
    elif layout == "both":
        document = {"instances": tensor, "inputs": tensor}
    else:
        document = {layout: tensor}
    if draw(st.integers(0, 5)) == 0:
        document["signature_name"] = draw(JSON)
    return json.dumps(document).encode()


@properties(max_examples=1400)
@given(predict_bodies(), st.sampled_from(["DT_FLOAT", "DT_STRING"]))
def test_any_predict_body_decodes_within_the_limits_or_is_refused(body, dtype):
    def decode() -> np.ndarray:
        inputs = JsonPredictInputs(body)
        inputs.signature_name()
        return inputs.tensor(SignatureInput("images", dtype), budget())

    values = decode_bounded(decode, len(body))
    if values is not None:
        assert 1 <= len(values) <= LIMITS.max_instances
        if dtype == "DT_FLOAT":
            assert values.shape[1:] == (NUM_PIXELS,) and np.isfinite(values).all()


@properties(max_examples=400)
@given(st.binary(max_size=64))
def test_any_bytes_as_a_predict_body(body):
    decode_bounded(lambda: JsonPredictInputs(body).tensor(SignatureInput("images", "DT_FLOAT"), budget()),
                   len(body))


@st.composite
def classify_bodies(draw) -> bytes:
    pixel_lists = st.lists(NUMBERS, max_size=3).map(lambda v: v * 262)  # 0, 262, 524 or 786 numbers
    first_row = rows().map(lambda r: r[0] if r else r)
    feature = draw(st.one_of(pixel_lists, b64_values(), st.lists(b64_values(), max_size=2), first_row, JSON))
    examples = draw(st.one_of(st.lists(st.fixed_dictionaries({"images": st.just(feature)}),
                                       max_size=LIMITS.max_instances + 1), JSON))
    document = {"examples": examples}
    if draw(st.booleans()):
        document["context"] = draw(st.one_of(st.dictionaries(st.sampled_from(["images", "x"]), JSON,
                                                             max_size=1), JSON))
    return json.dumps(document).encode()


@properties(max_examples=700)
@given(classify_bodies())
def test_any_classify_body_decodes_within_the_limits_or_is_refused(body):
    def decode() -> np.ndarray:
        document = parse_json_object(body)
        return examples_to_images(document.get("examples"), document.get("context"), budget())

    images = decode_bounded(decode, len(body))
    if images is not None:
        assert 1 <= len(images) <= LIMITS.max_instances and images.shape[1:] == (NUM_PIXELS,)
