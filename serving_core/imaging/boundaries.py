"""What a 1-D operation reads past the ends of a line: SciPy's boundary modes as index maps.

SciPy's filters and spline interpolation extend a line of samples ``a b c d`` by one of these rules;
here each rule maps positions outside ``0..length-1`` to the index of the sample SciPy reads there.
"""

from __future__ import annotations

import numpy as np

#: ``d c b | a b c d | c b a``: mirrored about the end samples (scikit-image's ``reflect``).
MIRROR = "mirror"
#: ``c b a | a b c d | d c b``: mirrored about the ends' outer edges (scikit-image's ``symmetric``).
REFLECT = "reflect"
#: ``a a a | a b c d | d d d``: the end samples repeated (scikit-image's ``edge``).
NEAREST = "nearest"
#: ``0 0 0 | a b c d | 0 0 0``: zeros (index ``length``, one past the end, reads a zero appended there).
CONSTANT = "constant"

MODES = (MIRROR, REFLECT, NEAREST, CONSTANT)


def extended_indices(length: int, positions: np.ndarray, mode: str) -> np.ndarray:
    """The sample index read at each integer position of a line of ``length`` samples extended by ``mode``.

    Positions repeat periodically past the first mirror image, as SciPy's extension does however far it
    reaches (a line of one sample is that sample everywhere, in every mode but ``constant``).
    """
    positions = np.asarray(positions, dtype=np.intp)
    inside = (positions >= 0) & (positions < length)
    if mode == CONSTANT:
        return np.where(inside, positions, length)
    if mode == NEAREST or length == 1:
        return np.clip(positions, 0, length - 1)
    if mode == MIRROR:
        period = 2 * (length - 1)
        folded = np.mod(positions, period)
        return np.where(folded >= length, period - folded, folded)
    if mode == REFLECT:
        period = 2 * length
        folded = np.mod(positions, period)
        return np.where(folded >= length, period - 1 - folded, folded)
    raise ValueError(f"unknown boundary mode {mode!r}: expected one of {', '.join(MODES)}")


def extend(image: np.ndarray, before: int, after: int, axis: int, mode: str) -> np.ndarray:
    """``image`` extended by ``before`` and ``after`` samples along ``axis`` (float64, as SciPy computes)."""
    length = image.shape[axis]
    source = np.asarray(image, dtype=np.float64)
    if mode == CONSTANT:
        zero_shape = list(source.shape)
        zero_shape[axis] = 1
        source = np.concatenate([source, np.zeros(zero_shape)], axis=axis)
    indices = extended_indices(length, np.arange(-before, length + after), mode)
    return np.take(source, indices, axis=axis)
