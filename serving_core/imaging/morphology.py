"""Disk dilation and the Zhang-Suen skeleton, as scikit-image's ``morphology`` computes them.

``dilation`` is ``skimage.morphology.dilation`` (``scipy.ndimage.grey_dilation``, boundary ``reflect``):
the maximum over the footprint around each pixel, the image extended by mirroring about its outer edges.
``skeletonize`` is ``skimage.morphology.skeletonize`` on a 2-D image (Zhang and Suen's thinning with
scikit-image's lookup table), each pass done for the whole image at once: a pass decides every pixel
from the image as the pass found it, which is what scikit-image's pixel loop does too.
"""

from __future__ import annotations

import numpy as np

#: scikit-image's thinning table (``_fast_skeletonize``): for each of the 256 neighbourhoods (bit values
#: NW 1, N 2, NE 4, E 8, SE 16, S 32, SW 64, W 128), whether the centre goes in the first pass (1), the
#: second (2), both (3) or neither (0).
THINNING_TABLE = np.array([
    0, 0, 0, 1, 0, 0, 1, 3, 0, 0, 3, 1, 1, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 3, 0, 3, 3,
    0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 2, 2,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, 0, 2, 0,
    0, 0, 3, 1, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 3, 1, 3, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 0, 1, 0, 0, 0, 0, 2, 2, 0, 0, 2, 0, 0, 0,
], dtype=np.uint8)
#: Neighbour offsets (row, column) and their bit in the table's index.
NEIGHBOUR_BITS = (((-1, -1), 1), ((-1, 0), 2), ((-1, 1), 4), ((0, 1), 8),
                  ((1, 1), 16), ((1, 0), 32), ((1, -1), 64), ((0, -1), 128))


def disk(radius: int) -> np.ndarray:
    """The disk footprint of ``skimage.morphology.disk``: the offsets at most ``radius`` from the centre."""
    offsets = np.arange(-radius, radius + 1)
    xs, ys = np.meshgrid(offsets, offsets)
    return (xs**2 + ys**2) <= radius**2


def dilation(image: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Greyscale (or binary) dilation of a 2-D image by an odd-sized ``footprint``; same shape and type."""
    image = np.asarray(image)
    footprint = np.asarray(footprint, dtype=bool)
    if image.ndim != 2 or footprint.ndim != 2 or not all(side % 2 for side in footprint.shape):
        raise ValueError(f"expected a 2-D image and an odd-sized 2-D footprint, got {image.shape} and "
                         f"{footprint.shape}")
    reach_y, reach_x = footprint.shape[0] // 2, footprint.shape[1] // 2
    padded = np.pad(image, ((reach_y, reach_y), (reach_x, reach_x)), mode="symmetric")
    height, width = image.shape
    offsets = np.argwhere(footprint)
    if len(offsets) == 0:
        raise ValueError("the footprint is empty")
    first_y, first_x = offsets[0]
    result = padded[first_y : first_y + height, first_x : first_x + width].copy()
    for dy, dx in offsets[1:]:
        np.maximum(result, padded[dy : dy + height, dx : dx + width], out=result)
    return result


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """The one-pixel-wide skeleton (bool) of a 2-D binary mask, by scikit-image's Zhang-Suen thinning."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    height, width = mask.shape
    skeleton = np.zeros((height + 2, width + 2), dtype=np.uint8)  # a border of zeros: no edge cases
    skeleton[1:-1, 1:-1] = mask
    centre = skeleton[1:-1, 1:-1]
    removed = True
    while removed:
        removed = False
        for removable in ((1, 3), (2, 3)):  # first pass, second pass
            code = np.zeros((height, width), dtype=np.intp)
            for (dy, dx), bit in NEIGHBOUR_BITS:
                code += bit * skeleton[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
            kind = THINNING_TABLE[code]
            gone = (centre == 1) & ((kind == removable[0]) | (kind == removable[1]))
            if gone.any():
                centre[gone] = 0
                removed = True
    return centre.astype(bool)
