"""Disk dilation and the skeleton: the same pixels as scikit-image's, on real and awkward masks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage import morphology

from serving_core.imaging.morphology import dilation, disk, skeletonize
from tests.support.imaging_inputs import float_images, masks

MASKS = [pytest.param(mask, id=name) for name, mask in masks()]
IMAGES = [pytest.param(image, id=name) for name, image in float_images()]
RANDOM_MASKS = arrays(bool, st.tuples(st.integers(1, 24), st.integers(1, 24)))


def test_disk_is_scikit_images():
    for radius in range(10):
        np.testing.assert_array_equal(disk(radius), morphology.disk(radius).astype(bool), err_msg=radius)


@pytest.mark.parametrize("mask", MASKS)
def test_mask_dilation_is_scikit_images(mask):
    for radius in (1, 2, 4):
        expected = morphology.dilation(mask, morphology.disk(radius))
        found = dilation(mask, disk(radius))
        assert found.dtype == expected.dtype
        np.testing.assert_array_equal(found, expected, err_msg=f"radius {radius}")


@pytest.mark.parametrize("image", IMAGES)
def test_greyscale_dilation_is_scikit_images(image):
    for radius in (1, 3, 6):
        expected = morphology.dilation(image, morphology.disk(radius))
        found = dilation(image, disk(radius))
        assert found.dtype == expected.dtype
        np.testing.assert_array_equal(found, expected, err_msg=f"radius {radius}")


@settings(max_examples=200, deadline=None)
@given(mask=RANDOM_MASKS, radius=st.integers(0, 7))
def test_dilation_of_random_masks(mask, radius):
    expected = morphology.dilation(mask, morphology.disk(radius))
    np.testing.assert_array_equal(dilation(mask, disk(radius)), expected)


def test_dilation_refuses_footprints_without_a_centre():
    with pytest.raises(ValueError):
        dilation(np.zeros((5, 5), bool), np.ones((2, 3), bool))
    with pytest.raises(ValueError):
        dilation(np.zeros((5, 5), bool), np.zeros((3, 3), bool))


@pytest.mark.parametrize("mask", MASKS)
def test_skeleton_is_scikit_images(mask):
    np.testing.assert_array_equal(skeletonize(mask), morphology.skeletonize(mask))


@settings(max_examples=300, deadline=None)
@given(mask=RANDOM_MASKS)
def test_skeleton_of_random_masks(mask):
    np.testing.assert_array_equal(skeletonize(mask), morphology.skeletonize(mask))


def test_skeleton_of_thick_strokes_is_thin_and_inside():
    # What the preprocessing uses it for: ink area over skeleton length is the stroke width.
    mask = np.zeros((96, 96), bool)
    mask[20:76, 40:52] = True  # a bar 12 pixels wide
    skeleton = skeletonize(mask)
    assert skeleton.sum() > 0 and not (skeleton & ~mask).any()
    assert 12 <= mask.sum() / skeleton.sum() <= 16  # 12, a little more: the skeleton stops short of the ends
