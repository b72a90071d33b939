"""Synthetic characters: drawn the EMNIST way, seeded per image, fonts held out by family, shipped apart."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import ImageFont

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from model_tools.data.datasets import DEFAULT_DATA_DIR, SYNTHETIC_FILE, load_split, load_synthetic
from model_tools.data.render_synthetic import render_face
from model_tools.data.synthetic import characters_of, image_rng, render_character
from model_tools.data.synthetic_fonts import FONTS, TRAIN, VALIDATION, find_font

SHIPPED = DEFAULT_DATA_DIR / SYNTHETIC_FILE
#: A font every matplotlib install carries, so these tests need no Debian font package.
DEJAVU = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


@pytest.fixture(scope="module")
def font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(DEJAVU), 150)


def test_a_character_comes_out_framed_like_emnist(font) -> None:
    image = render_character(font, "Q", image_rng(0, "DejaVuSans.ttf", 26, 0))
    assert image.dtype == np.uint8 and image.shape == (28, 28) and image.max() == 255
    rows, cols = np.flatnonzero(image.max(1) > 64), np.flatnonzero(image.max(0) > 64)
    # Cropped to the ink and centred in the 24-pixel frame (2 pixels of padding), like NIST's images.
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 >= 20
    assert image[:1].max() < 64 and image[-1:].max() < 64 and image[:, :1].max() < 64
    assert abs((rows[0] + rows[-1]) / 2 - 13.5) <= 1.5 and abs((cols[0] + cols[-1]) / 2 - 13.5) <= 1.5


def test_every_image_has_its_own_seed(font) -> None:
    same = [render_character(font, "x", image_rng(0, "DejaVuSans.ttf", 59, 1)) for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])
    other = render_character(font, "x", image_rng(0, "DejaVuSans.ttf", 59, 2))
    assert not np.array_equal(same[0], other)


def test_caps_only_fonts_draw_no_lowercase() -> None:
    glyphs = {ord(c) for c in BYCLASS_LABELS}
    assert characters_of(glyphs, caps_only=False) == list(range(NUM_CLASSES))
    assert characters_of(glyphs, caps_only=True) == list(range(36))
    assert characters_of({ord("7"), ord("q")}, caps_only=False) == [7, BYCLASS_LABELS.index("q")]


def test_fonts_are_held_out_by_family() -> None:
    held_out = {face.package for face in FONTS if face.split == VALIDATION}
    trained = {face.package for face in FONTS if face.split == TRAIN}
    assert held_out and trained and not held_out & trained
    assert {face.style for face in FONTS if face.split == VALIDATION} == {"handwriting", "regular"}
    assert len({face.file for face in FONTS}) == len(FONTS)


def test_the_shipped_file_keeps_held_out_fonts_apart() -> None:
    assert SHIPPED.stat().st_size < 5 * 1024 * 1024
    with np.load(SHIPPED) as content:
        split, font = content["split"], content["font"]
        names = [str(n) for n in content["split_names"]]
        assert [str(f) for f in content["font_files"]] == [face.file for face in FONTS]
        for index, face in enumerate(FONTS):
            assert set(split[font == index].tolist()) == {names.index(face.split)}, face.file
    for part in (TRAIN, VALIDATION):
        images, labels = load_synthetic(part)
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
        assert np.bincount(labels, minlength=NUM_CLASSES).min() > 0, part  # all 62 classes
    # The "synthetic" split is the held-out fonts; no synthetic image is a real one.
    held_images, _ = load_split("synthetic")
    np.testing.assert_array_equal(held_images, load_synthetic(VALIDATION)[0])
    real = {image.tobytes() for image in load_split("validation")[0]}
    assert not real & {image.tobytes() for image in held_images}


def test_a_face_renders_again_to_the_shipped_bytes() -> None:
    face = next(f for f in FONTS if f.file == "Humor-Sans.ttf")
    try:
        path = find_font(face)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    with np.load(SHIPPED) as content:
        chosen = content["font"] == FONTS.index(face)
        shipped_images, shipped_labels = content["images"][chosen], content["labels"][chosen]
        seed = int(str(content["recipe"]).split()[0].split("=")[1])
    images, labels = render_face(face, path, 3, seed)
    np.testing.assert_array_equal(labels, shipped_labels)
    np.testing.assert_array_equal(images, shipped_images)
