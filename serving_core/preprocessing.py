"""Any uploaded picture of one character -> the EMNIST input the model was trained on.

EMNIST was made from NIST's 128x128 scans by (Cohen et al. 2017): Gaussian blur (sigma 1), crop to
the ink's bounding box, centre in a square frame keeping the aspect ratio, pad 2 pixels, downsample
to 28x28 bicubic. The character then fills about 24 of 28 pixels, white ink on black, with strokes
about 3.4 px wide. This module applies the same recipe to real uploads, which first need what NIST's
clean scans did not: decoding any format/colour/alpha (``serving_core.image_decoding``, with
the work of every file bounded), finding which side is ink, flattening the uneven
light of a phone photo, and bringing thin pen strokes to EMNIST's stroke width. A 28x28 image is
taken as already EMNIST-style and only turned ink-high if needed. Pillow decodes; the image operations
are ``serving_core.imaging``'s (numpy: scikit-image's results, without SciPy and scikit-image in the
serving set). Used by the UI and both APIs, so they all see the same 28x28 image.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
from PIL import Image

from emnist_contract.tensors import IMAGE_SIZE, NUM_PIXELS

# Decoding (and its errors) lives in image_decoding; they are importable from here as before.
from serving_core.image_decoding import (  # noqa: F401
    ACCEPTED_FORMATS,
    WORK_MAX_SIDE,
    DamagedImageError,
    DecodeBounds,
    EmptyFileError,
    EmptyImageError,
    ImageTooLargeError,
    NotAnImageError,
    PreprocessingError,
    decode_cost,
    decode_greyscale,
    image_mime_type,
    looks_like_text,
    open_image,
    plan_decoding,
    unreadable_image_error,
)
from serving_core.imaging.components import label_components
from serving_core.imaging.filters import gaussian, otsu_threshold
from serving_core.imaging.morphology import dilation, disk, skeletonize
from serving_core.imaging.resize import resize

#: Side of the character's square frame inside the 28x28 image (2 pixels of padding each side).
FRAME_SIZE = 24
#: Working side of the square frame for stroke-width and blur steps (4x the final frame).
WORK_FRAME = 96
#: Strokes thinner than THIN_STROKE_WIDTH (fine pen, pencil: thinner than nearly all of EMNIST's, see
#: docs/serving-api.md) are thickened to TARGET_STROKE_WIDTH, about EMNIST's typical stroke at 28x28;
#: both are given at the working scale.
THIN_STROKE_WIDTH = 2.0 * WORK_FRAME / FRAME_SIZE
TARGET_STROKE_WIDTH = 3.0 * WORK_FRAME / FRAME_SIZE
#: Ink must stand out from the paper by this much (0-1 scale) for an image not to count as empty.
MIN_INK_CONTRAST = 0.08


def ink_high(grey: np.ndarray) -> np.ndarray:
    """Turn dark-on-light into light-on-dark; the paper is the border's typical value.

    Ink is the minority whose values lie farthest from the paper: if the dark tail reaches farther
    from the border median than the bright tail, the ink is dark and the image is inverted.
    """
    height, width = grey.shape
    band = max(1, min(height, width) // 20)
    border = np.concatenate(
        [grey[:band].ravel(), grey[-band:].ravel(), grey[:, :band].ravel(), grey[:, -band:].ravel()]
    )
    paper = float(np.median(border))
    low, high = np.percentile(grey, [1, 99])
    dark_reach, bright_reach = paper - low, high - paper
    if dark_reach > bright_reach or (dark_reach == bright_reach and paper > 0.5):
        return 1.0 - grey
    return grey


def light_field(image: np.ndarray, iterations: int = 4) -> tuple[np.ndarray, float]:
    """The paper's smooth light field (a 2-D quadratic) and the noise level around it.

    A phone photo of paper is lit unevenly: a gradient or vignette can be stronger than the ink's
    contrast, so a single threshold fails. The paper's light is smooth, the ink is not: fit a quadratic
    by least squares on a coarse grid, drop the points far from the fit (ink, dark or light), refit.
    """
    height, width = image.shape
    step = max(1, max(height, width) // 64)
    grid = image[::step, ::step]
    ys, xs = np.mgrid[0 : grid.shape[0], 0 : grid.shape[1]]
    ys = ys.ravel() / max(1, grid.shape[0] - 1) - 0.5
    xs = xs.ravel() / max(1, grid.shape[1] - 1) - 0.5
    if min(grid.shape) >= 4:
        basis = np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], axis=1)
    else:  # a strip of a few pixels: a curved surface across it is not determined, fit a flat one
        basis = np.stack([np.ones_like(xs)] + [np.zeros_like(xs)] * 5, axis=1)
    values = grid.ravel().astype(np.float64)
    # Start from a flat paper at the median (the paper is most of the picture), then refine.
    coefficients = np.zeros(basis.shape[1])
    coefficients[0] = float(np.median(values))
    spread = 0.0
    for _ in range(iterations):
        residual = values - basis @ coefficients
        spread = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
        keep = np.abs(residual) < 3.0 * max(spread, 0.02)
        if keep.sum() < basis.shape[1] * 4:
            break
        kept = basis[keep]  # normal equations: a 6x6 solve, far cheaper than lstsq on the grid
        coefficients = np.linalg.solve(kept.T @ kept + 1e-9 * np.eye(basis.shape[1]), kept.T @ values[keep])
    residual = values - basis @ coefficients
    paper = np.abs(residual) < 3.0 * max(spread, 0.02)
    spread = 1.4826 * float(np.median(np.abs(residual[paper]))) if paper.any() else spread
    full_y, full_x = np.mgrid[0:height, 0:width].astype(np.float32)
    full_y = full_y / max(1, height - 1) - 0.5
    full_x = full_x / max(1, width - 1) - 0.5
    field = (
        coefficients[0] + coefficients[1] * full_x + coefficients[2] * full_y
        + coefficients[3] * full_x * full_x + coefficients[4] * full_x * full_y
        + coefficients[5] * full_y * full_y
    )
    return field.astype(np.float32), max(spread, 0.005)


def ink_from_photo(grey: np.ndarray) -> tuple[np.ndarray, float]:
    """Ink strength (>= 0, ink high) with the paper's uneven light removed; and the noise level.

    Which side is ink is decided after the light is removed: the ink is whatever stands out of the
    noise farther, darker (pen on paper) or lighter (chalk, white on black), summed over the image.
    """
    field, noise = light_field(grey)
    residual = grey - field
    beyond = 3.0 * noise
    darker = float(np.clip(-residual - beyond, 0, None).sum())
    lighter = float(np.clip(residual - beyond, 0, None).sum())
    ink = -residual if darker > lighter else residual
    return np.clip(ink, 0.0, None), noise


def ink_mask(ink: np.ndarray, noise: float = 0.0) -> np.ndarray:
    """Pixels that are ink (Otsu threshold, and well above the noise), without specks of noise."""
    if float(ink.max()) - float(np.percentile(ink, 50)) < max(MIN_INK_CONTRAST, 6 * noise):
        raise EmptyImageError("no character found: the image is blank (no ink)")
    mask = ink > max(otsu_threshold(ink), 4.0 * noise)
    labels = label_components(mask)
    if labels.max() == 0:
        raise EmptyImageError("no character found: the image is blank (no ink)")
    areas = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(areas >= max(2, 0.02 * areas.max())) + 1
    return np.isin(labels, keep)


def square_frame(image: np.ndarray, mask: np.ndarray, side: int) -> np.ndarray:
    """Crop to the mask's bounding box, centre it in a square keeping the aspect ratio, resize to side."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    crop = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = crop.shape
    length = max(height, width)
    square = np.zeros((length, length), dtype=np.float32)
    top, left = (length - height) // 2, (length - width) // 2
    square[top : top + height, left : left + width] = crop
    return resize(square, (side, side), order=3, anti_aliasing=length > side, mode="constant")


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary character: ink area over skeleton length."""
    skeleton_length = int(skeletonize(mask).sum())
    return float(mask.sum()) / skeleton_length if skeleton_length else 0.0


def emnist_from_greyscale(grey: np.ndarray) -> np.ndarray:
    """Float greyscale [H,W] in [0,1] (any polarity) -> float32 [28,28] EMNIST-style, ink high, max 1."""
    height, width = grey.shape
    scale = WORK_MAX_SIDE / max(height, width)
    if scale < 1:
        grey = resize(
            grey, (max(1, round(height * scale)), max(1, round(width * scale))), order=1, anti_aliasing=True
        )
    ink, noise = ink_from_photo(grey)
    mask = ink_mask(ink, noise)
    # Keep greyscale strokes: scale so that solid ink is 1, drop what lies outside the ink's halo.
    solid = float(np.percentile(ink[mask], 98))
    ink = np.clip(ink / max(solid, 1e-6), 0.0, 1.0)
    ink[~dilation(mask, disk(2))] = 0.0

    frame = square_frame(ink, mask, WORK_FRAME)
    frame_mask = frame > 0.5
    width_now = stroke_width(frame_mask)
    if 0 < width_now < THIN_STROKE_WIDTH:
        # Thin pen or pencil lines: thicken to EMNIST's stroke width, then re-frame the grown shape.
        radius = max(1, round((TARGET_STROKE_WIDTH - width_now) / 2))
        frame = dilation(frame, disk(radius))
        frame = square_frame(frame, frame > 0.5, WORK_FRAME)
    frame = gaussian(frame, sigma=1.0)  # NIST's blur, at about its 128-pixel scan scale
    small = resize(frame, (FRAME_SIZE, FRAME_SIZE), order=3, anti_aliasing=True)
    small = np.clip(small, 0.0, None)
    peak = float(small.max())
    if peak <= 0:
        raise EmptyImageError("no character found: the image is blank (no ink)")
    result = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    pad = (IMAGE_SIZE - FRAME_SIZE) // 2
    result[pad : pad + FRAME_SIZE, pad : pad + FRAME_SIZE] = np.clip(small / peak, 0.0, 1.0)
    return result


def preprocess_image(
    data: bytes, max_pixels: int, bounds: DecodeBounds | None = None,
    on_decoded: Callable[[Image.Image], None] | None = None,
) -> np.ndarray:
    """Image file bytes -> float32 [784] model input (upright pixels/255, ink high).

    A 28x28 image is already EMNIST-sized: its pixels pass through unchanged (inverted only if the
    ink is dark), so an EMNIST PNG gives exactly its own pixels/255. ``bounds`` bounds the decoding
    (``serving_core.image_decoding``); without them only ``max_pixels`` applies. ``on_decoded`` sees the
    decoded first frame (``decode_greyscale``).
    """
    image = open_image(data, max_pixels)
    plan_decoding(image)
    grey = decode_greyscale(image, decode_cost(image), bounds, on_decoded)
    if grey.shape == (IMAGE_SIZE, IMAGE_SIZE):
        pixels = ink_high(grey)
        if float(pixels.max()) - float(pixels.min()) < MIN_INK_CONTRAST:
            raise EmptyImageError("no character found: the image is blank (no ink)")
        return np.ascontiguousarray(pixels, dtype=np.float32).reshape(NUM_PIXELS)
    return emnist_from_greyscale(grey).reshape(NUM_PIXELS)


def png_bytes(pixels: np.ndarray) -> bytes:
    """A model input ([784] or [28,28] floats in [0,1]) as a 28x28 greyscale PNG."""
    array = np.clip(np.asarray(pixels, dtype=np.float32).reshape(IMAGE_SIZE, IMAGE_SIZE), 0.0, 1.0)
    buffer = io.BytesIO()
    Image.fromarray(np.round(array * 255).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(data: bytes, mime_type: str) -> str:
    """Inline ``data:`` URI, so the UI shows uploads without ever writing them to disk."""
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"
