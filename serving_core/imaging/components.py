"""Connected components of a binary mask with 8-connectivity (``skimage.measure.label``, connectivity 2).

The mask is cut into runs (horizontal stretches of set pixels); runs in neighbouring rows that overlap,
diagonals included, are the same component. The runs are merged by a union-find done for all of them at
once (each root points at the smallest run it is joined to; pointer jumping flattens the trees), until
every joined pair shares its root. The components are numbered from 1 in the order of their first pixel
in raster order, which is scikit-image's numbering, so the labels are the same image.
"""

from __future__ import annotations

import numpy as np


def mask_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each run's row, first column and end column (exclusive), in raster order."""
    edges = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return rows, starts, ends


def touching_runs(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                  width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (upper, lower) of runs in consecutive rows that touch, diagonally included.

    A run [s, e) touches a run [s', e') of the next row when s' <= e and s <= e'. Keyed by row, the
    runs' starts and ends are both sorted, so each run's touching runs below form one range.
    """
    stride = width + 2
    start_keys = rows * stride + starts
    end_keys = rows * stride + ends
    below = (rows + 1) * stride
    first = np.searchsorted(end_keys, below + starts, side="left")
    last = np.searchsorted(start_keys, below + ends, side="right")
    counts = np.maximum(last - first, 0)
    upper = np.repeat(np.arange(len(rows)), counts)
    group_starts = np.repeat(np.cumsum(counts) - counts, counts)
    lower = np.repeat(first, counts) + (np.arange(counts.sum()) - group_starts)
    return upper, lower


def run_roots(count: int, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """For each run, the smallest run of its component (union-find over the touching pairs)."""
    parent = np.arange(count)
    while True:
        root_upper, root_lower = parent[upper], parent[lower]
        apart = root_upper != root_lower
        if not apart.any():
            return parent
        low = np.minimum(root_upper[apart], root_lower[apart])
        high = np.maximum(root_upper[apart], root_lower[apart])
        np.minimum.at(parent, high, low)
        while True:  # pointer jumping: every run points at its root
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


def label_components(mask: np.ndarray) -> np.ndarray:
    """Labels (int32, 0 for background) of the 8-connected components of a 2-D mask, in raster order."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    height, width = mask.shape
    labels = np.zeros(height * width, dtype=np.int32)
    rows, starts, ends = mask_runs(mask)
    if len(rows) == 0:
        return labels.reshape(height, width)
    roots = run_roots(len(rows), *touching_runs(rows, starts, ends, width))
    _, run_labels = np.unique(roots, return_inverse=True)
    lengths = ends - starts
    first_pixels = rows * width + starts
    run_of_pixel = np.repeat(np.arange(len(rows)), lengths)
    pixels = first_pixels[run_of_pixel] + (np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths,
                                                                               lengths))
    labels[pixels] = run_labels[run_of_pixel] + 1
    return labels.reshape(height, width)
