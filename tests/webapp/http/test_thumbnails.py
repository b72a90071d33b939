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


def test_the_thumbnail_decodes_under_the_requests_bounds_without_counting_twice():
    """The page decodes its upload twice (to read it, to show it): both hold the process-wide pixel gate,
    only the first counts as one of the request's image files."""
    import dataclasses

    from serving_core.pixel_gate import PixelGate

    png = encode_image(np.zeros((1200, 900, 4), np.uint8))
    gate = PixelGate(2_000_000)
    held: list[int] = []
    hold = gate.hold

    def recording(pixels, deadline):
        held.append(pixels)
        return hold(pixels, deadline)

    gate.hold = recording
    from tests.support.apps import build_app, stop_app

    app = build_app(MAX_DECODED_IMAGES=1)
    try:
        limits = app.extensions["front_end"].limits
        limits = dataclasses.replace(limits, gate=gate, deadline_seconds=10).budget()
        with limits.decoding(1200 * 900):  # what preprocessing counts
            pass
        picture = thumbnail(png, limits.max_image_pixels, limits)  # not a second image of the request
    finally:
        stop_app(app)
    assert held == [1200 * 900, 1200 * 900]
    assert max(picture.width, picture.height) <= THUMBNAIL_SIDE


def test_the_page_shows_preprocessings_own_decoding_of_a_png(monkeypatch):
    """A PNG is decoded once for the page: the thumbnail comes from the frame preprocessing decoded."""
    from serving_core.preprocessing import EmptyImageError, preprocess_image
    from webapp.http import thumbnails

    png = encode_image(np.full((900, 1200, 3), (200, 30, 40), np.uint8))
    decoded = thumbnails.DecodedFrame()
    with pytest.raises(EmptyImageError):  # a flat colour has no ink: refused, but only once decoded
        preprocess_image(png, 40_000_000, on_decoded=decoded)
    assert decoded.small is not None and max(decoded.small.size) <= 2 * THUMBNAIL_SIDE
    monkeypatch.setattr(thumbnails.ImageSequence, "Iterator", None)  # a second decoding would fail
    picture = thumbnail(png, 40_000_000, None, decoded)
    data = base64.b64decode(picture.uri.split(",", 1)[1])
    shown = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert max(picture.width, picture.height) <= THUMBNAIL_SIDE
    assert np.abs(shown.astype(int) - (200, 30, 40)).max() <= 8  # the colours as sent
