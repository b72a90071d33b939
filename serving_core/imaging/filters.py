"""Gaussian blur and Otsu's threshold, computed as scikit-image computes them.

``gaussian`` is ``skimage.filters.gaussian`` (``scipy.ndimage.gaussian_filter``) on a float image: the
same kernel (truncated at ``truncate`` sigmas), the same boundary, one axis after the other with the
image's own float type in between, and each output sample summed in float64 in SciPy's order, so the
results are SciPy's to the last bit. ``otsu_threshold`` is ``skimage.filters.threshold_otsu``: the same
256-bin histogram and the same arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from serving_core.imaging.boundaries import NEAREST, extend_lines

#: SciPy skips an axis whose sigma is not above this.
SIGMA_EPSILON = 1e-15
#: Output computed at a time by ``correlate_symmetric``: a few rows that stay in cache.
CHUNK_BYTES = 1 << 17


def float_image(image: np.ndarray) -> np.ndarray:
    """``image`` itself if it is float32 or float64 (the types these operations keep), else a TypeError."""
    image = np.asarray(image)
    if image.dtype not in (np.float32, np.float64):
        raise TypeError(f"expected a float32 or float64 image, got {image.dtype}")
    return image


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The normalised 1-D Gaussian of ``sigma``, ``int(truncate * sigma + 0.5)`` samples each side."""
    radius = int(truncate * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 / (sigma * sigma) * offsets**2)
    return weights / weights.sum()


def correlate_symmetric(image: np.ndarray, kernel: np.ndarray, axis: int, mode: str,
                        dtype: np.dtype) -> np.ndarray:
    """``image`` correlated along ``axis`` with a symmetric odd ``kernel``, summed in float64 in SciPy's
    order, stored as ``dtype``.

    SciPy sums a symmetric kernel as centre * sample, then (left + right) * weight from the outermost
    pair inwards; doing the same float64 operations gives the same bits. The lines are copied with the
    axis first, and the output is computed a few rows at a time (CHUNK_BYTES of float64), which stay in
    the processor's cache while every offset of the kernel is added to them.
    """
    radius = len(kernel) // 2
    length = image.shape[axis]
    lines = extend_lines(np.moveaxis(image, axis, 0), radius, radius, mode)
    result = np.empty(image.shape, dtype=dtype)  # C order whatever the axis: the next steps read rows
    lines_out = np.moveaxis(result, axis, 0)
    rows = max(1, CHUNK_BYTES // (8 * max(1, lines[0].size)))
    total = np.empty((rows, *lines.shape[1:]))
    pair = np.empty_like(total)
    for start in range(0, length, rows):
        stop = min(length, start + rows)
        chunk, both = total[: stop - start], pair[: stop - start]
        np.multiply(lines[radius + start : radius + stop], kernel[radius], out=chunk)
        for offset in range(radius, 0, -1):
            np.add(lines[radius - offset + start : radius - offset + stop],
                   lines[radius + offset + start : radius + offset + stop], out=both)
            both *= kernel[radius - offset]
            chunk += both
        lines_out[start:stop] = chunk
    return result


def gaussian(image: np.ndarray, sigma: float | Sequence[float], mode: str = NEAREST,
             truncate: float = 4.0) -> np.ndarray:
    """Gaussian blur of a float image (``skimage.filters.gaussian``: ``mode`` is SciPy's boundary).

    ``sigma`` is one value for every axis or one per axis; the result has the image's float type.
    """
    image = float_image(image)
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (image.ndim,))
    if np.any(sigmas < 0):
        raise ValueError(f"sigma must not be negative, got {sigma}")
    result = image.copy()
    for axis, axis_sigma in enumerate(sigmas):
        if axis_sigma > SIGMA_EPSILON:
            kernel = gaussian_kernel(axis_sigma, truncate)
            result = correlate_symmetric(result, kernel, axis, mode, image.dtype)
    return result


def otsu_threshold(image: np.ndarray, bins: int = 256) -> np.floating:
    """Otsu's threshold of a float image: the histogram bin centre that best splits it in two classes.

    As ``skimage.filters.threshold_otsu``: ``bins`` bins over the image's own range (float32 counts), an
    image of one value is its own threshold, and the threshold is a numpy scalar of the bins' type.
    """
    values = float_image(image).reshape(-1)
    if values.size == 0:
        raise ValueError("Otsu's threshold of an empty image")
    first = values[0]
    if np.all(values == first):
        return first
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2.0
    counts = counts.astype(np.float32)
    weight1 = np.cumsum(counts)
    weight2 = np.cumsum(counts[::-1])[::-1]
    mean1 = np.cumsum(counts * centres) / weight1
    mean2 = (np.cumsum((counts * centres)[::-1]) / weight2[::-1])[::-1]
    between = weight1[:-1] * weight2[1:] * (mean1[:-1] - mean2[1:]) ** 2
    return centres[int(np.argmax(between))]
