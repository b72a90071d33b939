"""Typed tensors -> model inputs: raw bytes and JSON numbers checked against dtype and shape; pixels of
every accepted type and shape become the model's float32 [N,784]."""

from __future__ import annotations

import numpy as np
import pytest

from emnist_contract.tensors import NUM_PIXELS
from serving_core.errors import InvalidArgumentError
from serving_core.payloads.limits import ServerLimits
from serving_core.payloads.typed_tensors import checked_shape, pixels_to_images, raw_to_array, values_to_array

LIMITS = ServerLimits(max_instances=8, max_image_pixels=1_000_000).budget()
PIXELS = np.random.default_rng(3).integers(0, 256, (3, NUM_PIXELS), dtype=np.uint8)


def test_raw_bytes_are_read_little_endian_without_a_copy():
    data = PIXELS.astype("<f4").tobytes()
    array = raw_to_array(data, np.dtype(np.float32), [3, 28, 28], "x")
    assert array.shape == (3, 28, 28) and not array.flags.writeable
    np.testing.assert_array_equal(array.reshape(3, -1), PIXELS.astype(np.float32))
    big_endian = raw_to_array(np.arange(4, dtype=">u2").tobytes(), np.dtype(">u2"), [4], "x")
    assert big_endian.tolist() == [0, 256, 512, 768]  # the protocols' bytes are little-endian, always


@pytest.mark.parametrize(("shape", "message"), [
    ([3, 783], "needs 9396 bytes of data, got 9408"), ([3, -784], "non-negative integers"),
    ([3.0, 784], "non-negative integers"), ("3x784", "non-negative integers"), (None, "list of integers"),
    ([True, 784], "non-negative integers"),
])
def test_raw_bytes_must_match_their_shape(shape, message):
    with pytest.raises(InvalidArgumentError, match=message):
        raw_to_array(PIXELS.astype("<f4").tobytes(), np.dtype(np.float32), shape, "x")


def test_values_flat_or_nested():
    nested = values_to_array(PIXELS.reshape(3, 28, 28).tolist(), np.dtype(np.uint8), [3, NUM_PIXELS], "x")
    flat = values_to_array(PIXELS.reshape(-1).tolist(), np.dtype(np.uint8), (3, 28, 28), "x")
    np.testing.assert_array_equal(nested, PIXELS)
    np.testing.assert_array_equal(flat.reshape(3, -1), PIXELS)
    floats = values_to_array([0.5, 1, True], np.dtype(np.float32), [3], "x")
    assert floats.dtype == np.float32 and floats.tolist() == [0.5, 1.0, 1.0]
    assert np.isinf(values_to_array([1e39], np.dtype(np.float32), [1], "x")).all()


@pytest.mark.parametrize(("values", "dtype", "message"), [
    ([1, 2], np.uint8, "holds 3 elements but data has 2"),
    ([1, 2, 256], np.uint8, "from 0 to 255"),
    ([1, 2, -1], np.uint8, "from 0 to 255"),
    ([1, 2, 3.5], np.uint8, "must be integers"),
    ([1, 2, "3"], np.float32, "must be numbers"),
    ([[1, 2], [3]], np.float32, "regular"),
    ("123", np.float32, "must be a list of numbers"),
    ([1, 2, 2**70], np.int64, "must be integers"),
])
def test_values_refused(values, dtype, message):
    with pytest.raises(InvalidArgumentError, match=message):
        values_to_array(values, np.dtype(dtype), [3], "x")


@pytest.mark.parametrize("shape", [(3, NUM_PIXELS), (3, 28, 28), (3, 1, NUM_PIXELS), (3, 1, 28, 28)])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.uint8])
def test_pixels_of_every_type_and_shape(shape, dtype):
    array = (PIXELS if dtype == np.uint8 else PIXELS / 255.0).astype(dtype).reshape(shape)
    images = pixels_to_images(array, "x", LIMITS)
    assert images.dtype == np.float32 and images.shape == (3, NUM_PIXELS) and images.flags.c_contiguous
    expected = (PIXELS.astype(np.float32) / 255).astype(dtype).astype(np.float32) if dtype != np.uint8 \
        else PIXELS.astype(np.float32) / np.float32(255)
    np.testing.assert_allclose(images, expected, atol=1e-7)


def test_one_image_without_a_batch_dimension():
    assert pixels_to_images(PIXELS[0].reshape(28, 28), "x", LIMITS).shape == (1, NUM_PIXELS)
    assert pixels_to_images(PIXELS[0].astype(np.float32), "x", LIMITS).shape == (1, NUM_PIXELS)


@pytest.mark.parametrize(("array", "message"), [
    (PIXELS.astype(np.int32), "int32 are not accepted"),
    (PIXELS.astype(np.bool_), "bool are not accepted"),
    (PIXELS[:, :700].astype(np.float32), r"shape \[3, 700\] does not hold images"),
    (np.zeros((0, NUM_PIXELS), np.float32), "No values"),
    (np.zeros((9, NUM_PIXELS), np.float32), "MAX_INSTANCES=8"),
    (np.full((1, NUM_PIXELS), np.nan, np.float32), "NaN or infinite"),
    (np.full((1, NUM_PIXELS), np.inf, np.float16), "NaN or infinite"),
])
def test_pixels_refused(array, message):
    with pytest.raises(InvalidArgumentError, match=message):
        pixels_to_images(array, "x", LIMITS)


def test_checked_shape_accepts_numpy_and_protobuf_like_sequences():
    assert checked_shape(np.array([2, 784]), "x") == (2, 784)
    assert checked_shape((n for n in (1, 28, 28)), "x") == (1, 28, 28)


def test_integers_for_a_bool_tensor_are_refused_later_not_crashed_on():
    """BOOL data has no integer range to check (np.iinfo(bool) raised ValueError: a 500)."""
    assert values_to_array([1, 0, 1], np.dtype(np.bool_), [3], "x").tolist() == [True, False, True]
