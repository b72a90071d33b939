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


def extend_lines(lines: np.ndarray, before: int, after: int, mode: str) -> np.ndarray:
    """``lines`` extended by ``before`` and ``after`` samples along its first axis, as a new C-ordered
    float64 array (SciPy computes in float64): one copy of the samples, then the few extended ones."""
    length = lines.shape[0]
    extended = np.empty((before + length + after, *lines.shape[1:]), dtype=np.float64)
    extended[before : before + length] = lines
    sides = ((0, np.arange(-before, 0)), (before + length, np.arange(length, length + after)))
    for start, positions in sides:
        if len(positions) == 0:
            continue
        indices = extended_indices(length, positions, mode)
        outside = extended[start : start + len(positions)]
        if mode == CONSTANT:
            outside[...] = 0.0
        else:
            outside[...] = lines[indices]
    return extended
