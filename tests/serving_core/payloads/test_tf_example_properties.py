"""tf.Example decoding: serialized examples of any bytes, and examples of any feature kind and length,
are read as images or refused with a ``ServingError`` in the project's words, within bounded memory."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from emnist_contract.signatures import EXAMPLE_FEATURE
from emnist_contract.tensors import NUM_PIXELS
from serving_core.errors import InvalidArgumentError
from serving_core.payloads.tf_examples import feature_image, serialized_examples
from tests.support.decoding import LIMITS, budget, decode_bounded, properties
from tf_serving_protos.tensorflow.core.example import example_pb2

Example = example_pb2.Example


def png(size: int = 28) -> bytes:
    """A black image with a white bar: a character the preprocessing finds."""
    image = Image.new("L", (size, size), 0)
    image.paste(255, (size // 3, size // 4, size // 2, 3 * size // 4))
    stream = io.BytesIO()
    image.save(stream, format="PNG")
    return stream.getvalue()


@st.composite
def examples(draw) -> bytes:
    """A serialized example: its 'images' feature (or another name) of any kind and length."""
    example = Example()
    name = draw(st.sampled_from([EXAMPLE_FEATURE, EXAMPLE_FEATURE, "pixels", ""]))
    kind = draw(st.sampled_from(["float_list", "bytes_list", "int64_list", None]))
    feature = example.features.feature[name]
    if kind == "float_list":
        count = draw(st.sampled_from([0, 1, NUM_PIXELS - 1, NUM_PIXELS, NUM_PIXELS, NUM_PIXELS + 1]))
        feature.float_list.value.extend([draw(st.floats(width=32))] * count)
    elif kind == "bytes_list":
        values = draw(st.lists(st.one_of(st.binary(max_size=40), st.just(png()), st.just(bytes(NUM_PIXELS))),
                               max_size=2))
        feature.bytes_list.value.extend(values)
    elif kind == "int64_list":
        feature.int64_list.value.extend(draw(st.lists(st.integers(-2**63, 2**63 - 1), max_size=4)))
    data = example.SerializeToString()
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=8))
    return data


@properties(max_examples=700)
@given(st.lists(examples(), min_size=0, max_size=LIMITS.max_instances + 1))
def test_serialized_examples_are_checked_or_refused(values):
    array = np.empty(len(values), dtype=object)
    array[:] = values
    size = sum(map(len, values))
    checked = decode_bounded(lambda: serialized_examples(array, budget()), size)
    if checked is not None:  # every one now holds the 784 floats the classify graph parses
        assert len(checked) == len(values)
        for value in checked:
            example = Example.FromString(value)
            assert len(example.features.feature[EXAMPLE_FEATURE].float_list.value) == NUM_PIXELS


@properties(max_examples=500)
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=3))
def test_arbitrary_bytes_as_serialized_examples(values):
    array = np.empty(len(values), dtype=object)
    array[:] = values
    decode_bounded(lambda: serialized_examples(array, budget()), sum(map(len, values)))


@properties(max_examples=400)
@given(st.sampled_from(["float_list", "bytes_list", "int64_list", None, "other"]),
       st.lists(st.one_of(st.floats(), st.binary(max_size=16), st.integers()), max_size=NUM_PIXELS + 1))
def test_feature_image_of_any_kind_and_values(kind, values):
    wire_type = {"float_list": float, "bytes_list": bytes}.get(kind)  # what the message's field holds
    if wire_type is not None:
        values = [v for v in values if isinstance(v, wire_type)]
    decode_bounded(lambda: feature_image(kind, values, "example 0", budget()), 16 * len(values))


def test_a_bad_example_is_refused_in_the_projects_words():
    array = np.array([b"\xff\xff not an example"], dtype=object)
    with pytest.raises(InvalidArgumentError, match="^example 0: not a serialized tf.Example$"):
        serialized_examples(array, budget())
    short = Example()
    short.features.feature[EXAMPLE_FEATURE].float_list.value.extend([0.5] * 10)
    array = np.array([short.SerializeToString()], dtype=object)
    with pytest.raises(InvalidArgumentError, match="example 0: feature 'images' holds 10 floats, expected"):
        serialized_examples(array, budget())


def test_an_example_holding_an_image_file_becomes_the_example_of_its_pixels():
    example = Example()
    example.features.feature[EXAMPLE_FEATURE].bytes_list.value.append(png(56))
    (checked,) = serialized_examples(np.array([example.SerializeToString()], dtype=object), budget())
    pixels = Example.FromString(checked).features.feature[EXAMPLE_FEATURE].float_list.value
    assert len(pixels) == NUM_PIXELS


def test_raw_float_pixels_in_a_bytes_list_must_be_finite():
    nan = np.full(NUM_PIXELS, np.nan, "<f4").tobytes()
    with pytest.raises(InvalidArgumentError, match="NaN or infinite"):
        feature_image("bytes_list", [nan], "example 0", budget())


def test_an_example_holds_one_image_not_a_npy_batch():
    """A bytes_list holding a .npy of three images is refused (it made one example three images, and a
    request of N examples up to 3N, past MAX_INSTANCES)."""
    batch = io.BytesIO()
    np.save(batch, np.zeros((3, NUM_PIXELS), np.float32))
    with pytest.raises(InvalidArgumentError, match="^example 0: feature 'images' holds 3 images: an example"):
        feature_image("bytes_list", [batch.getvalue()], "example 0", budget())
