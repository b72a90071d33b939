"""What each case sends, before any protocol encodes it: image files, a pixel tensor, or a declared shape."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from tests.support.paths import encode_image
from tests.webapp.refusals import expected


@dataclass(frozen=True)
class ImageFiles:
    """Image files (PNG bytes), where the protocol takes image files."""

    files: tuple[bytes, ...]


@dataclass(frozen=True)
class Pixels:
    """A pixel tensor; ``signature`` names the signature to run ("" for the default)."""

    array: np.ndarray
    signature: str = ""


@dataclass(frozen=True)
class DeclaredShape:
    """A float32 tensor that declares ``shape`` but carries one value."""

    shape: tuple[int, ...]
    value: float = 0.5


@dataclass(frozen=True)
class Examples:
    """tf.Example records, one per row of pixels (feature ``images``): Classify's input, or serialized, the
    input of Predict on the ``classify`` signature."""

    rows: np.ndarray


Payload = ImageFiles | Pixels | DeclaredShape | Examples


def character_png(side: int) -> bytes:
    """A greyscale PNG of a white bar on black (a character the preprocessing reads), ``side`` pixels wide."""
    pixels = np.zeros((side, side), np.uint8)
    pixels[side // 5 : -side // 5, side // 2 - max(2, side // 40) : side // 2 + max(2, side // 40)] = 255
    return encode_image(pixels)


@cache
def one_image() -> np.ndarray:
    """A valid input: one 28x28 character as float32 [1,784] pixels/255."""
    pixels = np.zeros((28, 28), np.float32)
    pixels[6:22, 12:16] = 1.0
    return pixels.reshape(1, 784)


def valid() -> Pixels:
    return Pixels(one_image())


def payload(case: str) -> Payload:
    """The input of ``case`` (the cases of ``expected.EXPECTED``)."""
    if case == "too_many_image_files":
        return ImageFiles((character_png(40),) * (expected.MAX_DECODED_IMAGES + 1))
    if case == "too_many_pixels":  # each alone within the limit, together over it
        return ImageFiles((character_png(1000),) * 2)
    if case in ("expired_deadline", "deadline_while_queued"):
        return valid()
    if case == "unknown_signature":
        return Pixels(one_image(), expected.UNKNOWN_SIGNATURE)
    if case == "nan":
        return Pixels(np.full((1, 784), np.nan, np.float32))
    if case == "wrong_dtype":
        return Pixels(np.ones((1, 784), np.int32))
    if case == "wrong_shape":
        return Pixels(np.full((2, 783), 0.5, np.float32))
    if case == "too_many_instances":
        return Pixels(np.repeat(one_image(), expected.MAX_INSTANCES + 1, axis=0))
    if case == "bad_example":
        return Examples(np.full((1, 783), 0.5, np.float32))
    if case == "declared_huge_shape":
        return DeclaredShape(expected.DECLARED_HUGE_SHAPE)
    raise ValueError(f"no payload for case {case!r}")
