"""Bytes -> images: ``.npy`` arrays, raw uint8 or float32 pixels, and image files (through preprocessing)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emnist_contract.tensors import NUM_PIXELS, RAW_FLOAT32_BYTES, pixels_to_unit
from serving_core.errors import InvalidArgumentError
from serving_core.payloads.codecs import NPY_MAGIC, load_npy, npy_header
from serving_core.payloads.limits import RequestBudget
from serving_core.preprocessing import PreprocessingError, image_mime_type, looks_like_text, preprocess_image


def as_float32(value: Any) -> np.ndarray:
    """Nested lists of numbers -> float32 array; out-of-range numbers become inf (refused by finite())."""
    with np.errstate(over="ignore"):
        return np.array(value, dtype=np.float32)


def finite(images: np.ndarray) -> np.ndarray:
    """``images`` unchanged, or the refusal of NaN and infinite values."""
    if not np.isfinite(images).all():
        raise InvalidArgumentError("inputs contain NaN or infinite values")
    return images


def check_pixel_dtype(dtype: np.dtype, where: str) -> None:
    """Refuse element types whose scale is ambiguous: pixels are floats (pixels/255, float16, 32 or 64,
    either byte order) or uint8 (0-255)."""
    floats = dtype.kind == "f" and dtype.itemsize in (2, 4, 8)
    if not floats and not (dtype.kind == "u" and dtype.itemsize == 1):
        raise InvalidArgumentError(
            f"{where}: tensors of {dtype.name} are not accepted: send pixels/255 as floats "
            "(float16, float32 or float64) or pixels 0-255 as uint8")


def not_images(shape: tuple[int, ...] | list[int], where: str = "") -> InvalidArgumentError:
    """The refusal of a tensor whose shape holds no whole images, worded alike for every encoding."""
    prefix = f"{where}: " if where else ""
    return InvalidArgumentError(
        f"{prefix}shape {list(shape)} does not hold images of {NUM_PIXELS} pixels: send [N,{NUM_PIXELS}], "
        "[N,28,28] or [N,1,784]")


def npy_to_images(data: bytes, where: str, budget: RequestBudget) -> np.ndarray:
    """A .npy array of N images ([N,784], [N,28,28] or one [784]/[28,28]) of the pixel types
    (``check_pixel_dtype``); uint8 is divided by 255.

    The array is a view of ``data`` until its shape is known to be within ``max_instances`` images.
    """
    try:
        _, shape, _, _ = npy_header(data)
    except ValueError as exc:
        raise InvalidArgumentError(f"{where}: not a readable .npy array: {exc}") from None
    budget.check_shape(shape, NUM_PIXELS, where)  # the declared shape, before the data's length
    try:
        array = load_npy(data)
    except ValueError as exc:
        raise InvalidArgumentError(f"{where}: not a readable .npy array: {exc}") from None
    check_pixel_dtype(array.dtype, where)
    if array.dtype == np.uint8:
        array = pixels_to_unit(array)
    if array.size % NUM_PIXELS or array.size == 0:
        raise not_images(array.shape, where)
    return np.ascontiguousarray(array, dtype=np.float32).reshape(-1, NUM_PIXELS)


def bytes_to_images(data: bytes, where: str, allow_batch: bool, budget: RequestBudget) -> np.ndarray:
    """Decoded b64 data, a file or a binary body -> float32 [n,784].

    An image file (PNG, JPEG, GIF, BMP, WebP) goes through preprocessing; a .npy file is read as an
    array; raw bytes are float32 pixels/255 when their length is a multiple of 3136 (784 x 4), or
    uint8 pixels (0-255, divided by 255) when exactly 784 bytes.
    """
    if not data:
        raise InvalidArgumentError(f"{where}: empty (0 bytes)")
    if data.startswith(NPY_MAGIC):
        return npy_to_images(data, where, budget)
    if image_mime_type(data) != "application/octet-stream":
        try:
            return preprocess_image(data, budget.max_image_pixels, budget)[np.newaxis]
        except PreprocessingError as exc:
            raise type(exc)(f"{where}: {exc}") from None
        except ValueError as exc:
            raise InvalidArgumentError(f"{where}: {exc}") from None
    if len(data) == NUM_PIXELS:
        return pixels_to_unit(np.frombuffer(data, dtype=np.uint8))[np.newaxis]
    if len(data) and len(data) % RAW_FLOAT32_BYTES == 0 and (allow_batch or len(data) == RAW_FLOAT32_BYTES):
        return np.frombuffer(data, dtype="<f4").reshape(-1, NUM_PIXELS)
    kind = "text" if looks_like_text(data) else "data"
    raise InvalidArgumentError(
        f"{where}: {len(data)} bytes of {kind} that are neither an image file (PNG, JPEG, GIF, BMP, WebP), "
        f"a .npy array, {RAW_FLOAT32_BYTES} bytes of float32 pixels nor {NUM_PIXELS} bytes of uint8 pixels",
        http_status=415,
    )


def body_to_images(body: bytes, budget: RequestBudget) -> np.ndarray:
    """A whole binary request body (.npy, raw float32 pixels, or an image file) -> finite float32 [N,784]."""
    images = bytes_to_images(body, "body", allow_batch=True, budget=budget)
    budget.check_count(len(images))
    budget.check("running the model")
    return finite(images)


class BinaryBodyInputs:
    """A whole binary request body (``.npy``, raw float32 pixels, or an image file) for the default
    signature, decoded once the service asks for it."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def signature_name(self) -> str:
        return ""

    def tensor(self, signature_input: object, budget: RequestBudget) -> np.ndarray:
        return body_to_images(self.body, budget)


def files_to_images(files: Sequence[tuple[str, bytes]], budget: RequestBudget) -> np.ndarray:
    """Uploaded files (name, bytes) of a multipart form -> finite float32 [N,784]: one image per file, or
    a .npy batch; counted as files before any is decoded, and as images once they are."""
    budget.check_count(len(files))
    budget.check_image_files(len(files))
    images, total = [], 0
    for name, data in files:
        image = bytes_to_images(data, f"file {name!r}", False, budget)
        total += len(image)
        budget.check_count(total)
        images.append(image)
    return finite(np.concatenate(images))
