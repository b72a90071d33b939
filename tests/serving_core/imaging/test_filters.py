"""Gaussian blur and Otsu's threshold: scikit-image's results to the bit, on real and awkward images."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import filters

from serving_core.imaging.boundaries import MODES, extended_indices
from serving_core.imaging.filters import gaussian, otsu_threshold
from tests.support.imaging_inputs import float_image_ids, float_images

IMAGES = [pytest.param(image, id=name) for name, image in float_images()]


@pytest.mark.parametrize("image", IMAGES)
def test_gaussian_is_scikit_images_to_the_bit(image):
    # Same kernel, boundary, per-axis rounding to the image's type and float64 sums in SciPy's order.
    for sigma in (0.3, 1.0, 2.6):
        for mode in MODES:
            expected = filters.gaussian(image, sigma=sigma, mode=mode)
            found = gaussian(image, sigma, mode=mode)
            assert found.dtype == expected.dtype
            np.testing.assert_array_equal(found, expected, err_msg=f"sigma {sigma}, mode {mode}")


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), height=st.integers(1, 30), width=st.integers(1, 30),
       sigmas=st.tuples(st.floats(0, 6), st.floats(0, 6)), mode=st.sampled_from(MODES),
       double=st.booleans())
def test_gaussian_per_axis_sigmas_on_random_images(seed, height, width, sigmas, mode, double):
    image = np.random.default_rng(seed).random((height, width), dtype=np.float64 if double else np.float32)
    expected = filters.gaussian(image, sigma=sigmas, mode=mode)
    np.testing.assert_array_equal(gaussian(image, sigmas, mode=mode), expected)


def test_gaussian_refuses_what_it_cannot_compute_as_scikit_image_does():
    with pytest.raises(TypeError):
        gaussian(np.zeros((4, 4), np.uint8), 1.0)  # scikit-image would rescale integers first
    with pytest.raises(ValueError):
        gaussian(np.zeros((4, 4), np.float32), -1.0)
    with pytest.raises(ValueError):
        gaussian(np.zeros((4, 4), np.float32), 1.0, mode="wrap")


@pytest.mark.parametrize("image", IMAGES)
def test_otsu_threshold_is_scikit_images(image):
    assert otsu_threshold(image) == filters.threshold_otsu(image)
    squared = image.astype(np.float64) ** 2
    assert otsu_threshold(squared) == filters.threshold_otsu(squared)


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 400), levels=st.integers(1, 300))
def test_otsu_threshold_on_random_values(seed, size, levels):
    rng = np.random.default_rng(seed)
    image = (rng.integers(0, levels, size=(1, size)) / levels).astype(np.float32)
    assert otsu_threshold(image) == filters.threshold_otsu(image)


@pytest.mark.parametrize("mode", MODES)
def test_extended_indices_match_numpy_padding(mode):
    # numpy.pad's name for each SciPy boundary; its padding repeats the same way however far it reaches.
    pad_mode = {"mirror": "reflect", "reflect": "symmetric", "nearest": "edge", "constant": "constant"}[mode]
    for length in (1, 2, 3, 7):
        line = np.arange(1, length + 1)
        positions = np.arange(-20, length + 20)
        extended = np.append(line, 0)[extended_indices(length, positions, mode)]
        np.testing.assert_array_equal(extended, np.pad(line, 20, mode=pad_mode), err_msg=f"length {length}")


def test_the_image_inputs_cover_real_and_awkward_cases():
    names = float_image_ids()
    assert any("photo" in name for name in names) and any("canvas" in name for name in names)
    assert any("(1, 1)" in name for name in names) and any("constant" in name for name in names)
