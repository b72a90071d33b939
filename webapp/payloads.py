"""Request bodies -> float32 [N,784] model inputs, shared by the TF Serving routes and /predict.

The hot path is kept short: the body is read once, parsed by orjson, and a well-formed list of
instances becomes one float32 array in a single ``np.array`` call; only irregular payloads (28x28
nested lists mixed with others, ``{"b64": ...}`` objects, named inputs) go through the per-instance
path. Binary bodies (``application/octet-stream`` / ``application/x-npy``, a ``.npy`` file) skip JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
from flask import Request, current_app

from model_tools.labels import NUM_PIXELS
from webapp.errors import ApiError
from webapp.preprocessing import ImageTooLargeError, image_mime_type, preprocess_image
from webapp.tensor_codecs import NPY_MAGIC, decode_base64, load_npy

BINARY_TYPES = ("application/octet-stream", "application/x-npy", "application/npy")
# Only multipart bodies are refused on the TF Serving routes. ``curl -d`` (TF Serving's own examples)
# labels a JSON body application/x-www-form-urlencoded, and TF Serving reads it as JSON all the same.
FORM_TYPES = ("multipart/form-data",)
RAW_FLOAT32_BYTES = NUM_PIXELS * 4


def limits() -> tuple[int, int]:
    """(MAX_INSTANCES, MAX_IMAGE_PIXELS) of the current app."""
    config = current_app.config
    return int(config["MAX_INSTANCES"]), int(config["MAX_IMAGE_PIXELS"])


def read_body(request: Request) -> bytes:
    """The raw body, whatever the Content-Type (TF Serving clients often send none)."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise ApiError(f"request body is larger than the limit MAX_CONTENT_LENGTH={limit} bytes", 413)
    return request.get_data(cache=False)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """orjson parse with TF Serving's error wording; the top level must be an object."""
    if not body:
        raise ApiError("JSON Parse error: The document is empty")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"JSON Parse error: {exc}") from None
    if not isinstance(document, dict):
        raise ApiError("JSON Value: " + body[:64].decode("utf-8", "replace") + " Is not object")
    return document


def check_count(count: int) -> None:
    max_instances, _ = limits()
    if count > max_instances:
        raise ApiError(f"{count} instances in one request is over the limit MAX_INSTANCES={max_instances}")
    if count == 0:
        raise ApiError("No values in 'instances' array")


def decode_b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise ApiError(f"{where}: 'b64' must be a base64 string")
    try:
        return decode_base64(value)
    except ValueError:
        raise ApiError(f"{where}: invalid base64 in 'b64'") from None


def bytes_to_images(data: bytes, where: str, allow_batch: bool) -> np.ndarray:
    """Decoded b64 / binary data -> float32 [n,784].

    An image file (PNG, JPEG, GIF, BMP, WebP) goes through preprocessing; a .npy file is read as an
    array; raw bytes are float32 pixels/255 when their length is a multiple of 3136 (784 x 4), or
    uint8 pixels (0-255, divided by 255) when exactly 784 bytes.
    """
    if data.startswith(NPY_MAGIC):
        return npy_to_images(data, where)
    if image_mime_type(data) != "application/octet-stream":
        _, max_pixels = limits()
        try:
            return preprocess_image(data, max_pixels)[np.newaxis]
        except ImageTooLargeError as exc:
            raise ApiError(f"{where}: {exc}", 413) from None
        except ValueError as exc:
            raise ApiError(f"{where}: {exc}", getattr(exc, "status", 400)) from None
    if len(data) == NUM_PIXELS:
        return uint8_to_unit(np.frombuffer(data, dtype=np.uint8))[np.newaxis]
    if len(data) and len(data) % RAW_FLOAT32_BYTES == 0 and (allow_batch or len(data) == RAW_FLOAT32_BYTES):
        return np.frombuffer(data, dtype="<f4").reshape(-1, NUM_PIXELS)
    raise ApiError(
        f"{where}: b64 data of {len(data)} bytes is neither an image file (PNG, JPEG, GIF, BMP, WebP), "
        f"a .npy array, {RAW_FLOAT32_BYTES} bytes of float32 pixels nor {NUM_PIXELS} bytes of uint8 pixels",
        415,
    )


