"""The result page's thumbnail: reduced, in the picture's shape, transparency on white, tiny images kept."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from serving_core.preprocessing import ImageTooLargeError, NotAnImageError
from tests.support.paths import encode_image
from webapp.http.thumbnails import THUMBNAIL_SIDE, thumbnail


def shown(uri: str) -> Image.Image:
    header, data = uri.split(",", 1)
    assert header in ("data:image/png;base64", "data:image/jpeg;base64")
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_a_photo_is_reduced_to_the_thumbnail_side_keeping_its_shape():
    photo = np.random.default_rng(0).integers(0, 255, (900, 1600, 3), dtype=np.uint8)
    made = thumbnail(encode_image(photo, "JPEG", quality=90), 10**8)
    image = shown(made.uri)
    assert image.size == (made.width, made.height) == (THUMBNAIL_SIDE, 180)
    assert not made.tiny and made.reduced and made.uri.startswith("data:image/jpeg")


def test_a_line_drawing_stays_png_and_small():
    drawing = np.full((280, 280), 255, np.uint8)
    drawing[60:220, 130:150] = 0
    made = thumbnail(encode_image(drawing), 10**8)
    assert made.uri.startswith("data:image/png") and len(made.uri) < 4000
    assert (made.width, made.height) == (280, 280) and not made.reduced  # under the thumbnail side


def test_transparency_is_shown_on_white():
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[40:60, 10:90] = (0, 0, 0, 255)
    image = shown(thumbnail(encode_image(rgba), 10**8).uri).convert("L")
    assert image.getpixel((5, 5)) == 255 and image.getpixel((50, 50)) == 0


def test_a_tiny_image_is_kept_at_its_size():
    made = thumbnail(encode_image(np.eye(28, dtype=np.uint8) * 255), 10**8)
    assert made.tiny and (made.width, made.height) == (28, 28)
    assert np.array_equal(np.asarray(shown(made.uri)), np.eye(28, dtype=np.uint8) * 255)


def test_the_limits_of_preprocessing_apply():
    with pytest.raises(ImageTooLargeError):
        thumbnail(encode_image(np.zeros((200, 200), np.uint8)), 100 * 100)
    with pytest.raises(NotAnImageError):
        thumbnail(b"not an image", 10**8)
