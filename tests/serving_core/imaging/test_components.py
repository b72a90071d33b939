"""Connected components: the same label image as ``skimage.measure.label(mask, connectivity=2)``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage import measure

from serving_core.imaging.components import label_components
from tests.support.imaging_inputs import masks

MASKS = [pytest.param(mask, id=name) for name, mask in masks()]


@pytest.mark.parametrize("mask", MASKS)
def test_labels_are_scikit_images(mask):
    np.testing.assert_array_equal(label_components(mask), measure.label(mask, connectivity=2))


@settings(max_examples=300, deadline=None)
@given(mask=arrays(bool, st.tuples(st.integers(1, 30), st.integers(1, 30))))
def test_labels_of_random_masks(mask):
    np.testing.assert_array_equal(label_components(mask), measure.label(mask, connectivity=2))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=st.tuples(st.integers(1, 200), st.integers(1, 200)),
       density=st.floats(0.05, 0.95))
def test_labels_of_large_random_masks(seed, shape, density):
    mask = np.random.default_rng(seed).random(shape) < density
    np.testing.assert_array_equal(label_components(mask), measure.label(mask, connectivity=2))


def test_a_spiral_is_one_component():
    # Many runs joined in a long chain: the merging must go on until the whole chain is one.
    side = 61
    mask = np.zeros((side, side), bool)
    top, left, bottom, right = 0, 0, side - 1, side - 1
    while top <= bottom and left <= right:
        mask[top, left : right + 1] = True
        mask[top : bottom + 1, right] = True
        mask[bottom, left : right + 1] = True
        mask[top + 2 : bottom + 1, left] = True
        top, left, bottom, right = top + 2, left + 2, bottom - 2, right - 2
        if top <= bottom:
            mask[top - 1, left] = True
    labels = label_components(mask)
    np.testing.assert_array_equal(labels, measure.label(mask, connectivity=2))


def test_diagonal_neighbours_join_and_edge_neighbours_do_not_wrap():
    mask = np.array([[1, 0, 0, 1],
                     [0, 1, 0, 0],
                     [0, 0, 0, 1],
                     [1, 0, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(label_components(mask), [[1, 0, 0, 2],
                                                           [0, 1, 0, 0],
                                                           [0, 0, 0, 3],
                                                           [4, 0, 3, 0]])
    assert label_components(np.zeros((0, 5), bool)).shape == (0, 5)
