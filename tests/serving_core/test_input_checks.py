"""Input warnings: the range and polarity of pixels compared with the model's (pixels/255, ink high)."""

from __future__ import annotations

import numpy as np
import pytest

from emnist_contract.tensors import NUM_PIXELS
from serving_core.input_checks import input_warnings
from serving_core.preprocessing import preprocess_image
from tests.support.paths import REPO, labelled_test_images


def codes(images: np.ndarray) -> list[list[str]]:
    return [[warning.code for warning in found] for found in input_warnings(images)]


@pytest.fixture(scope="module")
def model_inputs() -> np.ndarray:
    with np.load(REPO / "data" / "train.npz") as data:
        return data["images"].reshape(-1, NUM_PIXELS) / 255.0


def test_no_training_image_and_no_preprocessed_upload_is_warned_about(model_inputs):
    assert not any(input_warnings(model_inputs))
    uploads = np.stack([preprocess_image(path.read_bytes(), 10**7) for path, _ in labelled_test_images()])
    assert not any(input_warnings(uploads))


def test_each_mistake_is_named(model_inputs):
    x = model_inputs[:5]
    assert codes(x * 255) == [["pixel_range"]] * 5
    assert codes(1 - x) == [["dark_on_light"]] * 5
    assert codes((x - 0.1307) / 0.3081) == [["pixel_range", "negative_values"]] * 5
    assert codes(x - 0.5) == [["negative_values"]] * 5
    assert codes(np.full((2, NUM_PIXELS), 0.3)) == [["blank"]] * 2


def test_messages_give_the_values_found(model_inputs):
    (warning,) = input_warnings(model_inputs[:1] * 255)[0]
    assert "up to 255" in warning.message and "0-255" in warning.message
    low = input_warnings(model_inputs[:1] - 2)[0]
    assert any("down to -2" in found.message for found in low)


def test_rounding_of_pixels_over_255_is_no_range_error(model_inputs):
    assert not any(input_warnings(np.clip(model_inputs[:3] * 1.005, 0, 1.005)))
