"""Inputs on which ``serving_core.imaging`` is compared with scikit-image: real and awkward images.

Real: EMNIST characters (the repo's validation set and, when present, the shared EMNIST files), the
characters of test_images/, photo fixtures decoded as the server decodes them, characters drawn on a
canvas. Awkward: odd sizes, one-pixel and strip shapes, constant images, noise from fixed seeds.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from serving_core.image_decoding import decode_cost, decode_greyscale, open_image
from tests.support.paths import REPO, case_twin_test_images, encode_image, labelled_test_images
from tests.support.photos import pen_photo

#: The shared EMNIST files (data/emnist/README.md there); the tests use them when they are present.
SHARED_EMNIST = REPO.parent / "shared" / "data" / "emnist"
LIMIT = 40_000_000


@functools.cache
def emnist_characters(count: int = 48) -> tuple[np.ndarray, ...]:
    """uint8 [28,28] EMNIST characters: the repo's validation images, then the shared files' if present."""
    with np.load(REPO / "data" / "validation.npz") as data:
        images = list(data["images"][: count // 2])
    for path in sorted(SHARED_EMNIST.glob("emnist_*.npz")):
        with np.load(path) as data:
            images.extend(data["images"][:: max(1, len(data["images"]) // 8)][:8])
    return tuple(images[:count] if len(images) >= count else images)


def test_image_characters() -> list[tuple[Path, np.ndarray]]:
    """(file, uint8 [28,28]) for every image in test_images/ (and its case_twins/)."""
    return [(path, np.asarray(Image.open(path).convert("L")))
            for path, _ in [*labelled_test_images(), *case_twin_test_images()]]


def decoded(data: bytes) -> np.ndarray:
    """An image file decoded to float32 greyscale as the server decodes it."""
    image = open_image(data, LIMIT)
    return decode_greyscale(image, decode_cost(image), None)


def drawn_canvas(pixels28: np.ndarray, side: int = 280, width: int = 14) -> bytes:
    """A PNG like the page's drawing canvas: the character's strokes in black on a white square."""
    big = np.asarray(Image.fromarray(pixels28).resize((side, side), Image.BICUBIC)) > 110
    canvas = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(canvas)
    ys, xs = np.nonzero(big[::4, ::4])
    for y, x in zip(ys * 4, xs * 4, strict=True):
        draw.ellipse((x - width // 2, y - width // 2, x + width // 2, y + width // 2), fill=0)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def dark_on_paper(pixels28: np.ndarray, size: tuple[int, int], pad: tuple[int, int, int, int]) -> bytes:
    """A character enlarged to ``size`` (width, height), dark on white paper, off-centre (padding
    top, bottom, left, right), as a PNG."""
    big = np.asarray(Image.fromarray(255 - pixels28).resize(size, Image.BICUBIC))
    top, bottom, left, right = pad
    return encode_image(np.pad(big, ((top, bottom), (left, right)), constant_values=255))


@functools.cache
def upload_files() -> tuple[tuple[str, bytes], ...]:
    """(name, image file) uploads of real characters: test_images/ as they are and drawn large, photo
    fixtures of them and of EMNIST characters, canvas drawings."""
    files = []
    for index, (path, pixels) in enumerate(test_image_characters()):
        name = path.name
        files.append((name, path.read_bytes()))
        files.append((f"{name} large on paper", dark_on_paper(pixels, (300 + index % 7, 260 + index % 5),
                                                               (40, 90, 120 - index % 9, 20))))
        if index % 3 == 0:
            files.append((f"{name} photo", pen_photo(pixels, seed=index)))
        if index % 4 == 1:
            files.append((f"{name} canvas", drawn_canvas(pixels)))
    for index, pixels in enumerate(emnist_characters()[:12]):
        size = (1600, 1200) if index % 4 == 0 else (640, 480)
        files.append((f"EMNIST {index} photo {size}", pen_photo(pixels, seed=100 + index, size=size)))
    return tuple(files)


@functools.cache
def float_images() -> tuple[tuple[str, np.ndarray], ...]:
    """(name, float32 image in [0, 1]) of every kind the operations are compared on."""
    rng = np.random.default_rng(20261207)
    images: list[tuple[str, np.ndarray]] = []
    for index, pixels in enumerate(emnist_characters()[:10]):
        images.append((f"EMNIST {index}", pixels.astype(np.float32) / 255))
        size = (97 + 13 * index, 61 + 29 * index)
        enlarged = np.asarray(Image.fromarray(pixels).resize(size, Image.BICUBIC), dtype=np.float32) / 255
        images.append((f"EMNIST {index} at {size}", enlarged))
    enlarged_uploads = [(name, data) for name, data in upload_files() if not name.endswith(".png")]
    chosen = enlarged_uploads[::9]
    if not any("(1600, 1200)" in name for name, _ in chosen):
        chosen.append(next(upload for upload in enlarged_uploads if "(1600, 1200)" in upload[0]))
    for name, data in chosen:
        images.append((f"{name} decoded", decoded(data)))
    for shape in [(1, 1), (1, 2), (2, 1), (2, 2), (1, 37), (41, 1), (3, 200), (200, 3), (5, 5), (17, 29)]:
        images.append((f"noise {shape}", rng.random(shape, dtype=np.float32)))
        images.append((f"specks {shape}", (rng.random(shape) > 0.7).astype(np.float32)))
    for value in (0.0, 0.5, 1.0):
        images.append((f"constant {value}", np.full((23, 31), value, dtype=np.float32)))
    return tuple(images)


def float_image_ids() -> list[str]:
    return [name for name, _ in float_images()]


@functools.cache
def masks() -> tuple[tuple[str, np.ndarray], ...]:
    """(name, bool mask): characters' ink at several scales, photo ink, specks, strips and edge cases."""
    found: list[tuple[str, np.ndarray]] = []
    for name, image in float_images():
        if image.size > 1:
            found.append((f"{name} > 0.5", image > 0.5))
            found.append((f"{name} > 0.2", image > 0.2))
    found += [("one pixel", np.ones((1, 1), bool)), ("empty", np.zeros((9, 7), bool)),
              ("full", np.ones((12, 15), bool)), ("row", np.ones((1, 30), bool)),
              ("column", np.ones((30, 1), bool)), ("diagonal", np.eye(25, dtype=bool)),
              ("anti-diagonal", np.eye(25, dtype=bool)[::-1]),
              ("checkerboard", (np.indices((20, 21)).sum(axis=0) % 2).astype(bool))]
    return tuple(found)