def uint8_to_unit(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels 0-255 -> float32 pixels/255, the model's input scale.

    Bit for bit ``pixels.astype(np.float32) / 255.0``; one place for the scaling every binary form
    (``.npy`` and b64 uint8, Flask view and fast path) shares.
    """
    return np.divide(pixels, np.float32(255.0), dtype=np.float32)


def npy_to_images(data: bytes, where: str = "body") -> np.ndarray:
    """A .npy array of N images ([N,784], [N,28,28] or one [784]/[28,28]); uint8 is divided by 255."""
    try:
        array = load_npy(data)
    except ValueError as exc:
        raise ApiError(f"{where}: not a readable .npy array: {exc}", 400) from None
    if array.dtype == np.uint8:
        array = uint8_to_unit(array)
    elif array.dtype.kind not in "fiu":
        raise ApiError(f"{where}: .npy dtype {array.dtype} is not numeric")
    if array.size % NUM_PIXELS or array.size == 0:
        raise ApiError(f"{where}: .npy array of shape {list(array.shape)} does not hold 784-pixel images")
    return np.ascontiguousarray(array, dtype=np.float32).reshape(-1, NUM_PIXELS)


def instance_to_image(instance: Any, index: int, input_name: str) -> np.ndarray:
    """One row-format instance -> float32 [n,784] (n is 1 except for raw float32 b64 batches)."""
    where = f"instance {index}"
    if isinstance(instance, dict):
        if "b64" in instance:
            return bytes_to_images(decode_b64(instance["b64"], where), where, allow_batch=False)
        if set(instance) != {input_name}:
            raise ApiError(
                f"Failed to process element: {index} of 'instances' list. JSON object keys must be equal "
                f"to: {input_name}"
            )
        return instance_to_image(instance[input_name], index, input_name)
    try:
        array = as_float32(instance)
    except (ValueError, TypeError):
        raise ApiError(
            f"Failed to process element: {index} of 'instances' list: expected {NUM_PIXELS} numbers "
            "(flat or 28x28) or {\"b64\": <image file>}"
        ) from None
    if array.size != NUM_PIXELS:
        raise ApiError(
            f"Failed to process element: {index} of 'instances' list: expected {NUM_PIXELS} pixels "
            f"(flat or 28x28), got shape {list(array.shape)}"
        )
    return array.reshape(1, NUM_PIXELS)


def instances_to_images(instances: Any, input_name: str = "images") -> np.ndarray:
    """Row format ``"instances": [...]`` -> float32 [N,784]."""
    if not isinstance(instances, list):
        raise ApiError("Excepting 'instances' to be an list/array")
    check_count(len(instances))
    first = instances[0]
    if not isinstance(first, dict):
        try:  # fast path: N flat or 28x28 instances, one C-level conversion
            array = as_float32(instances)
        except (ValueError, TypeError):
            array = None
        if array is not None and array.ndim >= 2 and array.size == len(instances) * NUM_PIXELS:
            return finite(array.reshape(len(instances), NUM_PIXELS))
    images = np.concatenate([instance_to_image(item, i, input_name) for i, item in enumerate(instances)])
    check_count(len(images))
    return finite(images)


def columnar_to_images(inputs: Any, input_name: str = "images") -> np.ndarray:
    """Columnar ``"inputs": ...`` (a batch list, ``{"b64": ...}``, or ``{"images": ...}``) -> [N,784]."""
    if isinstance(inputs, dict) and "b64" not in inputs:
        if input_name not in inputs:
            raise ApiError(f"Missing named input: {input_name} in 'inputs' object.")
        if len(inputs) != 1:
            extra = sorted(set(inputs) - {input_name})
            raise ApiError(f"'inputs' object has unknown inputs {extra}: the signature takes {input_name}")
        inputs = inputs[input_name]
    if isinstance(inputs, dict):
        images = bytes_to_images(decode_b64(inputs["b64"], "inputs"), "inputs", allow_batch=True)
    elif isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
        images = np.concatenate([instance_to_image(item, i, input_name) for i, item in enumerate(inputs)])
    else:
        try:
            array = as_float32(inputs)
        except (ValueError, TypeError):
            raise ApiError("'inputs' must be a list of images (784 numbers or 28x28 each)") from None
        if array.size == 0 or array.size % NUM_PIXELS:
            raise ApiError(
                f"'inputs' of shape {list(array.shape)} does not hold images of {NUM_PIXELS} pixels"
            )
        images = array.reshape(-1, NUM_PIXELS)
    check_count(len(images))
    return finite(images)


def as_float32(value: Any) -> np.ndarray:
    """Nested lists of numbers -> float32 array; out-of-range numbers become inf (refused by finite())."""
    with np.errstate(over="ignore"):
        return np.array(value, dtype=np.float32)


def finite(images: np.ndarray) -> np.ndarray:
    if not np.isfinite(images).all():
        raise ApiError("inputs contain NaN or infinite values")
    return images


def predict_request_images(document: Mapping[str, Any], input_name: str = "images") -> tuple[np.ndarray, str]:
    """(images, "row" | "columnar") from a TF Serving predict body."""
    has_instances, has_inputs = "instances" in document, "inputs" in document
    if has_instances and has_inputs:
        raise ApiError("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist")
    if has_instances:
        return instances_to_images(document["instances"], input_name), "row"
    if has_inputs:
        return columnar_to_images(document["inputs"], input_name), "columnar"
    raise ApiError("Missing 'inputs' or 'instances' key")


def string_inputs(document: Mapping[str, Any], input_name: str) -> tuple[np.ndarray, str]:
    """For a signature taking DT_STRING (serialized tf.Example): b64 objects or strings -> bytes array."""

    def as_bytes(value: Any, where: str) -> bytes:
        if isinstance(value, dict) and "b64" in value:
            return decode_b64(value["b64"], where)
        if isinstance(value, str):
            return value.encode("utf-8")
        raise ApiError(f"{where}: expected a string or {{\"b64\": ...}}")

    if "instances" in document:
        values, layout = document["instances"], "row"
    elif "inputs" in document:
        values, layout = document["inputs"], "columnar"
        if isinstance(values, dict) and "b64" not in values:
            values = values.get(input_name)
    else:
        raise ApiError("Missing 'inputs' or 'instances' key")
    if not isinstance(values, list):
        values = [values]
    check_count(len(values))
    return np.array([as_bytes(v, f"instance {i}") for i, v in enumerate(values)], dtype=object), layout


def examples_to_images(examples: Any, context: Any = None) -> np.ndarray:
    """``:classify`` examples ``[{"images": [784 floats] | {"b64": image}}]`` -> [N,784]."""
    if not isinstance(examples, list):
        raise ApiError("Expecting 'examples' value to be an list/array")
    if not examples:
        raise ApiError("'examples' value is an empty array")
    check_count(len(examples))
    if context is not None and not isinstance(context, dict):
        raise ApiError("'context' must be a JSON object of features")
    rows = []
    for index, example in enumerate(examples):
        if not isinstance(example, dict):
            raise ApiError(f"Example must be JSON object but got JSON {type(example).__name__}")
        features = dict(context or {})
        overlap = set(features) & set(example)
        if overlap:
            raise ApiError(f"Features {sorted(overlap)} appear in both 'context' and example {index}")
        features.update(example)
        if "images" not in features:
            raise ApiError(f"example {index}: missing feature 'images' ({NUM_PIXELS} floats)")
        rows.append(instance_to_image(features["images"], index, "images"))
    return finite(np.concatenate(rows))


def body_images(request: Request, body: bytes) -> np.ndarray | None:
    """A binary body (.npy, raw float32, or an image file) as images; None when the body is JSON."""
    mimetype = request.mimetype
    if mimetype in BINARY_TYPES or mimetype.startswith("image/") or body.startswith(NPY_MAGIC):
        images = bytes_to_images(body, "body", allow_batch=True)
        check_count(len(images))
        return finite(images)
    return None


def ensure_not_form(request: Request) -> None:
    if request.mimetype in FORM_TYPES:
        raise ApiError(
            f"Content-Type {request.mimetype} is not accepted here: send JSON (or a .npy body); "
            "file uploads go to POST /predict",
            415,
        )


def top_k(scores: Sequence[float] | np.ndarray, labels: Sequence[str], k: int) -> list[dict[str, Any]]:
    order = np.argsort(-np.asarray(scores), kind="stable")[:k]
    return [{"label": labels[i], "class_id": int(i), "probability": float(scores[i])} for i in order]
