"""Decoded tensors -> the model's images: the checks every binary tensor protocol needs.

A gRPC ``TensorProto`` (or any other typed tensor) arrives as an array of some dtype and shape; this
turns it into what the engines take, float32 [N,784] pixels/255, or words the refusal. Accepted: float
pixels already scaled to [0, 1] and uint8 pixels 0-255 (divided by 255, as everywhere else), shaped
[N,784] or [N,28,28].
"""

from __future__ import annotations

import numpy as np

from emnist_contract.tensors import IMAGE_SIZE, NUM_PIXELS, pixels_to_unit
from serving_core.errors import InvalidArgumentError
from serving_core.payloads.binary import finite
from serving_core.payloads.limits import RequestLimits

IMAGE_SHAPES = f"[N,{NUM_PIXELS}] or [N,{IMAGE_SIZE},{IMAGE_SIZE}]"


def tensor_to_images(array: np.ndarray, limits: RequestLimits, where: str = "input") -> np.ndarray:
    """A decoded image tensor -> finite float32 [N,784]; ``where`` names it in every refusal."""
    shape = tuple(array.shape)
    flat = len(shape) == 2 and shape[1] == NUM_PIXELS
    square = len(shape) == 3 and shape[1:] == (IMAGE_SIZE, IMAGE_SIZE)
    if not (flat or square):
        raise InvalidArgumentError(f"{where}: expected a tensor of shape {IMAGE_SHAPES}, got {list(shape)}")
    if shape[0] == 0:
        raise InvalidArgumentError(f"{where}: the tensor holds no image (shape {list(shape)})")
    limits.check_count(shape[0])
    if array.dtype == np.uint8:
        values = pixels_to_unit(array)
    elif array.dtype.kind == "f":
        values = array
    else:
        raise InvalidArgumentError(
            f"{where}: expected float pixels scaled to [0, 1] or uint8 pixels 0-255, got dtype {array.dtype}"
        )
    return finite(np.ascontiguousarray(values, dtype=np.float32).reshape(shape[0], NUM_PIXELS))
