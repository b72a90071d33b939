"""The upload preprocessing as it was with scikit-image: the reference ``serving_core.imaging`` must match.

``serving_core.preprocessing`` made these scikit-image calls before its operations moved to
``serving_core.imaging``; the steps that never used scikit-image (decoding, ``ink_high``,
``ink_from_photo``) are the serving module's own. Only the tests import this (scikit-image and SciPy
are test dependencies, not serving ones).
"""

from __future__ import annotations

import numpy as np
from skimage import filters, measure, morphology, transform

from emnist_contract.tensors import IMAGE_SIZE, NUM_PIXELS
from serving_core.preprocessing import (
    FRAME_SIZE,
    MIN_INK_CONTRAST,
    TARGET_STROKE_WIDTH,
    THIN_STROKE_WIDTH,
    WORK_FRAME,
    WORK_MAX_SIDE,
    EmptyImageError,
    decode_cost,
    decode_greyscale,
    ink_from_photo,
    ink_high,
    open_image,
    plan_decoding,
)


def ink_mask(ink: np.ndarray, noise: float = 0.0) -> np.ndarray:
    if float(ink.max()) - float(np.percentile(ink, 50)) < max(MIN_INK_CONTRAST, 6 * noise):
        raise EmptyImageError("no character found: the image is blank (no ink)")
    mask = ink > max(filters.threshold_otsu(ink), 4.0 * noise)
    labels = measure.label(mask, connectivity=2)
    if labels.max() == 0:
        raise EmptyImageError("no character found: the image is blank (no ink)")
    areas = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(areas >= max(2, 0.02 * areas.max())) + 1
    return np.isin(labels, keep)


def square_frame(image: np.ndarray, mask: np.ndarray, side: int) -> np.ndarray:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    crop = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = crop.shape
    length = max(height, width)
    square = np.zeros((length, length), dtype=np.float32)
    top, left = (length - height) // 2, (length - width) // 2
    square[top : top + height, left : left + width] = crop
    return transform.resize(square, (side, side), order=3, anti_aliasing=length > side, mode="constant")


def stroke_width(mask: np.ndarray) -> float:
    skeleton_length = int(morphology.skeletonize(mask).sum())
    return float(mask.sum()) / skeleton_length if skeleton_length else 0.0


def emnist_from_greyscale(grey: np.ndarray) -> np.ndarray:
    height, width = grey.shape
    scale = WORK_MAX_SIDE / max(height, width)
    if scale < 1:
        grey = transform.resize(
            grey, (max(1, round(height * scale)), max(1, round(width * scale))), anti_aliasing=True
        )
    ink, noise = ink_from_photo(grey)
    mask = ink_mask(ink, noise)
    solid = float(np.percentile(ink[mask], 98))
    ink = np.clip(ink / max(solid, 1e-6), 0.0, 1.0)
    ink[~morphology.dilation(mask, morphology.disk(2))] = 0.0

    frame = square_frame(ink, mask, WORK_FRAME)
    frame_mask = frame > 0.5
    width_now = stroke_width(frame_mask)
    if 0 < width_now < THIN_STROKE_WIDTH:
        radius = max(1, round((TARGET_STROKE_WIDTH - width_now) / 2))
        frame = morphology.dilation(frame, morphology.disk(radius))
        frame = square_frame(frame, frame > 0.5, WORK_FRAME)
    frame = filters.gaussian(frame, sigma=1.0)
    small = transform.resize(frame, (FRAME_SIZE, FRAME_SIZE), order=3, anti_aliasing=True)
    small = np.clip(small, 0.0, None)
    peak = float(small.max())
    if peak <= 0:
        raise EmptyImageError("no character found: the image is blank (no ink)")
    result = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    pad = (IMAGE_SIZE - FRAME_SIZE) // 2
    result[pad : pad + FRAME_SIZE, pad : pad + FRAME_SIZE] = np.clip(small / peak, 0.0, 1.0)
    return result


def preprocess_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Image file bytes -> float32 [784], as ``serving_core.preprocessing.preprocess_image`` (unbounded)."""
    image = open_image(data, max_pixels)
    plan_decoding(image)
    grey = decode_greyscale(image, decode_cost(image), None)
    if grey.shape == (IMAGE_SIZE, IMAGE_SIZE):
        pixels = ink_high(grey)
        if float(pixels.max()) - float(pixels.min()) < MIN_INK_CONTRAST:
            raise EmptyImageError("no character found: the image is blank (no ink)")
        return np.ascontiguousarray(pixels, dtype=np.float32).reshape(NUM_PIXELS)
    return emnist_from_greyscale(grey).reshape(NUM_PIXELS)
