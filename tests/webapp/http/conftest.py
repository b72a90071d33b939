"""Fixtures of the HTTP front end's tests: real images and their scores computed independently."""

from __future__ import annotations

import numpy as np
import pytest

from emnist_contract.tensors import NUM_PIXELS


@pytest.fixture(scope="module")
def pixels(validation_images):
    """Eight real validation images as model inputs (float32 [8,784]) and their labels."""
    images, labels = validation_images
    return images[:8].reshape(-1, NUM_PIXELS).astype(np.float32) / 255.0, labels[:8]


@pytest.fixture(scope="module")
def expected(pixels, onnx_reference):
    """The served version's scores for ``pixels``, from onnxruntime straight on its model.onnx."""
    return onnx_reference(pixels[0])
