"""Resizing: ``skimage.transform.resize``'s results, linear to the bit and cubic to float rounding.

Tolerance of the cubic zoom: SciPy computes the spline's prefilter by a recursive filter, this module by
its closed form; both in float64, so the results differ by float64 rounding (about 1e-15 of the values,
which lie in [0, 1] here). Rounded to float32 that may still be one float32 step apart (2^-24 = 6e-8
below 1), so float32 results are compared to 2.5e-7 (four such steps), float64 ones to 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import transform

from serving_core.image_decoding import WORK_MAX_SIDE
from serving_core.imaging.resize import resize
from serving_core.preprocessing import FRAME_SIZE, WORK_FRAME
from tests.support.imaging_inputs import float_images

IMAGES = [pytest.param(image, id=name) for name, image in float_images()]
TOLERANCE = {np.dtype(np.float32): 2.5e-7, np.dtype(np.float64): 1e-12}


def target_shapes(shape: tuple[int, int]) -> list[tuple[int, int]]:
    """Shrinking, enlarging (small images), one axis each way, the preprocessing's sizes, one pixel."""
    height, width = shape
    longest = max(height, width)
    scale = WORK_MAX_SIDE / longest
    shapes = [(max(1, round(height * scale)), max(1, round(width * scale))),
              (max(1, height // 3), max(1, width // 2)), (WORK_FRAME, WORK_FRAME), (FRAME_SIZE, FRAME_SIZE),
              shape]
    if longest <= 100:  # (a photo shrunk to one pixel blurs with a kernel of thousands of samples: slow)
        shapes += [(height * 2 + 1, width + 3), (max(1, height // 2), width * 2), (1, 1), (1, width)]
    return shapes


def check(image: np.ndarray, shape: tuple[int, int], order: int, mode: str, anti_aliasing: bool) -> None:
    expected = transform.resize(image, shape, order=order, mode=mode, anti_aliasing=anti_aliasing)
    found = resize(image, shape, order=order, mode=mode, anti_aliasing=anti_aliasing)
    assert found.dtype == expected.dtype and found.shape == expected.shape
    message = f"{image.shape} -> {shape}, order {order}, {mode}, anti-aliasing {anti_aliasing}"
    if order == 1:
        np.testing.assert_array_equal(found, expected, err_msg=message)
    else:
        np.testing.assert_allclose(found, expected, rtol=0, atol=TOLERANCE[image.dtype], err_msg=message)


@pytest.mark.parametrize("image", IMAGES)
@pytest.mark.parametrize("order", [1, 3])
def test_resize_is_scikit_images(image, order):
    for shape in target_shapes(image.shape):
        for mode in ("reflect", "constant"):
            for anti_aliasing in (False, True):
                check(image, shape, order, mode, anti_aliasing)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=st.tuples(st.integers(1, 60), st.integers(1, 60)),
       out=st.tuples(st.integers(1, 60), st.integers(1, 60)), order=st.sampled_from([1, 3]),
       mode=st.sampled_from(["reflect", "constant"]), anti_aliasing=st.booleans(), double=st.booleans(),
       offset=st.floats(-2, 2))
def test_resize_on_random_images(seed, shape, out, order, mode, anti_aliasing, double, offset):
    # An offset moves the values off [0, 1]: the clipping to the input's range (widened to the zero a
    # constant resize reads past the edges) is scikit-image's too.
    image = np.random.default_rng(seed).random(shape) + offset
    check(image.astype(np.float64 if double else np.float32), out, order, mode, anti_aliasing)


def test_the_preprocessing_resizes_match_on_the_photos():
    # The three resizes the preprocessing makes, on the decoded photos and drawings.
    for name, image in float_images():
        if "decoded" not in name or max(image.shape) <= 28:
            continue
        check(image, (WORK_MAX_SIDE, WORK_MAX_SIDE * image.shape[1] // image.shape[0]), 1, "reflect", True)
        square = np.zeros((max(image.shape),) * 2, np.float32)
        square[: image.shape[0], : image.shape[1]] = image
        check(square, (WORK_FRAME, WORK_FRAME), 3, "constant", square.shape[0] > WORK_FRAME)
        check(square[:WORK_FRAME, :WORK_FRAME], (FRAME_SIZE, FRAME_SIZE), 3, "reflect", True)


def test_resize_refuses_what_it_does_not_compute():
    image = np.zeros((8, 8), np.float32)
    for order in (0, 2, 5):
        with pytest.raises(ValueError, match="order"):
            resize(image, (4, 4), order=order, anti_aliasing=False)
    with pytest.raises(ValueError, match="mode"):
        resize(image, (4, 4), order=1, anti_aliasing=False, mode="wrap")
    with pytest.raises(ValueError, match="shape"):
        resize(image, (0, 4), order=1, anti_aliasing=False)
    with pytest.raises(ValueError, match="2-D"):
        resize(np.zeros((2, 2, 2), np.float32), (4, 4), order=1, anti_aliasing=False)
    with pytest.raises(TypeError):
        resize(np.zeros((8, 8), np.uint8), (4, 4), order=1, anti_aliasing=False)
