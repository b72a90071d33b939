"""Spline resizing of a float image, as ``skimage.transform.resize`` computes it (orders 1 and 3).

scikit-image resizes with an optional Gaussian anti-aliasing blur (sigma ``(factor - 1) / 2`` per axis,
where ``factor`` is input over output size) and then ``scipy.ndimage.zoom(grid_mode=True)``: output
sample ``k`` of an axis lies at input coordinate ``(k + 0.5) * factor - 0.5`` and is interpolated by a
B-spline of the order, linear (2 samples) or cubic (4 coefficients of the spline through the samples,
which a prefilter solves for under the boundary mode). Then the result is clipped to the input's range.

Both are separable. A linear zoom is done exactly as SciPy does it (the same taps, weights and order of
float64 operations, so the same bits). A cubic zoom is one small matrix per axis, ``A @ image @ B.T``:
its prefilter is the closed form of SciPy's recursive filter (the spline's coefficients under the mirror
boundary are the samples convolved with ``-6z/(1-z^2) * z^|k|``, ``z = sqrt(3) - 2``, summed over the
mirror images), which equals it to float64 rounding, not to the bit. The products are computed tile by
tile (``tiled_product``) so that the BLAS never starts threads of its own.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from serving_core.imaging.boundaries import CONSTANT, MIRROR, extended_indices
from serving_core.imaging.filters import CHUNK_BYTES, float_image, gaussian

#: scikit-image's mode names -> the boundary SciPy applies (``constant`` is SciPy's ``grid-constant``).
RESIZE_MODES = {"reflect": MIRROR, "constant": CONSTANT}
#: Zeros SciPy pads a ``grid-constant`` line with before its cubic prefilter (``_prepad_for_spline_filter``).
CONSTANT_SPLINE_PADDING = 12
#: The cubic B-spline's pole.
CUBIC_POLE = math.sqrt(3.0) - 2.0
#: Multiply-adds of one BLAS call in ``tiled_product``: OpenBLAS (numpy's) computes a product of fewer
#: than 4 x 65536 on the calling thread, and so does any BLAS for products this small.
TILE_MULTIPLY_ADDS = 65536


def sample_coordinates(in_length: int, out_length: int) -> np.ndarray:
    """Where each output sample lies on the input axis (``grid_mode``: pixel areas, not centres, align)."""
    factor = in_length / out_length
    return (np.arange(out_length, dtype=np.float64) + 0.5) * factor - 0.5


def mirror_coordinates(coordinates: np.ndarray, length: int) -> np.ndarray:
    """Coordinates outside ``0..length-1`` folded back in by the mirror boundary, as SciPy folds them."""
    if length <= 1:
        return np.zeros_like(coordinates)
    period = 2 * length - 2
    below = period * np.trunc(-coordinates / period) + coordinates
    below = np.where(below <= 1 - length, below + period, -below)
    above = coordinates - period * np.trunc(coordinates / period)
    above = np.where(above >= length, period - above, above)
    return np.where(coordinates < 0, below, np.where(coordinates > length - 1, above, coordinates))


def spline_weights(coordinates: np.ndarray, order: int) -> np.ndarray:
    """The B-spline weights [n, order+1] of the samples from ``floor(c) - order//2`` on (SciPy's formulas)."""
    x = coordinates - np.floor(coordinates)
    if order == 1:
        first = 1.0 - x
        return np.stack([first, 1.0 - first], axis=1)
    if order == 3:
        z = 1.0 - x
        w1 = (x * x * (x - 2.0) * 3.0 + 4.0) / 6.0
        w2 = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0
        w0 = z * z * z / 6.0
        return np.stack([w0, w1, w2, ((1.0 - w0) - w1) - w2], axis=1)
    raise ValueError(f"spline order {order} is not supported: 1 (linear) or 3 (cubic)")


