"""TF Serving's JSON request formats -> model inputs: rows (``instances``), columns (``inputs``), examples.

The common case is kept short: a list of N flat rows of 784 numbers becomes one float32 array in a
single C loop (``np.fromiter`` over the parsed rows), and N ``{"b64": ...}`` instances of raw pixels are
decoded and joined once; anything irregular (28x28 nested lists, image files, named inputs) goes
through the per-instance path, which also words every refusal. Only JSON numbers become pixels
(``serving_core.payloads.json_numbers``: strings, booleans, nulls and numbers no float holds are refused
in TF Serving's words).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain
from typing import Any, Protocol

import numpy as np
import orjson

from emnist_contract.signatures import EXAMPLE_FEATURE
from emnist_contract.tensors import NUM_PIXELS, pixels_to_unit
from serving_core.errors import InvalidArgumentError
from serving_core.payloads.binary import as_float32, bytes_to_images, finite, not_images
from serving_core.payloads.codecs import NPY_MAGIC, decode_base64
from serving_core.payloads.json_numbers import (
    check_numbers,
    first_non_number,
    flat_rows_types_ok,
    may_hold_non_numbers,
    refuse_overflow,
    type_error,
)
from serving_core.payloads.limits import RequestBudget
from serving_core.payloads.tf_examples import BYTES_LIST, FLOAT_LIST, feature_image, serialized_examples
from serving_core.preprocessing import image_mime_type

#: The top-level keys of a predict body that hold its tensors.
TENSOR_KEYS = ("instances", "inputs")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """orjson parse with TF Serving's error wording; the top level must be an object."""
    if not body:
        raise InvalidArgumentError("JSON Parse error: The document is empty")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgumentError(f"JSON Parse error: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidArgumentError("JSON Value: " + body[:64].decode("utf-8", "replace") + " Is not object")
    return document


def decode_b64(value: Any, where: str) -> bytes:
    """The bytes of a ``{"b64": value}`` field."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{where}: 'b64' must be a base64 string")
    try:
        return decode_base64(value)
    except ValueError:
        raise InvalidArgumentError(f"{where}: invalid base64 in 'b64'") from None


def instance_to_image(instance: Any, index: int, input_name: str, budget: RequestBudget) -> np.ndarray:
    """One row-format instance -> float32 [n,784] (n is 1 except for raw float32 b64 batches)."""
    where = f"instance {index}"
    if isinstance(instance, dict):
        if "b64" in instance:
            return bytes_to_images(decode_b64(instance["b64"], where), f"{where} (b64)", False, budget)
        if set(instance) != {input_name}:
            raise InvalidArgumentError(
                f"Failed to process element: {index} of 'instances' list. JSON object keys must be equal "
                f"to: {input_name}"
            )
        return instance_to_image(instance[input_name], index, input_name, budget)
    if not isinstance(instance, list):
        if type(instance) not in (int, float):
            raise type_error(instance)
        raise InvalidArgumentError(
            f"Failed to process element: {index} of 'instances' list: expected {NUM_PIXELS} numbers "
            "(flat or 28x28) or {\"b64\": <image file>}"
        )
    check_numbers(instance)
    try:
        array = refuse_overflow(instance, as_float32(instance))
    except (ValueError, TypeError):  # ragged nested lists
        raise InvalidArgumentError(
            f"Failed to process element: {index} of 'instances' list: expected {NUM_PIXELS} numbers "
            "(flat or 28x28) or {\"b64\": <image file>}"
        ) from None
    if array.size != NUM_PIXELS:
        raise InvalidArgumentError(
            f"Failed to process element: {index} of 'instances' list: expected {NUM_PIXELS} pixels "
            f"(flat or 28x28), got shape {list(array.shape)}"
        )
    return array.reshape(1, NUM_PIXELS)


def _flat_rows(instances: list, numbers_known: bool) -> np.ndarray | None:
    """N rows of 784 numbers as float32 [N,784] in one C loop, or None when the rows are not all that."""
    if not all(type(row) is list and len(row) == NUM_PIXELS for row in instances):
        return None
    if not numbers_known and not flat_rows_types_ok(instances):
        return None  # the per-instance path names the value in TF Serving's words
    with np.errstate(over="ignore"):  # out-of-range values become inf, refused as TF Serving does
        flat = np.fromiter(chain.from_iterable(instances), dtype=np.float32,
                           count=len(instances) * NUM_PIXELS)
    return refuse_overflow(instances, flat).reshape(len(instances), NUM_PIXELS)


def _raw_b64_rows(instances: list) -> np.ndarray | None:
    """N ``{"b64": ...}`` instances all of raw uint8 (784) or float32 (3,136) bytes, joined; else None."""
    decoded = []
    for instance in instances:
        if type(instance) is not dict or len(instance) != 1 or type(instance.get("b64")) is not str:
            return None
        try:
            decoded.append(decode_base64(instance["b64"]))
        except ValueError:
            return None
    size = len(decoded[0])
    if size not in (NUM_PIXELS, NUM_PIXELS * 4) or any(len(d) != size for d in decoded):
        return None
    if any(d.startswith(NPY_MAGIC) or image_mime_type(d) != "application/octet-stream" for d in decoded):
        return None
    raw = b"".join(decoded)
    if size == NUM_PIXELS:
        return pixels_to_unit(np.frombuffer(raw, dtype=np.uint8)).reshape(-1, NUM_PIXELS)
    return np.frombuffer(raw, dtype="<f4").reshape(-1, NUM_PIXELS)


def instances_to_images(
    instances: Any, input_name: str, budget: RequestBudget, numbers_known: bool = False
) -> np.ndarray:
    """Row format ``"instances": [...]`` -> finite float32 [N,784].

    ``numbers_known``: the caller has seen that the body holds only numbers in its tensors
    (``may_hold_non_numbers``), so the values' types need no walk.
    """
    if not isinstance(instances, list):
        raise InvalidArgumentError("Excepting 'instances' to be an list/array")
    budget.check_count(len(instances))
    first = instances[0]
    if type(first) is list:
        images = _flat_rows(instances, numbers_known)
        if images is not None:
            return finite(images)
    if not isinstance(first, dict) and (numbers_known or not first_non_number(instances)[0]):
        try:  # N 28x28 instances (or a mix of shapes), one C-level conversion
            array = as_float32(instances)
        except (ValueError, TypeError):
            array = None
        if array is not None and array.ndim >= 2 and array.size == len(instances) * NUM_PIXELS:
            return finite(refuse_overflow(instances, array).reshape(len(instances), NUM_PIXELS))
        if array is not None and array.ndim >= 2:  # regular rows of numbers, but not of images
            raise not_images(array.shape)
    else:
        images = _raw_b64_rows(instances)
        if images is not None:
            return finite(images)
    budget.check_image_files(count_image_files(instances))
    rows = [instance_to_image(item, i, input_name, budget) for i, item in enumerate(instances)]
    images = np.concatenate(rows)
    budget.check_count(len(images))
    return finite(images)


def count_image_files(instances: list) -> int:
    """How many ``{"b64": ...}`` instances hold an image file (from the first bytes of each, undecoded)."""
    count = 0
    for instance in instances:
        if isinstance(instance, dict) and isinstance(instance.get("b64"), str):
            try:
                head = decode_base64(instance["b64"][:16])
            except ValueError:
                continue
            count += image_mime_type(head) != "application/octet-stream"
    return count


def columnar_to_images(inputs: Any, input_name: str, budget: RequestBudget) -> np.ndarray:
    """Columnar ``"inputs": ...`` (a batch list, ``{"b64": ...}``, or ``{"images": ...}``) -> [N,784]."""
    if isinstance(inputs, dict) and "b64" not in inputs:
        if input_name not in inputs:
            raise InvalidArgumentError(f"Missing named input: {input_name} in 'inputs' object.")
        if len(inputs) != 1:
            extra = sorted(set(inputs) - {input_name})
            raise InvalidArgumentError(
                f"'inputs' object has unknown inputs {extra}: the signature takes {input_name}"
            )
        inputs = inputs[input_name]
    if isinstance(inputs, dict):
        if "b64" not in inputs:  # the named input's value is itself an object
            raise InvalidArgumentError(
                "'inputs' must be a list of images (784 numbers or 28x28 each) or {\"b64\": ...}")
        images = bytes_to_images(decode_b64(inputs["b64"], "inputs"), "inputs", True, budget)
    elif isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
        images = np.concatenate(
            [instance_to_image(item, i, input_name, budget) for i, item in enumerate(inputs)])
    else:
        if not isinstance(inputs, list):
            raise InvalidArgumentError("'inputs' must be a list of images (784 numbers or 28x28 each)")
        check_numbers(inputs)
        try:
            array = refuse_overflow(inputs, as_float32(inputs))
        except (ValueError, TypeError):
            raise InvalidArgumentError(
                "'inputs' must be a list of images (784 numbers or 28x28 each)") from None
        if array.size == 0 or array.size % NUM_PIXELS:
            raise not_images(array.shape, "inputs")
        images = array.reshape(-1, NUM_PIXELS)
    budget.check_count(len(images))
    return finite(images)


def predict_request_images(
    document: Mapping[str, Any], input_name: str, budget: RequestBudget, body: bytes | None = None
) -> tuple[np.ndarray, str]:
    """(images, "row" | "columnar") from a TF Serving predict body (``body``: its bytes, if at hand)."""
    has_instances, has_inputs = "instances" in document, "inputs" in document
    if has_instances and has_inputs:
        raise InvalidArgumentError(
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist")
    if has_instances:
        numbers_known = body is not None and not may_hold_non_numbers(body, document, TENSOR_KEYS)
        return instances_to_images(document["instances"], input_name, budget, numbers_known), "row"
    if has_inputs:
        return columnar_to_images(document["inputs"], input_name, budget), "columnar"
    raise InvalidArgumentError("Missing 'inputs' or 'instances' key")


def string_inputs(
    document: Mapping[str, Any], input_name: str, budget: RequestBudget
) -> tuple[np.ndarray, str]:
    """For a signature taking DT_STRING (serialized tf.Example): b64 objects or strings -> bytes array."""

    def as_bytes(value: Any, where: str) -> bytes:
        if isinstance(value, dict) and "b64" in value:
            return decode_b64(value["b64"], where)
        if isinstance(value, str):
            return value.encode("utf-8")
        raise InvalidArgumentError(f"{where}: expected a string or {{\"b64\": ...}}")

    if "instances" in document:
        values, layout = document["instances"], "row"
    elif "inputs" in document:
        values, layout = document["inputs"], "columnar"
        if isinstance(values, dict) and "b64" not in values:
            values = values.get(input_name)
    else:
        raise InvalidArgumentError("Missing 'inputs' or 'instances' key")
    if not isinstance(values, list):
        values = [values]
    budget.check_count(len(values))
    return np.array([as_bytes(v, f"instance {i}") for i, v in enumerate(values)], dtype=object), layout


def examples_to_images(examples: Any, context: Any, budget: RequestBudget) -> np.ndarray:
    """``:classify`` examples ``[{"images": [784 floats] | {"b64": image}}]`` -> [N,784] (the features of
    ``context`` are each example's too)."""
    if not isinstance(examples, list):
        raise InvalidArgumentError("Expecting 'examples' value to be an list/array")
    if not examples:
        raise InvalidArgumentError("'examples' value is an empty array")
    budget.check_count(len(examples))
    if context is not None and not isinstance(context, dict):
        raise InvalidArgumentError("'context' must be a JSON object of features")
    rows = []
    for index, example in enumerate(examples):
        if not isinstance(example, dict):
            raise InvalidArgumentError(f"Example must be JSON object but got JSON {type(example).__name__}")
        features = dict(context or {})
        overlap = set(features) & set(example)
        if overlap:
            raise InvalidArgumentError(
                f"Features {sorted(overlap)} appear in both 'context' and example {index}")
        features.update(example)
        if EXAMPLE_FEATURE not in features:
            raise InvalidArgumentError(
                f"example {index}: missing feature '{EXAMPLE_FEATURE}' ({NUM_PIXELS} floats)")
        rows.append(json_feature_image(features[EXAMPLE_FEATURE], f"example {index}", budget))
    return np.concatenate(rows)


def json_feature_image(value: Any, where: str, budget: RequestBudget) -> np.ndarray:
    """A JSON example's ``images`` feature -> float32 [1,784], read as the ``tf.Example`` feature it stands
    for: numbers (flat, or 28x28 nested) are its float_list, ``{"b64": ...}`` (alone or as a list's only
    element) its bytes_list of one image file."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        value = value[0]
    if isinstance(value, dict):
        if set(value) != {"b64"}:
            raise InvalidArgumentError(
                f"{where}: feature '{EXAMPLE_FEATURE}' object must be {{\"b64\": ...}}")
        return feature_image(BYTES_LIST, [decode_b64(value["b64"], where)], f"{where} (b64)", budget)
    if not isinstance(value, list):
        raise type_error(value)
    check_numbers(value)
    try:
        array = refuse_overflow(value, as_float32(value))
    except (ValueError, TypeError):  # ragged nested lists
        raise InvalidArgumentError(
            f"{where}: feature '{EXAMPLE_FEATURE}' must be {NUM_PIXELS} numbers (flat or 28x28)") from None
    return feature_image(FLOAT_LIST, array.reshape(-1), where, budget)


class SignatureInputInfo(Protocol):
    """What the decoder needs to know of the signature's input (the service passes its SignatureInput)."""

    name: str
    dtype: str


def signature_name_of(document: Mapping[str, Any]) -> str:
    """The ``signature_name`` a JSON body names ("" when none), refused when it is not a string."""
    signature = document.get("signature_name") or ""
    if not isinstance(signature, str):
        raise InvalidArgumentError("'signature_name' key must be a string value.")
    return signature


class JsonPredictInputs:
    """A TF Serving ``:predict`` JSON body, parsed only when the service asks (once the version is pinned).

    ``layout`` tells, after ``tensor()``, whether the body was in row (``instances``) or columnar
    (``inputs``) format: TF Serving answers in the same one.
    """

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.layout = "row"
        self._document: dict[str, Any] | None = None

    @property
    def document(self) -> dict[str, Any]:
        if self._document is None:
            self._document = parse_json_object(self.body)
        return self._document

    def signature_name(self) -> str:
        return signature_name_of(self.document)

    def tensor(self, signature_input: SignatureInputInfo, budget: RequestBudget) -> np.ndarray:
        if signature_input.dtype == "DT_STRING":
            values, self.layout = string_inputs(self.document, signature_input.name, budget)
            values = serialized_examples(values, budget)
        else:
            values, self.layout = predict_request_images(self.document, signature_input.name, budget,
                                                         self.body)
        budget.check("running the model")
        return values


class JsonExampleInputs:
    """A TF Serving ``:classify`` JSON body: ``examples`` (and ``context``), decoded for the service."""

    def __init__(self, body: bytes) -> None:
        self.document = parse_json_object(body)

    def signature_name(self) -> str:
        return signature_name_of(self.document)

    def tensor(self, signature_input: SignatureInputInfo, budget: RequestBudget) -> np.ndarray:
        if "examples" not in self.document:
            raise InvalidArgumentError(
                "When method is classify, key 'examples' is expected and was not found")
        return examples_to_images(self.document["examples"], self.document.get("context"), budget)
