"""Synthetic EMNIST-style characters drawn from fonts, for the classes no real image teaches.

Each character is drawn large (glyph ~150 px), its strokes brought to a random width, slanted,
stretched, turned and bent by a smooth random field like a hand's wobble, then put through the
same EMNIST recipe the server applies to uploads (:func:`serving_core.preprocessing.emnist_from_greyscale`:
crop to the ink, centre, blur, 28x28) and a last light blur that matches the softness of NIST's
scans. Every image has its own seeded generator (seed, font, class, variant), so the output does
not depend on the order or the number of worker processes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage
from skimage import morphology, transform

from emnist_contract.labels import BYCLASS_LABELS
from serving_core.preprocessing import emnist_from_greyscale

GLYPH_SIZE = 150  # font size in pixels: strokes stay many pixels wide at this scale
MARGIN = 24


@dataclass(frozen=True)
class Distortion:
    """Ranges of the per-image random drawing (uniform draws unless stated)."""

    stroke_fraction: tuple[float, float] = (0.055, 0.12)  # stroke width / longest side of the glyph
    shear: float = 0.3  # horizontal slant factor, +-
    x_scale: tuple[float, float] = (0.8, 1.15)
    rotation_degrees: float = 5.0
    wobble: float = 0.018  # std of the smooth displacement field, as a share of the glyph's side
    wobble_grid: int = 5
    final_blur: tuple[float, float] = (0.2, 0.6)  # Gaussian sigma at 28x28


def image_rng(seed: int, font_file: str, class_index: int, variant: int) -> np.random.Generator:
    """The generator of one image: stable across runs, processes and the order of the work."""
    return np.random.default_rng([seed, zlib.crc32(font_file.encode()), class_index, variant])


def draw_glyph(font: ImageFont.FreeTypeFont, char: str) -> np.ndarray | None:
    """The glyph as float ink in [0, 1], cropped to its ink plus a margin; None without ink."""
    side = GLYPH_SIZE * 3
    canvas = Image.new("L", (side, side), 0)
    ImageDraw.Draw(canvas).text((side // 2, side // 2), char, fill=255, font=font, anchor="mm")
    ink = np.asarray(canvas, dtype=np.float32) / 255.0
    rows, cols = np.flatnonzero((ink > 0.5).any(axis=1)), np.flatnonzero((ink > 0.5).any(axis=0))
    if rows.size == 0:
        return None
    return np.pad(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], MARGIN)


def pen_width(mask: np.ndarray) -> float:
    """Typical stroke width of a binary glyph: twice the median distance to the edge on its skeleton."""
    skeleton = morphology.skeletonize(mask)
    if not skeleton.any():
        return 0.0
    return 2.0 * float(np.median(ndimage.distance_transform_edt(mask)[skeleton]))


def restroke(ink: np.ndarray, rng: np.random.Generator, fraction: tuple[float, float]) -> np.ndarray:
    """Grow or thin the strokes to a random width relative to the glyph's size (a pen's width)."""
    mask = ink > 0.5
    width = pen_width(mask)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    longest = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    radius = round((rng.uniform(*fraction) * longest - width) / 2)
    if radius > 0:
        return morphology.dilation(ink, morphology.disk(radius))
    # Thin no further than a 3-pixel stroke, so no stroke breaks apart.
    radius = min(-radius, int((width - 3) // 2))
    return morphology.erosion(ink, morphology.disk(radius)) if radius > 0 else ink


def slant_and_wobble(ink: np.ndarray, rng: np.random.Generator, distortion: Distortion) -> np.ndarray:
    """A random slant, stretch and turn about the centre, then a smooth random displacement field."""
    pad = max(ink.shape) // 3
    ink = np.pad(ink, pad)
    centre = np.array(ink.shape[::-1]) / 2.0
    shape_change = transform.AffineTransform(
        shear=rng.uniform(-distortion.shear, distortion.shear),
        scale=(rng.uniform(*distortion.x_scale), 1.0),
        rotation=np.deg2rad(rng.uniform(-distortion.rotation_degrees, distortion.rotation_degrees)),
    )
    about_centre = (transform.AffineTransform(translation=-centre) + shape_change
                    + transform.AffineTransform(translation=centre))
    ink = transform.warp(ink, about_centre.inverse, order=1)
    coarse = rng.normal(0.0, distortion.wobble * max(ink.shape),
                        (2, distortion.wobble_grid, distortion.wobble_grid))
    dy = transform.resize(coarse[0], ink.shape, order=3)
    dx = transform.resize(coarse[1], ink.shape, order=3)
    yy, xx = np.mgrid[: ink.shape[0], : ink.shape[1]]
    return ndimage.map_coordinates(ink, [yy + dy, xx + dx], order=1)


def on_paper(ink: np.ndarray) -> np.ndarray:
    """Centre the character on a square sheet with room around it, like a drawing on a page: the
    recipe's paper estimate needs the paper to be most of the picture (a bare 'i' is mostly ink)."""
    side = int(1.5 * max(ink.shape))
    sheet = np.zeros((side, side), dtype=np.float32)
    top, left = (side - ink.shape[0]) // 2, (side - ink.shape[1]) // 2
    sheet[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return sheet


def render_character(font: ImageFont.FreeTypeFont, char: str, rng: np.random.Generator,
                     distortion: Distortion | None = None) -> np.ndarray | None:
    """One synthetic EMNIST image, uint8 [28, 28] upright, ink high; None when the font lacks ink."""
    distortion = distortion or Distortion()
    ink = draw_glyph(font, char)
    if ink is None:
        return None
    ink = slant_and_wobble(restroke(ink, rng, distortion.stroke_fraction), rng, distortion)
    image = ndimage.gaussian_filter(emnist_from_greyscale(on_paper(ink)), rng.uniform(*distortion.final_blur))
    return np.round(255.0 * image / max(float(image.max()), 1e-6)).astype(np.uint8)


def characters_of(font_chars: set[int], caps_only: bool) -> list[int]:
    """The ByClass classes a font can draw: glyphs it has, no lowercase for caps-only fonts."""
    return [index for index, char in enumerate(BYCLASS_LABELS)
            if ord(char) in font_chars and not (caps_only and char.islower())]