def spline_taps(in_length: int, out_length: int, order: int, boundary: str) -> tuple[np.ndarray, np.ndarray]:
    """Sample indices and weights [out, order+1] of one axis's zoom, as ``NI_ZoomShift`` computes them.

    The indices are into the line SciPy interpolates: for a cubic ``constant`` zoom that is the line
    padded with CONSTANT_SPLINE_PADDING zeros each side; an index one past its end reads a zero.
    """
    coordinates = sample_coordinates(in_length, out_length)
    length = in_length
    if boundary == CONSTANT:
        if order > 1:
            coordinates = coordinates + CONSTANT_SPLINE_PADDING
            length = in_length + 2 * CONSTANT_SPLINE_PADDING
    else:
        coordinates = mirror_coordinates(coordinates, length)
    starts = np.floor(coordinates).astype(np.intp) - order // 2
    indices = extended_indices(length, starts[:, None] + np.arange(order + 1), boundary)
    return indices, spline_weights(coordinates, order)


def mirror_prefilter_rows(rows: np.ndarray, length: int) -> np.ndarray:
    """Rows of the cubic prefilter matrix of a ``length``-sample line under the mirror boundary.

    The coefficients are the samples convolved with ``c0 * z^|k|`` over the line's mirror extension
    (period ``2 * (length - 1)``); summed over every image, the weight of sample ``j`` in coefficient
    ``i`` is ``c0 * (S(i - j) + S(i + j))`` (one term for the two end samples, which are their own
    mirror images), where ``S(d) = (z^d + z^(period - d)) / (1 - z^period)`` for ``d`` mod period.
    SciPy leaves a line of one sample as it is.
    """
    if length == 1:
        return np.ones((len(rows), 1))
    period = 2 * (length - 1)
    z = CUBIC_POLE
    gain = -6.0 * z / (1.0 - z * z)
    distance = np.arange(period)
    images = gain * (z**distance + z ** (period - distance)) / (1.0 - z**period)
    samples = np.arange(length)
    rows = np.asarray(rows)[:, None]
    matrix = images[np.mod(rows - samples, period)]
    interior = (samples > 0) & (samples < length - 1)
    matrix[:, interior] += images[np.mod(rows + samples[interior], period)]
    return matrix


@functools.lru_cache(maxsize=16)  # the preprocessing's last zoom is always 96 -> 24; frames vary
def cubic_zoom_matrix(in_length: int, out_length: int, boundary: str) -> np.ndarray:
    """The [out, in] matrix of one axis's cubic zoom: spline weights times the prefilter's rows."""
    indices, weights = spline_taps(in_length, out_length, 3, boundary)
    padding = CONSTANT_SPLINE_PADDING if boundary == CONSTANT else 0
    length = in_length + 2 * padding
    rows = np.concatenate([mirror_prefilter_rows(np.arange(length), length), np.zeros((1, length))])
    matrix = np.einsum("ot,oti->oi", weights, rows[indices])[:, padding : padding + in_length]
    matrix.flags.writeable = False
    return matrix


