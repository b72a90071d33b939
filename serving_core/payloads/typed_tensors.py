"""Typed tensors -> model inputs: raw little-endian bytes or JSON numbers with a dtype and a shape.

The tensor protocols (GraphPipe, the Open Inference Protocol) send a tensor as a data type, a shape and
its elements (raw bytes, or numbers in JSON); these functions check the three agree and turn pixels
into the model's input, whatever the protocol. Pure functions: the request's budget is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from emnist_contract.tensors import NUM_PIXELS, pixels_to_unit
from serving_core.errors import InvalidArgumentError
from serving_core.payloads.binary import check_pixel_dtype, finite, not_images
from serving_core.payloads.limits import RequestBudget


def checked_shape(shape: Any, where: str) -> tuple[int, ...]:
    """A shape as a tuple of non-negative ints (a list of JSON numbers, a protobuf repeated field...)."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise InvalidArgumentError(f"{where}: shape must be a list of integers, got {shape!r}") from None
    for dim in dims:
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 0:
            raise InvalidArgumentError(
                f"{where}: shape {list(dims)} must hold non-negative integers")
    return tuple(int(dim) for dim in dims)


def raw_to_array(data: bytes | memoryview, dtype: np.dtype, shape: Sequence[int], where: str) -> np.ndarray:
    """Row-major little-endian bytes of a tensor -> the array (a read-only view, no copy)."""
    dims = checked_shape(shape, where)
    dtype = np.dtype(dtype).newbyteorder("<")
    count = math.prod(dims)
    expected = count * dtype.itemsize
    if len(data) != expected:
        raise InvalidArgumentError(
            f"{where}: shape {list(dims)} of {dtype.name} needs {expected} bytes of data, got {len(data)}")
    return np.frombuffer(data, dtype=dtype, count=count).reshape(dims)


def values_to_array(values: Any, dtype: np.dtype, shape: Sequence[int], where: str) -> np.ndarray:
    """A tensor's elements given as numbers (flat, or nested row-major lists) -> the array of ``shape``.

    Integers must be integers within the type's range; floats out of float32's range become inf and are
    refused later as not finite.
    """
    dims = checked_shape(shape, where)
    dtype = np.dtype(dtype)
    if not isinstance(values, list | tuple | np.ndarray):
        raise InvalidArgumentError(f"{where}: data must be a list of numbers")
    try:
        array = np.asarray(values)
    except (ValueError, TypeError, OverflowError):
        array = None
    kinds = "biuf" if dtype.kind == "f" else "iu"
    if array is None or (array.size and array.dtype.kind not in kinds):
        kind = "numbers" if dtype.kind == "f" else "integers"
        raise InvalidArgumentError(f"{where}: data must be {kind} in a regular (flat or nested) list")
    if array.size != math.prod(dims):
        raise InvalidArgumentError(
            f"{where}: shape {list(dims)} holds {math.prod(dims)} elements but data has {array.size}")
    if dtype.kind in "iu" and array.size:  # (bool has no integer range)
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidArgumentError(
                f"{where}: {dtype.name} data must be integers from {info.min} to {info.max}")
    with np.errstate(over="ignore"):
        return array.astype(dtype).reshape(dims)


def pixels_to_images(array: np.ndarray, where: str, budget: RequestBudget) -> np.ndarray:
    """A tensor of N images of 784 pixels ([N,784], [N,28,28], [N,1,784], or one [784]/[28,28]) -> [N,784].

    Floats of any width are pixels/255 (the model's scale) and become float32; uint8 are pixels 0-255
    and are divided by 255. Other element types are refused: their scale is ambiguous.
    """
    check_pixel_dtype(array.dtype, where)
    shape = list(array.shape)
    if array.ndim >= 1 and math.prod(shape[1:]) == NUM_PIXELS:
        count = shape[0]
    elif array.size == NUM_PIXELS:
        count = 1
    else:
        raise not_images(shape, where)
    budget.check_count(count)
    flat = array.reshape(count, NUM_PIXELS)
    if flat.dtype == np.uint8:
        return pixels_to_unit(flat)
    return finite(np.ascontiguousarray(flat, dtype=np.float32))
