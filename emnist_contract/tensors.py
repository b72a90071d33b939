"""The model's input and output tensors: sizes and the input scaling every client and stage must apply.

Input: float32 [N, 784], each row a 28x28 image read row by row, upright (a person sees the character),
ink high (white on black), pixels/255 so that values lie in [0, 1]. Output: float32 [N, 62] softmax
scores in ByClass order (``emnist_contract.labels``).
"""

from __future__ import annotations

import numpy as np

IMAGE_SIZE = 28
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
#: The largest uint8 pixel value; the model sees pixels divided by it.
PIXEL_MAX = 255.0
#: Bytes of one image sent as raw little-endian float32 pixels.
RAW_FLOAT32_BYTES = NUM_PIXELS * 4


def pixels_to_unit(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels 0-255 -> float32 pixels/255, the model's input scale.

    Bit for bit ``pixels.astype(np.float32) / 255.0``: one definition for every place that scales pixels.
    """
    return np.divide(pixels, np.float32(PIXEL_MAX), dtype=np.float32)