def linear_zoom(image: np.ndarray, shape: tuple[int, int], boundary: str) -> np.ndarray:
    """Linear zoom of a 2-D float image to ``shape``, with SciPy's taps and order of operations.

    Computed a few output rows at a time (CHUNK_BYTES of float64 input rows), which stay in cache.
    """
    (rows, row_weights), (cols, col_weights) = (
        spline_taps(image.shape[axis], shape[axis], 1, boundary) for axis in (0, 1))
    source = image
    if boundary == CONSTANT:  # an index one past the end reads a zero
        source = np.pad(image, ((0, 1), (0, 1)))
    result = np.empty(shape, dtype=np.float64)
    step = max(1, CHUNK_BYTES // (8 * source.shape[1]))
    for start in range(0, shape[0], step):
        stop = min(shape[0], start + step)
        chunk = result[start:stop]
        chunk[...] = 0.0
        for row_tap in (0, 1):
            tap_rows = np.take(source, rows[start:stop, row_tap], axis=0).astype(np.float64)
            for col_tap in (0, 1):
                samples = np.take(tap_rows, cols[:, col_tap], axis=1)
                samples *= row_weights[start:stop, row_tap, None]
                samples *= col_weights[None, :, col_tap]
                chunk += samples
    return result


def tiled_product(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ right`` (float64) as one stack of small products, each computed on the calling thread.

    A 96 x 400 x 400 product is large enough for OpenBLAS to split it over threads of its own; in a
    server whose cores are all busy with requests those threads only wait for a core, and the product
    takes tens of milliseconds instead of one. Square tiles of the result, each from one small product
    (np.matmul over the stack, one loop in C), keep every call under the size that starts threads.
    """
    rows, inner = left.shape
    cols = right.shape[1]
    tile = max(1, min(32, math.isqrt(TILE_MULTIPLY_ADDS // max(inner, 1))))
    row_tiles, col_tiles = -(-rows // tile), -(-cols // tile)
    padded_left = np.zeros((row_tiles * tile, inner))
    padded_left[:rows] = left
    padded_right = np.zeros((inner, col_tiles * tile))
    padded_right[:, :cols] = right
    products = np.matmul(padded_left.reshape(row_tiles, 1, tile, inner),
                         padded_right.reshape(inner, col_tiles, tile).transpose(1, 0, 2)[None])
    return products.transpose(0, 2, 1, 3).reshape(row_tiles * tile, col_tiles * tile)[:rows, :cols]


def cubic_zoom(image: np.ndarray, shape: tuple[int, int], boundary: str) -> np.ndarray:
    """Cubic spline zoom of a 2-D float image to ``shape``: one matrix per axis."""
    row_matrix = cubic_zoom_matrix(image.shape[0], shape[0], boundary)
    col_matrix = cubic_zoom_matrix(image.shape[1], shape[1], boundary)
    return tiled_product(tiled_product(row_matrix, image.astype(np.float64)), col_matrix.T)


def clip_to_input_range(image: np.ndarray, resized: np.ndarray, mode: str) -> np.ndarray:
    """Clip to the input's range, widened to the zero a ``constant`` resize reads past the edges."""
    low, high = image.min(), image.max()
    if mode == "constant" and not low <= 0 <= high and resized.min() <= 0 <= resized.max():
        low, high = min(low, image.dtype.type(0)), max(high, image.dtype.type(0))
    return np.clip(resized, low, high)


def resize(image: np.ndarray, shape: tuple[int, int], order: int, anti_aliasing: bool,
           mode: str = "reflect") -> np.ndarray:
    """A 2-D float image resized to ``shape`` (``skimage.transform.resize`` with these arguments).

    ``order`` 1 (linear) or 3 (cubic); ``mode`` scikit-image's ``reflect`` or ``constant`` (zeros);
    ``anti_aliasing`` blurs before shrinking. The result has the image's float type.
    """
    image = float_image(image)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    shape = (int(shape[0]), int(shape[1]))
    if min(shape) < 1 or min(image.shape) < 1:
        raise ValueError(f"cannot resize an image of shape {image.shape} to {shape}")
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}: expected one of {', '.join(RESIZE_MODES)}")
    if order not in (1, 3):
        raise ValueError(f"spline order {order} is not supported: 1 (linear) or 3 (cubic)")
    boundary = RESIZE_MODES[mode]
    filtered = image
    if anti_aliasing:
        factors = np.divide(image.shape, shape)
        filtered = gaussian(image, np.maximum(0, (factors - 1) / 2), mode=boundary)
    if shape == image.shape:  # SciPy's zoom by 1 returns its input
        resized = filtered.copy()
    elif order == 1:
        resized = linear_zoom(filtered, shape, boundary).astype(image.dtype)
    else:
        resized = cubic_zoom(filtered, shape, boundary).astype(image.dtype)
    return clip_to_input_range(image, resized, mode)
