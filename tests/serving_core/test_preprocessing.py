"""Preprocessing: uploads of any kind become EMNIST-style 28x28 inputs the model reads correctly."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from emnist_contract.labels import BYCLASS_LABELS
from emnist_contract.tensors import NUM_PIXELS
from serving_core.engines import load_engine
from serving_core.preprocessing import (
    EmptyImageError,
    ImageTooLargeError,
    NotAnImageError,
    emnist_from_greyscale,
    ink_from_photo,
    preprocess_image,
)
from tests.support.model_versions import TEST_ENGINE_OPTIONS
from tests.support.paths import encode_image, labelled_test_images, served_version_dir
from tests.support.photos import pen_photo

LIMIT = 40_000_000


@pytest.fixture(scope="module")
def engine():
    return load_engine("onnxruntime", served_version_dir(), TEST_ENGINE_OPTIONS)


def read(engine, pixels: np.ndarray) -> str:
    return BYCLASS_LABELS[int(engine.predict(pixels.reshape(1, NUM_PIXELS)).argmax())]


def bounding_box(image: np.ndarray, threshold: float = 0.12) -> tuple[int, int, int, int]:
    rows = np.flatnonzero((image > threshold).any(axis=1))
    cols = np.flatnonzero((image > threshold).any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


def test_emnist_png_passes_through_unchanged(validation_images):
    images, _ = validation_images
    for pixels in images[:20]:
        out = preprocess_image(encode_image(pixels), LIMIT)
        assert out.dtype == np.float32 and out.shape == (NUM_PIXELS,)
        np.testing.assert_array_equal(out, pixels.reshape(-1).astype(np.float32) / 255.0)


def test_inverted_28x28_becomes_ink_high(validation_images):
    images, _ = validation_images
    for pixels in images[:10]:
        out = preprocess_image(encode_image(255 - pixels), LIMIT)
        np.testing.assert_allclose(out, pixels.reshape(-1) / 255.0, atol=1e-6)


def test_large_dark_on_light_character_is_framed_like_emnist(engine, validation_images):
    images, labels = validation_images
    agree, total = 0, 60
    for pixels in images[:total]:
        big = np.asarray(Image.fromarray(255 - pixels).resize((300, 260), Image.BICUBIC))
        big = np.pad(big, ((40, 90), (120, 20)), constant_values=255)  # off-centre on white paper
        out = preprocess_image(encode_image(big), LIMIT).reshape(28, 28)
        top, bottom, left, right = bounding_box(out)
        assert max(bottom - top, right - left) + 1 in range(22, 28)  # fills ~24 of 28 pixels
        assert abs((top + bottom) / 2 - 13.5) <= 2 and abs((left + right) / 2 - 13.5) <= 2
        assert out.max() == pytest.approx(1.0)
        agree += read(engine, out) == read(engine, pixels.astype(np.float32) / 255)
    assert agree >= 0.8 * total


def test_aspect_ratio_is_kept():
    # A tall thin bar stays tall and thin (a "1"), it is not stretched into a square.
    page = np.full((400, 300), 250, np.uint8)
    page[50:350, 140:160] = 20
    out = preprocess_image(encode_image(page), LIMIT).reshape(28, 28)
    top, bottom, left, right = bounding_box(out, 0.5)
    assert bottom - top >= 20 and right - left <= 8


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_every_accepted_format_decodes(validation_images, image_format):
    pixels = validation_images[0][0]
    big = np.asarray(Image.fromarray(255 - pixels).resize((112, 112), Image.BICUBIC))
    rgb = np.stack([big, big, big], axis=-1)
    out = preprocess_image(encode_image(rgb, image_format), LIMIT).reshape(28, 28)
    reference = preprocess_image(encode_image(rgb, "PNG"), LIMIT).reshape(28, 28)
    assert np.abs(out - reference).mean() < 0.05


def test_transparent_backgrounds_keep_the_ink(validation_images):
    pixels = validation_images[0][0]
    big = np.asarray(Image.fromarray(pixels).resize((140, 140), Image.BICUBIC))
    black_ink = np.zeros((140, 140, 4), np.uint8)
    black_ink[..., 3] = big  # black strokes on a transparent canvas
    white_ink = black_ink.copy()
    white_ink[..., :3] = 255  # white strokes on a transparent canvas
    a = preprocess_image(encode_image(black_ink), LIMIT)
    b = preprocess_image(encode_image(white_ink), LIMIT)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert a.max() == pytest.approx(1.0)


def test_pen_photos_on_uneven_paper_are_read_correctly(engine):
    """Thin blue ballpoint strokes, off-white paper, strong light gradient, noise, JPEG, 640x480."""
    items = labelled_test_images()
    assert items, "test_images/ is empty"
    correct = sum(
        read(engine, preprocess_image(pen_photo(np.asarray(Image.open(path)), seed), LIMIT)) == label
        for seed, (path, label) in enumerate(items)
    )
    assert correct >= 0.75 * len(items), f"{correct} of {len(items)} photos read correctly"


def test_light_gradient_stronger_than_the_ink_is_removed():
    # The dark corner of the paper is darker than the ink is on the bright side: one global threshold
    # cannot separate them, the fitted light field can.
    ys, xs = np.mgrid[0:300, 0:400] / 400.0
    paper = 0.95 - 0.6 * xs - 0.2 * ys
    page = paper.copy()
    page[100:200, 60:70] -= 0.35  # a vertical pen stroke on the bright side
    assert page[100:200, 60:70].mean() > paper[:, -20:].mean()
    ink, _ = ink_from_photo(page.astype(np.float32))
    assert ink[100:200, 60:70].min() > 0.25
    assert np.delete(ink, np.s_[95:205], axis=0).max() < 0.05
    out = emnist_from_greyscale(page.astype(np.float32))
    top, bottom, left, right = bounding_box(out, 0.5)
    assert bottom - top >= 20 and right - left <= 8  # found the stroke, not the dark corner


def test_large_image_is_refused_from_its_header_before_decoding():
    # A PNG whose header claims 100000 x 100000 pixels but whose data is only a few bytes: decoding it
    # would fail or take gigabytes; the header check refuses it first and names the limit.
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    png += b"\x00\x00\x00\x00IEND\xaeB`\x82"
    with pytest.raises(ImageTooLargeError, match="MAX_IMAGE_PIXELS=40000000"):
        preprocess_image(png, LIMIT)
    small_limit = 50 * 50
    with pytest.raises(ImageTooLargeError, match="60x60"):
        preprocess_image(encode_image(np.zeros((60, 60), np.uint8)), small_limit)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, not an image", b"%PDF-1.4 a pdf", b"\x89PNG\r\n\x1a\ntruncated"],
    ids=["empty", "text", "pdf", "truncated-png"],
)
def test_non_images_are_refused(data):
    with pytest.raises(NotAnImageError):
        preprocess_image(data, LIMIT)


def test_truncated_image_data_is_refused(validation_images):
    jpeg = encode_image(np.tile(validation_images[0][0], (8, 8)), "JPEG")
    with pytest.raises(NotAnImageError):
        preprocess_image(jpeg[: len(jpeg) // 3], LIMIT)


@pytest.mark.parametrize("shape", [(28, 28), (200, 300), (3, 500), (1, 1)])
@pytest.mark.parametrize("value", [0, 255])
def test_blank_images_are_refused(shape, value):
    with pytest.raises(EmptyImageError, match="blank"):
        preprocess_image(encode_image(np.full(shape, value, np.uint8)), LIMIT)


def test_noisy_blank_photo_is_refused():
    rng = np.random.default_rng(0)
    page = np.clip(200 + rng.normal(0, 4, (300, 400)), 0, 255).astype(np.uint8)
    with pytest.raises(EmptyImageError):
        preprocess_image(encode_image(page, "JPEG", quality=80), LIMIT)


def test_animated_gif_uses_its_first_frame(validation_images):
    first, second = validation_images[0][0], validation_images[0][1]
    buffer = io.BytesIO()
    frames = [Image.fromarray(first), Image.fromarray(second)]
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    out = preprocess_image(buffer.getvalue(), LIMIT)
    np.testing.assert_array_equal(out, first.reshape(-1) / np.float32(255.0))


def test_small_character_in_a_large_phone_photo(engine):
    """A phone-sized JPEG (2400x1800) with the character in a small part of it."""
    items = labelled_test_images()[::5]
    correct = sum(
        read(engine, preprocess_image(pen_photo(np.asarray(Image.open(path)), seed, (2400, 1800)), LIMIT))
        == label
        for seed, (path, label) in enumerate(items)
    )
    assert correct >= 0.75 * len(items), f"{correct} of {len(items)} large photos read correctly"
